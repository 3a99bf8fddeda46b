"""rnn-parity's own NumPy RNN: forward and hand-written BPTT. NumPy only (no torch here)."""

from .functional import RNNSpec, param_shapes
from .rnn import RNN, RNNCell

__all__ = ["RNN", "RNNCell", "RNNSpec", "param_shapes"]
