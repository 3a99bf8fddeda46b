"""The cs231n convention, BUGGY: tanh's derivative taken from the wrong state,

    da = dnext_h * (1 - prev_h ** 2)                # should be 1 - next_h ** 2

(the cache holds both; next_h = tanh(a) is the one whose derivative is wanted). The
forward is the correct one of ``cs231n_rnn``.

    --rnn-impl parity_tests.learners.cs231n_rnn_prev_h --convention cs231n
"""

import numpy as np

from .cs231n_rnn import rnn_forward, rnn_step_forward  # noqa: F401 (the module's API)


def rnn_step_backward(dnext_h, cache):
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1 - prev_h ** 2)  # the bug
    return da.dot(Wx.T), da.dot(Wh.T), x.T.dot(da), prev_h.T.dot(da), da.sum(axis=0)


def rnn_backward(dh, cache):
    N, T, H = dh.shape
    D = cache[0][0].shape[1]
    dx = np.zeros((N, T, D))
    dprev_h = np.zeros((N, H))
    dWx, dWh, db = np.zeros((D, H)), np.zeros((H, H)), np.zeros(H)
    for t in reversed(range(T)):
        dx[:, t, :], dprev_h, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t, :] + dprev_h, cache[t])
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dprev_h, dWx, dWh, db
