"""The cs231n convention, correct: written as in CS231n assignment 3 (rnn_layers.py).

    next_h = tanh(prev_h Wh + x Wx + b)        x (N, D), prev_h (N, H), Wx (D, H), Wh (H, H), b (H,)

A module of functions, plugged in as ``--rnn-impl parity_tests.learners.cs231n_rnn
--convention cs231n``:
    rnn_forward(x (N, T, D), h0 (N, H), Wx, Wh, b) -> (h (N, T, H), cache)
    rnn_backward(dh (N, T, H), cache) -> (dx (N, T, D), dh0 (N, H), dWx (D, H), dWh (H, H), db (H,))
``dh`` is the upstream gradient on every hidden state; gradients are summed over the batch.
"""

import numpy as np


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    next_h = np.tanh(prev_h.dot(Wh) + x.dot(Wx) + b)
    cache = (x, prev_h, Wx, Wh, next_h)
    return next_h, cache


def rnn_step_backward(dnext_h, cache):
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1 - next_h ** 2)  # tanh'(a) = 1 - tanh(a)^2, and next_h = tanh(a)
    dx = da.dot(Wx.T)
    dprev_h = da.dot(Wh.T)
    dWx = x.T.dot(da)
    dWh = prev_h.T.dot(da)
    db = da.sum(axis=0)
    return dx, dprev_h, dWx, dWh, db


def rnn_forward(x, h0, Wx, Wh, b):
    N, T, D = x.shape
    H = h0.shape[1]
    h = np.zeros((N, T, H))
    cache = []
    prev_h = h0
    for t in range(T):
        prev_h, step_cache = rnn_step_forward(x[:, t, :], prev_h, Wx, Wh, b)
        h[:, t, :] = prev_h
        cache.append(step_cache)
    return h, cache


def rnn_backward(dh, cache):
    N, T, H = dh.shape
    D = cache[0][0].shape[1]
    dx = np.zeros((N, T, D))
    dprev_h = np.zeros((N, H))
    dWx, dWh, db = np.zeros((D, H)), np.zeros((H, H)), np.zeros(H)
    for t in reversed(range(T)):
        # h_t feeds the loss (dh[:, t]) and the next step (dprev_h): both gradients add up.
        dx[:, t, :], dprev_h, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t, :] + dprev_h, cache[t])
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    dh0 = dprev_h
    return dx, dh0, dWx, dWh, db
