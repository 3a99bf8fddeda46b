"""Correct math in the wrong dtype, written the way public NumPy code is written.

* ``ZerosRNN`` / ``ZerosCell`` allocate every buffer and gradient with ``np.zeros(shape)``
  (float64, whatever the input): a float32 case comes back in float64, computed partly in
  float32 (``x @ W.T`` of float32 arrays) and partly in float64. The math is right, so the
  harness must accept it: a ``DtypeWarning`` for a plug-in, a failure only under
  ``--strict-dtype`` (``meta_tests/test_dtype.py``). A float64 case is float64 throughout.
* ``Float32RNN`` / ``Float32Cell`` hard-code ``dtype='f'``: a float64 case is computed in
  float32 arithmetic and returned as float32. Its values must fail the float64 budget
  (float32 rounding is ~1e9 times it) with a message saying the precision is float32's. A
  float32 case is exactly the contract and passes.

Neither writes into the caller's arrays nor returns a view of its own state.
"""

from __future__ import annotations

import numpy as np


class ZerosRNN:
    """``torch.nn.RNN``'s math (any layers, directions, batch_first, bias, tanh or relu) with
    ``np.zeros`` buffers: h_t = phi(x_t W_ih^T + h_{t-1} W_hh^T + b_ih + b_hh)."""

    BUFFER = None  # the dtype of every buffer: None is np.zeros' default, float64

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, bidirectional=False):
        self.I, self.H, self.L = input_size, hidden_size, num_layers
        self.D = 2 if bidirectional else 1
        self.nonlinearity, self.bias, self.batch_first = nonlinearity, bias, batch_first
        self.suffixes = ["", "_reverse"][: self.D]
        self.params = {}
        for k in range(num_layers):
            n_in = input_size if k == 0 else self.D * hidden_size
            for s in self.suffixes:
                self.params[f"weight_ih_l{k}{s}"] = self._zeros((hidden_size, n_in))
                self.params[f"weight_hh_l{k}{s}"] = self._zeros((hidden_size, hidden_size))
                if bias:
                    self.params[f"bias_ih_l{k}{s}"] = self._zeros(hidden_size)
                    self.params[f"bias_hh_l{k}{s}"] = self._zeros(hidden_size)
        self.grads = {}

    # Where the dtype is decided: the buffers, and (for Float32RNN) what is read in.
    def _zeros(self, shape):
        return np.zeros(shape, dtype=self.BUFFER)

    def _read(self, a):
        return a

    def _phi(self, a):
        return np.tanh(a) if self.nonlinearity == "tanh" else np.maximum(a, 0)

    def _dphi(self, a, h):
        return 1 - h**2 if self.nonlinearity == "tanh" else (a > 0)

    def forward(self, x, h0=None):
        x = self._read(x)
        if self.batch_first:
            x = x.transpose(1, 0, 2)
        T, B, _ = x.shape
        p = {k: self._read(v) for k, v in self.params.items()}
        inp, h_n, self.cache = x, self._zeros((self.L * self.D, B, self.H)), []
        for k in range(self.L):
            outs, layer = [], []
            for d, s in enumerate(self.suffixes):
                W, U = p[f"weight_ih_l{k}{s}"], p[f"weight_hh_l{k}{s}"]
                b = p[f"bias_ih_l{k}{s}"] + p[f"bias_hh_l{k}{s}"] if self.bias else 0
                h_init = self._zeros((B, self.H)) if h0 is None else self._read(h0[k * self.D + d])
                hs, pre = self._zeros((T, B, self.H)), self._zeros((T, B, self.H))
                h = h_init
                for t in range(T) if d == 0 else reversed(range(T)):
                    pre[t] = inp[t] @ W.T + h @ U.T + b
                    h = hs[t] = self._phi(pre[t])
                h_n[k * self.D + d] = h
                outs.append(hs)
                layer.append((inp, hs, pre, h_init))
            self.cache.append(layer)
            inp = np.concatenate(outs, axis=2)
        out = inp.transpose(1, 0, 2).copy() if self.batch_first else inp
        return out, h_n

    def backward(self, d_output, d_h_n=None):
        d_output = self._read(d_output)
        if self.batch_first:
            d_output = d_output.transpose(1, 0, 2)
        T, B, _ = d_output.shape
        p = {k: self._read(v) for k, v in self.params.items()}
        g = {k: self._zeros(v.shape) for k, v in p.items()}
        dh0 = self._zeros((self.L * self.D, B, self.H))
        d_above = d_output
        for k in reversed(range(self.L)):
            d_inp = None
            for d, s in enumerate(self.suffixes):
                inp, hs, pre, h_init = self.cache[k][d]
                if d_inp is None:
                    d_inp = self._zeros(inp.shape)
                W, U = p[f"weight_ih_l{k}{s}"], p[f"weight_hh_l{k}{s}"]
                dh = self._zeros((B, self.H)) if d_h_n is None else self._read(d_h_n[k * self.D + d])
                d_hs = d_above[:, :, d * self.H:(d + 1) * self.H]
                for t in reversed(range(T)) if d == 0 else range(T):
                    prev_t = t - 1 if d == 0 else t + 1
                    h_prev = hs[prev_t] if 0 <= prev_t < T else h_init
                    dh = dh + d_hs[t]
                    da = dh * self._dphi(pre[t], hs[t])
                    g[f"weight_ih_l{k}{s}"] += da.T @ inp[t]
                    g[f"weight_hh_l{k}{s}"] += da.T @ h_prev
                    if self.bias:
                        g[f"bias_ih_l{k}{s}"] += da.sum(0)
                        g[f"bias_hh_l{k}{s}"] += da.sum(0)
                    d_inp[t] += da @ W
                    dh = da @ U
                dh0[k * self.D + d] = dh
            d_above = d_inp
        self.grads = g
        dx = d_above.transpose(1, 0, 2).copy() if self.batch_first else d_above
        return dx, dh0


class Float32RNN(ZerosRNN):
    """``dtype='f'`` hard-coded: everything read in and allocated as float32."""

    BUFFER = "f"

    def _read(self, a):
        return np.asarray(a, dtype="f")


class ZerosCell:
    """``torch.nn.RNNCell``'s math with ``np.zeros`` gradients: h' = phi(x W_ih^T + h W_hh^T + b)."""

    BUFFER = None

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh"):
        self.H, self.bias, self.nonlinearity = hidden_size, bias, nonlinearity
        self.params = {"weight_ih": self._zeros((hidden_size, input_size)),
                       "weight_hh": self._zeros((hidden_size, hidden_size))}
        if bias:
            self.params.update(bias_ih=self._zeros(hidden_size), bias_hh=self._zeros(hidden_size))
        self.grads = {}

    _zeros = ZerosRNN._zeros
    _read = ZerosRNN._read
    _phi = ZerosRNN._phi
    _dphi = ZerosRNN._dphi

    def forward(self, x, h=None):
        p = {k: self._read(v) for k, v in self.params.items()}
        x = self._read(x)
        h = self._zeros((x.shape[0], self.H)) if h is None else self._read(h)
        b = p["bias_ih"] + p["bias_hh"] if self.bias else 0
        a = self._zeros((x.shape[0], self.H))
        a[:] = x @ p["weight_ih"].T + h @ p["weight_hh"].T + b
        self.cache = (x, h, a, self._phi(a))
        return self.cache[3].copy()

    def backward(self, d_h_next):
        x, h, a, h_next = self.cache
        p = {k: self._read(v) for k, v in self.params.items()}
        da = self._zeros(a.shape)
        da[:] = self._read(d_h_next) * self._dphi(a, h_next)
        self.grads = {k: self._zeros(v.shape) for k, v in p.items()}
        self.grads["weight_ih"] += da.T @ x
        self.grads["weight_hh"] += da.T @ h
        if self.bias:
            self.grads["bias_ih"] += da.sum(0)
            self.grads["bias_hh"] += da.sum(0)
        return da @ p["weight_ih"], da @ p["weight_hh"]


class Float32Cell(ZerosCell):
    """``dtype='f'`` hard-coded."""

    BUFFER = "f"
    _read = Float32RNN._read
