"""The cs231n convention, correct, with tanh written from exp and its derivative taken at
the cached pre-activation ``a`` (not from ``next_h``): another correct way to do it.

    tanh(a) = sign(a) (1 - e^{-2|a|}) / (1 + e^{-2|a|})

``e^{-2|a|}`` never overflows (|a| large gives e -> 0 and tanh -> +-1). ``1 - e`` is written
``-expm1(-2|a|)``: for small |a| the subtraction 1 - e would cancel and lose the digits of
tanh(a) ~ a, which a float64 comparison at 1000 eps notices.

Plugged in as ``--rnn-impl parity_tests.learners.cs231n_rnn_exp --convention cs231n``;
the functions' contract is that of ``cs231n_rnn``.
"""

import numpy as np


def tanh(a):
    e = np.expm1(-2 * np.abs(a))  # e^{-2|a|} - 1, in (-1, 0]
    return np.sign(a) * (-e) / (2 + e)


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    a = prev_h.dot(Wh) + x.dot(Wx) + b
    next_h = tanh(a)
    cache = (x, prev_h, Wx, Wh, a)
    return next_h, cache


def rnn_step_backward(dnext_h, cache):
    x, prev_h, Wx, Wh, a = cache
    da = dnext_h * (1 - tanh(a) ** 2)
    return da.dot(Wx.T), da.dot(Wh.T), x.T.dot(da), prev_h.T.dot(da), da.sum(axis=0)


def rnn_forward(x, h0, Wx, Wh, b):
    N, T, D = x.shape
    h = np.zeros((N, T, h0.shape[1]))
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
        dx[:, t, :], dprev_h, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t, :] + dprev_h, cache[t])
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dprev_h, dWx, dWh, db
