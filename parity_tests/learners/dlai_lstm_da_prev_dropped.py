"""``dlai_lstm`` with the mistake an early version of the notebook shipped: ``lstm_backward``
hands each step ``da[:, :, t]`` alone, without ``+ da_prevt``, so the hidden state's gradient
from the step after never reaches step t (the cell state's still does). Rejected, and named.

    rnn-parity check --lstm-impl parity_tests.learners.dlai_lstm_da_prev_dropped --convention columns
"""

import numpy as np

from .dlai_lstm import lstm_cell_backward, lstm_cell_forward, lstm_forward, sigmoid, softmax  # noqa: F401


def lstm_backward(da, caches):
    (caches, x) = caches
    n_a, m, T_x = da.shape
    n_x = x.shape[0]
    dx = np.zeros((n_x, m, T_x))
    da_prevt = np.zeros((n_a, m))
    dc_prevt = np.zeros((n_a, m))
    total = {f"d{w}{k}": np.zeros((n_a, n_a + n_x) if w == "W" else (n_a, 1)) for w in "Wb" for k in "fico"}
    for t in reversed(range(T_x)):
        gradients = lstm_cell_backward(da[:, :, t], dc_prevt, caches[t])  # the mistake: + da_prevt dropped
        da_prevt, dc_prevt = gradients["da_prev"], gradients["dc_prev"]
        dx[:, :, t] = gradients["dxt"]
        for k in total:
            total[k] += gradients[k]
    return {"dx": dx, "da0": da_prevt, **total}
