"""The cs231n convention, BUGGY: the classic mistake of rnn_backward, the gradient from the
next step is not added. Each step gets only its own upstream gradient,

    rnn_step_backward(dh[:, t, :], cache[t])        # should be dh[:, t, :] + dprev_h

so nothing flows back through time (exact only when T = 1). The forward and the step
functions are the correct ones of ``cs231n_rnn``.

    --rnn-impl parity_tests.learners.cs231n_rnn_not_carried --convention cs231n
"""

import numpy as np

from .cs231n_rnn import rnn_forward, rnn_step_backward, rnn_step_forward  # noqa: F401 (the module's API)


def rnn_backward(dh, cache):
    N, T, H = dh.shape
    D = cache[0][0].shape[1]
    dx = np.zeros((N, T, D))
    dWx, dWh, db = np.zeros((D, H)), np.zeros((H, H)), np.zeros(H)
    for t in reversed(range(T)):
        dx[:, t, :], dprev_h, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t, :], cache[t])  # the bug
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dprev_h, dWx, dWh, db
