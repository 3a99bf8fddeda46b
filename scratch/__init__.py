"""rnn-parity's own NumPy recurrent networks: forward and hand-written BPTT. NumPy only (no torch here).

    modules.py     RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell: the validating classes
    functional.py  the same as pure functions (spec, params, arrays in; arrays out)
    driver.py      the recurrence shared by every cell: layers, directions, time loop, BPTT
    parallel.py    a layer's directions and blocks of batch rows side by side, when BLAS has threads
    elman.py, lstm.py, gru.py   each cell's equations, forward and backward, side by side
    checks.py      argument checking shared by the classes
    linalg.py      matmul: a @ b, kept off a BLAS kernel that computes on uninitialized lanes
    model.py, optim.py          SequenceModel (RNN + head + loss) and the optimizers
"""

from .functional import GRUSpec, LSTMSpec, RNNSpec, param_shapes
from .modules import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

__all__ = ["RNN", "RNNCell", "LSTM", "GRU", "LSTMCell", "GRUCell", "RNNSpec", "LSTMSpec", "GRUSpec", "param_shapes"]
