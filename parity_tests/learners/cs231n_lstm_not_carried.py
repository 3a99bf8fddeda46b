"""``cs231n_lstm`` with the classic bug: ``lstm_backward`` starts every step's cell-state
gradient from zero, so dL/dc reaches each step only through h (the cell state is not carried
back through time). Forward is right; the harness must reject it and name the mistake.

    rnn-parity check --lstm-impl parity_tests.learners.cs231n_lstm_not_carried --convention cs231n
"""

import numpy as np

from .cs231n_lstm import lstm_forward, lstm_step_backward, lstm_step_forward, sigmoid  # noqa: F401


def lstm_backward(dh, cache):
    x = cache[0][0]
    N, T, H = dh.shape
    D = x.shape[1]
    dx = np.zeros((N, T, D))
    dWx = np.zeros((D, 4 * H))
    dWh = np.zeros((H, 4 * H))
    db = np.zeros(4 * H)
    dprev_h = np.zeros((N, H))
    for t in reversed(range(T)):
        dprev_c = np.zeros((N, H))  # the bug: reset every step instead of carried from step t+1
        dx_t, dprev_h, dprev_c, dWx_t, dWh_t, db_t = lstm_step_backward(dh[:, t, :] + dprev_h, dprev_c, cache[t])
        dx[:, t, :] = dx_t
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dprev_h, dWx, dWh, db
