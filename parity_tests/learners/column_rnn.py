"""Convention (a), seeds 000 and 001: column vectors, one sample at a time.

    p_t = W x_t + U h_{t-1} + b,   h_t = tanh(p_t)       W (H, I), U (H, H), b (H, 1), x_t (I, 1)

Interface the column adapter expects:
    Cls(input_size, hidden_size)            attributes W, U, b (the adapter assigns them)
    forward(xs, h0) -> hs                   xs (T, I, 1), h0 (H, 1) -> hs (T, H, 1)
    backward(dhs, dh_last) -> (dxs, dh0)    dhs (T, H, 1): dL/dh_t from outside the layer;
                                            dh_last (H, 1): dL/dh_T; sets dW, dU, db
"""

import numpy as np


class ColumnRNN:
    """Correct, written like seed 000's RNN.backward (e_h(t) carried back with U^T)."""

    def __init__(self, input_size, hidden_size):
        rng = np.random.default_rng(0)
        self.W = rng.standard_normal((hidden_size, input_size)) * 0.1
        self.U = rng.standard_normal((hidden_size, hidden_size)) * 0.1
        self.b = np.zeros((hidden_size, 1))

    def forward(self, xs, h0):
        self.xs, self.hs = xs, [h0]
        for x in xs:
            self.hs.append(np.tanh(np.dot(self.W, x) + np.dot(self.U, self.hs[-1]) + self.b))
        return np.stack(self.hs[1:])

    def dx_dh_prev(self, e_h):
        return np.dot(self.W.T, e_h), np.dot(self.U.T, e_h)

    def backward(self, dhs, dh_last):
        self.dW, self.dU, self.db = np.zeros_like(self.W), np.zeros_like(self.U), np.zeros_like(self.b)
        dxs = np.zeros_like(self.xs)
        dh_next = dh_last
        for t in reversed(range(len(self.xs))):
            dh = dhs[t] + dh_next
            e_h = dh * (1 - self.hs[t + 1] ** 2)  # tanh'(p_t) = 1 - h_t^2
            self.dW += np.dot(e_h, self.xs[t].T)
            self.dU += np.dot(e_h, self.hs[t].T)  # h(t-1)
            self.db += e_h
            dxs[t], dh_next = self.dx_dh_prev(e_h)
        return dxs, dh_next


class ColumnRNNSwapped(ColumnRNN):
    """Seed 001's bug: ``self.dx = np.dot(self.Wh.T, da)``, ``self.dh_prev = np.dot(self.Wx.T, da)``.
    Runs only when input_size == hidden_size (001 sets hidden_size = input_size)."""

    def dx_dh_prev(self, e_h):
        return np.dot(self.U.T, e_h), np.dot(self.W.T, e_h)
