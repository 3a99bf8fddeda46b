"""Convention (b), seed 003: batch-first rows.

    a_t = x_t Wx + h_{t-1} Wh + B,   h_t = tanh(a_t)     x_t (batch, I), Wx (I, H), Wh (H, H), B (H,)

Interface the rows adapter expects:
    Cls(n_features, n_nodes)                attributes Wx, Wh, B (the adapter assigns them)
    forward(X, h0) -> hs                    X (batch, T, I), h0 (batch, H) -> hs (batch, T, H)
    backward(dhs, dh_last) -> (dX, dh0)     dhs (batch, T, H), dh_last (batch, H); sets dWx, dWh, dB
"""

import numpy as np


class RowsRNN:
    """Correct, with seed 003's names and equations, gradients SUMMED over time."""

    def __init__(self, n_features, n_nodes):
        rng = np.random.default_rng(0)
        self.Wx = rng.standard_normal((n_features, n_nodes)) * 0.1
        self.Wh = rng.standard_normal((n_nodes, n_nodes)) * 0.1
        self.B = np.zeros(n_nodes)

    def forward(self, X, h0):
        self.X, self.h = X, [h0]
        for i in range(X.shape[1]):
            self.h.append(np.tanh(np.dot(X[:, i], self.Wx) + np.dot(self.h[-1], self.Wh) + self.B))
        return np.stack(self.h[1:], axis=1)

    def act_grad(self, i):
        return 1 - self.h[i + 1] ** 2  # h[i+1] = tanh(a_i): the derivative at a_i

    def combine(self, total, term):
        return total + term

    def backward(self, dhs, dh_last):
        self.dWx, self.dWh, self.dB = np.zeros_like(self.Wx), np.zeros_like(self.Wh), np.zeros_like(self.B)
        dX = np.zeros_like(self.X)
        LH_next = dh_last
        for i in reversed(range(self.X.shape[1])):
            LH = dhs[:, i] + LH_next
            HA = LH * self.act_grad(i)
            self.dB = self.combine(self.dB, HA.sum(axis=0))
            self.dWx = self.combine(self.dWx, np.dot(self.X[:, i].T, HA))
            self.dWh = self.combine(self.dWh, np.dot(self.h[i].T, HA))
            dX[:, i] = np.dot(HA, self.Wx.T)
            LH_next = np.dot(HA, self.Wh.T)
        return dX, LH_next


class RowsRNN003(RowsRNN):
    """Seed 003's backward as posted: ``HA = LH * (1 - np.tanh(self.h[i])*np.tanh(self.h[i]))``
    -- tanh applied to an h that is already tanh'd, and self.h[i] is the state BEFORE step i
    (one step early) -- and ``LWx *= ...`` (gradients multiplied over time, not summed)."""

    def act_grad(self, i):
        return 1 - np.tanh(self.h[i]) * np.tanh(self.h[i])

    def combine(self, total, term):
        return term.copy() if not total.any() else total * term
