"""Layers written the way ゼロから作るDeep Learning ❷ (Deep Learning from Scratch 2,
``common/time_layers.py``) writes them, checked with ``--convention dlfs2``:

    pytest --pyargs parity_tests --rnn-impl parity_tests.learners.dlfs2_layers:TimeRNN --convention dlfs2
    pytest --pyargs parity_tests --lstm-impl parity_tests.learners.dlfs2_layers:TimeLSTM --convention dlfs2
    pytest --pyargs parity_tests --lstm-cell-impl parity_tests.learners.dlfs2_layers:LSTM --convention dlfs2

The book's interface (weights in the constructor, ``params``/``grads`` lists filled in place,
``stateful`` with ``set_state``, ``backward(dhs)`` on every hidden state, ``self.dh`` for
dh0), written here from the equations, not copied. Row-major: x (N, D) @ Wx (D, H·k); the
LSTM's four gates side by side as f, g, i, o, one bias b.

``TimeRNN`` and ``TimeLSTM`` allocate hs and dxs in the input's dtype, so float64 cases are
checked; ``TimeRNNFloat32`` keeps the book's ``dtype='f'`` buffers, and the adapter declines
its float64 cases (``families/conventions._dlfs2_precision``). ``LSTMForgetNotCarried`` /
``TimeLSTMForgetNotCarried`` carry the cell's gradient back without the forget gate
(``dc_prev = ds``), a classic mistake the diagnosis names.
"""

import numpy as np


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


class RNN:
    """One step: h_next = tanh(h_prev Wh + x Wx + b)."""

    def __init__(self, Wx, Wh, b):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.cache = None

    def forward(self, x, h_prev):
        Wx, Wh, b = self.params
        h_next = np.tanh(h_prev @ Wh + x @ Wx + b)
        self.cache = (x, h_prev, h_next)
        return h_next

    def backward(self, dh_next):
        Wx, Wh, _ = self.params
        x, h_prev, h_next = self.cache
        da = dh_next * (1 - h_next ** 2)  # tanh' at the step's own output
        self.grads[0][...] = x.T @ da
        self.grads[1][...] = h_prev.T @ da
        self.grads[2][...] = da.sum(axis=0)
        return da @ Wx.T, da @ Wh.T


class TimeRNN:
    """T steps of ``RNN``; ``stateful`` keeps h across calls (``set_state`` sets it)."""

    Step = RNN
    buffer_dtype = None  # None: the input's dtype; the book writes 'f'

    def __init__(self, Wx, Wh, b, stateful=False):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.layers, self.h, self.dh, self.stateful = None, None, None, stateful

    def forward(self, xs):
        N, T, _ = xs.shape
        H = self.params[1].shape[0]
        dtype = self.buffer_dtype or xs.dtype
        hs = np.empty((N, T, H), dtype=dtype)
        if not self.stateful or self.h is None:
            self.h = np.zeros((N, H), dtype=dtype)
        self.layers = []
        for t in range(T):
            layer = self.Step(*self.params)
            self.h = layer.forward(xs[:, t, :], self.h)
            hs[:, t, :] = self.h
            self.layers.append(layer)
        return hs

    def backward(self, dhs):
        N, T, _ = dhs.shape
        D = self.params[0].shape[0]
        dxs = np.empty((N, T, D), dtype=self.buffer_dtype or dhs.dtype)
        dh, grads = 0, [0, 0, 0]
        for t in reversed(range(T)):
            layer = self.layers[t]
            dx, dh = layer.backward(dhs[:, t, :] + dh)  # the step's own gradient plus what came back
            dxs[:, t, :] = dx
            for i, g in enumerate(layer.grads):
                grads[i] += g  # summed over time
        for i, g in enumerate(grads):
            self.grads[i][...] = g
        self.dh = dh
        return dxs

    def set_state(self, h):
        self.h = h

    def reset_state(self):
        self.h = None


class TimeRNNFloat32(TimeRNN):
    """The book's buffers: hs, dxs (and a fresh h) in float32 whatever the input."""

    buffer_dtype = np.float32


class LSTM:
    """One step. A = x Wx + h_prev Wh + b, split f, g, i, o:
    c_next = f * c_prev + g * i,  h_next = o * tanh(c_next)."""

    def __init__(self, Wx, Wh, b):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.cache = None

    def forward(self, x, h_prev, c_prev):
        Wx, Wh, b = self.params
        H = h_prev.shape[1]
        A = x @ Wx + h_prev @ Wh + b
        f, g, i, o = sigmoid(A[:, :H]), np.tanh(A[:, H:2 * H]), sigmoid(A[:, 2 * H:3 * H]), sigmoid(A[:, 3 * H:])
        c_next = f * c_prev + g * i
        h_next = o * np.tanh(c_next)
        self.cache = (x, h_prev, c_prev, i, f, g, o, c_next)
        return h_next, c_next

    def backward(self, dh_next, dc_next):
        Wx, Wh, _ = self.params
        x, h_prev, c_prev, i, f, g, o, c_next = self.cache
        tanh_c = np.tanh(c_next)
        ds = dc_next + dh_next * o * (1 - tanh_c ** 2)  # everything reaching c_next
        dc_prev = self._carry(ds, f)
        df = ds * c_prev * f * (1 - f)  # sigmoid' = s (1 - s), taken at the gate's value
        dg = ds * i * (1 - g ** 2)
        di = ds * g * i * (1 - i)
        do = dh_next * tanh_c * o * (1 - o)
        dA = np.hstack((df, dg, di, do))  # the forward's column order
        self.grads[0][...] = x.T @ dA
        self.grads[1][...] = h_prev.T @ dA
        self.grads[2][...] = dA.sum(axis=0)
        return dA @ Wx.T, dA @ Wh.T, dc_prev

    @staticmethod
    def _carry(ds, f):
        return ds * f  # c_next = f * c_prev + ...: dc_prev = ds * f


class TimeLSTM:
    """T steps of ``LSTM``; ``set_state(h, c)``; after forward ``h`` and ``c`` are the last."""

    Step = LSTM

    def __init__(self, Wx, Wh, b, stateful=False):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.layers, self.h, self.c, self.dh, self.stateful = None, None, None, None, stateful

    def forward(self, xs):
        N, T, _ = xs.shape
        H = self.params[1].shape[0]
        hs = np.empty((N, T, H), dtype=xs.dtype)
        if not self.stateful or self.h is None:
            self.h = np.zeros((N, H), dtype=xs.dtype)
        if not self.stateful or self.c is None:
            self.c = np.zeros((N, H), dtype=xs.dtype)
        self.layers = []
        for t in range(T):
            layer = self.Step(*self.params)
            self.h, self.c = layer.forward(xs[:, t, :], self.h, self.c)
            hs[:, t, :] = self.h
            self.layers.append(layer)
        return hs

    def backward(self, dhs):
        N, T, _ = dhs.shape
        D = self.params[0].shape[0]
        dxs = np.empty((N, T, D), dtype=dhs.dtype)
        dh, dc, grads = 0, 0, [0, 0, 0]
        for t in reversed(range(T)):
            layer = self.layers[t]
            dx, dh, dc = layer.backward(dhs[:, t, :] + dh, dc)
            dxs[:, t, :] = dx
            for i, g in enumerate(layer.grads):
                grads[i] += g
        for i, g in enumerate(grads):
            self.grads[i][...] = g
        self.dh = dh
        return dxs

    def set_state(self, h, c=None):
        self.h, self.c = h, c

    def reset_state(self):
        self.h, self.c = None, None


class LSTMForgetNotCarried(LSTM):
    """dc_prev = ds: the cell's gradient carried back without the forget gate."""

    @staticmethod
    def _carry(ds, f):
        return ds


class TimeLSTMForgetNotCarried(TimeLSTM):
    Step = LSTMForgetNotCarried
