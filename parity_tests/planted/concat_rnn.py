"""Correct RNN and RNNCell written in a different style from scratch's; the suite must accept them.

Style (the learners' conventions of the seeds): column vectors, so a batch is a matrix
whose COLUMNS are samples, z_t = [x_t; h_{t-1}] stacked vertically, and one concatenated
weight W = [W_ih | W_hh] acting on it (seed 004 builds its cell from one Linear(I+H, H)):

    a_t = W z_t + b,   b = b_ih + b_hh,   h_t = phi(a_t)            a_t, h_t: (H, B)

The activation derivative is taken from the cached PRE-activation (tanh' = 1/cosh(a)^2),
not from h as scratch and torch do; it rounds differently, which checks that the
tolerance policy does not depend on copying torch's arithmetic. Gradients accumulate step
by step (no stacked products), layers and directions are explicit loops.

Each step of backward is a small method so that ``bugs.py`` can plant one mistake per
subclass by overriding exactly one of them.
"""

from __future__ import annotations

import numpy as np


class ConcatRNN:
    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, bidirectional=False):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.I, self.H, self.L = input_size, hidden_size, num_layers
        self.nonlinearity, self.bias = nonlinearity, bias
        self.batch_first, self.D = batch_first, 2 if bidirectional else 1
        rng = np.random.default_rng(0)
        self.params = {}
        for layer in range(num_layers):
            n_in = input_size if layer == 0 else self.D * hidden_size
            for sfx in self._suffixes():
                self.params[f"weight_ih_l{layer}{sfx}"] = rng.uniform(-0.1, 0.1, (hidden_size, n_in))
                self.params[f"weight_hh_l{layer}{sfx}"] = rng.uniform(-0.1, 0.1, (hidden_size, hidden_size))
                if bias:
                    self.params[f"bias_ih_l{layer}{sfx}"] = np.zeros(hidden_size)
                    self.params[f"bias_hh_l{layer}{sfx}"] = np.zeros(hidden_size)
        self.grads = {}

    def _suffixes(self):
        return ["", "_reverse"][: self.D]

    # -- the pieces of the derivation (bugs.py overrides them one at a time) ------------
    def act(self, a):
        return np.tanh(a) if self.nonlinearity == "tanh" else np.where(a > 0, a, 0 * a)

    def act_grad(self, a, h):
        """phi'(a), from the pre-activation a."""
        if self.nonlinearity == "tanh":
            return 1.0 / np.cosh(a) ** 2
        return (a > 0).astype(a.dtype)

    def total_dh(self, dy_t, dh_from_future):
        """dL/dh_t: h_t feeds the output at t and the step t+1."""
        return dy_t + dh_from_future

    def accumulate(self, total, term):
        """Gradients of shared weights add up over time steps."""
        return total + term

    def split_dz(self, da, w_ih, w_hh):
        """dz = W^T da, split into the parts for x_t and for h_{t-1}."""
        return w_ih.T @ da, w_hh.T @ da

    def carry_back(self, dh_prev, s):
        """dL/dh_(s-1) through step s, carried on to step s-1 (all of it: full BPTT)."""
        return dh_prev

    def weight_grads(self, da, x, h_prev, h_cur):
        """(dW_ih, dW_hh) of one step: da x^T and da h_{t-1}^T."""
        return da @ x.T, da @ h_prev.T

    def bias_grads(self, da):
        db = da.sum(axis=1)
        return db, db.copy()

    def scale_grads(self, grads, batch):
        return grads

    def upstream_for_direction(self, d_out_dir, reverse):
        """dL/d(output) of one direction in that direction's processing order."""
        return d_out_dir[::-1] if reverse else d_out_dir

    def d_h_n_for_layer(self, d_h_n_dir):
        return d_h_n_dir

    def initial_state(self, h0, layer, d):
        return h0[layer * self.D + d].T

    def store_output(self, out, t, step, h_new):
        """The state after processing step ``step`` belongs to time ``t`` in the output."""
        out[t] = h_new

    def grad_to_lower_layer(self, d_in, layer):
        """Layer ``layer``'s input gradient is the output gradient of layer - 1."""
        return d_in

    def forward_bias(self, b_ih, b_hh):
        """The one bias the concatenated form adds: b = b_ih + b_hh."""
        return b_ih + b_hh

    def to_time_major(self, a, T, B):
        """(B, T, ...) -> (T, B, ...) for batch_first: a transpose (``T, B``: the sizes)."""
        return np.swapaxes(a, 0, 1)

    def to_batch_major(self, a, T, B):
        """(T, B, ...) -> (B, T, ...): the transpose back."""
        return np.swapaxes(a, 0, 1)

    def output_grads(self, d_out):
        """dL/d(output) at every time step, (T, B, D*H): all of them reach backward."""
        return d_out

    def grad_initial_state(self, dh_prev, dh_first):
        """dL/dh0 is what the first processed step sends back (``dh_prev``), not the
        gradient ``dh_first`` reaching that step's own output."""
        return dh_prev

    # -- forward ---------------------------------------------------------------------
    def forward(self, x, h0=None):
        dtype = x.dtype
        xs = self.to_time_major(x, x.shape[1], x.shape[0]) if self.batch_first else x  # (T, B, I)
        T, B, _ = xs.shape
        seq = [xs[t].T for t in range(T)]  # column vectors: (I, B) per step
        if h0 is None:
            h0 = np.zeros((self.L * self.D, B, self.H), dtype=dtype)
        self.cache = []
        h_n = []
        for layer in range(self.L):
            outs = []
            for d, sfx in enumerate(self._suffixes()):
                w_ih, w_hh, b = self._weights(layer, sfx, dtype)
                order = range(T - 1, -1, -1) if d == 1 else range(T)
                h = self.initial_state(h0, layer, d)
                steps, out = [], [None] * T
                for s_idx, t in enumerate(order):
                    a = w_ih @ seq[t] + w_hh @ h + b
                    h_new = self.act(a)
                    steps.append((t, seq[t], h, a, h_new))
                    self.store_output(out, t, s_idx, h_new)
                    h = h_new
                self.cache.append((layer, d, sfx, steps))
                outs.append(out)
                h_n.append(h.T)
            seq = [np.concatenate([o[t] for o in outs], axis=0) for t in range(T)]
        output = np.stack([s.T for s in seq])  # (T, B, D*H)
        self.T, self.B, self.dtype = T, B, dtype
        if self.batch_first:
            output = self.to_batch_major(output, T, B)
        return np.ascontiguousarray(output), np.stack(h_n)

    def _weights(self, layer, sfx, dtype):
        w_ih = self.params[f"weight_ih_l{layer}{sfx}"]
        w_hh = self.params[f"weight_hh_l{layer}{sfx}"]
        if self.bias:
            b = self.forward_bias(self.params[f"bias_ih_l{layer}{sfx}"], self.params[f"bias_hh_l{layer}{sfx}"])[:, None]
        else:
            b = np.zeros((self.H, 1), dtype=dtype)
        return w_ih, w_hh, b

    # -- backward --------------------------------------------------------------------
    def direction_backward(self, steps, dys, dh_last, w_ih, w_hh, d_in):
        """BPTT of one (layer, direction): ``steps`` and ``dys`` in processing order,
        ``dh_last`` the gradient on its final state; adds dx into ``d_in`` (by time step)
        and returns (dW_ih, dW_hh, db_ih, db_hh, dL/dh0)."""
        H, dtype = self.H, self.dtype
        dw_ih, dw_hh = np.zeros_like(w_ih), np.zeros_like(w_hh)
        db_ih, db_hh = np.zeros(H, dtype=dtype), np.zeros(H, dtype=dtype)
        dh_future = dh_last
        for s in range(len(steps) - 1, -1, -1):
            t, x, h_prev, a, h_cur = steps[s]
            dh = self.total_dh(dys[s], dh_future)
            dh_first = dh
            da = dh * self.act_grad(a, h_cur)
            gw_ih, gw_hh = self.weight_grads(da, x, h_prev, h_cur)
            dw_ih = self.accumulate(dw_ih, gw_ih)
            dw_hh = self.accumulate(dw_hh, gw_hh)
            gb_ih, gb_hh = self.bias_grads(da)
            db_ih = self.accumulate(db_ih, gb_ih)
            db_hh = self.accumulate(db_hh, gb_hh)
            dx, dh_future = self.split_dz(da, w_ih, w_hh)
            dh_future = self.carry_back(dh_future, s)
            d_in[t] = d_in[t] + dx
        return dw_ih, dw_hh, db_ih, db_hh, self.grad_initial_state(dh_future, dh_first)

    def backward(self, d_output, d_h_n=None):
        T, B, H, D, dtype = self.T, self.B, self.H, self.D, self.dtype
        d_out = self.output_grads(self.to_time_major(d_output, T, B) if self.batch_first else d_output)
        if d_h_n is None:
            d_h_n = np.zeros((self.L * D, B, H), dtype=dtype)
        grads, dh0 = {}, [None] * (self.L * D)
        d_seq = [d_out[t].T for t in range(T)]  # (D*H, B) per step
        for layer in range(self.L - 1, -1, -1):
            n_in = self.I if layer == 0 else D * H
            d_in = [np.zeros((n_in, B), dtype=dtype) for _ in range(T)]
            for _, d, sfx, steps in [c for c in self.cache if c[0] == layer]:
                w_ih, w_hh, _ = self._weights(layer, sfx, dtype)
                dys = self.upstream_for_direction([g[d * H:(d + 1) * H] for g in d_seq], d == 1)
                dh_last = self.d_h_n_for_layer(d_h_n[layer * D + d].T)
                dw_ih, dw_hh, db_ih, db_hh, dh_init = self.direction_backward(steps, dys, dh_last, w_ih, w_hh, d_in)
                dh0[layer * D + d] = dh_init.T
                grads[f"weight_ih_l{layer}{sfx}"] = dw_ih
                grads[f"weight_hh_l{layer}{sfx}"] = dw_hh
                if self.bias:
                    grads[f"bias_ih_l{layer}{sfx}"] = db_ih
                    grads[f"bias_hh_l{layer}{sfx}"] = db_hh
            d_seq = [self.grad_to_lower_layer(g, layer) for g in d_in]
        self.grads = self.scale_grads(grads, B)
        dx = np.stack([g.T for g in d_seq])
        if self.batch_first:
            dx = self.to_batch_major(dx, T, B)
        return np.ascontiguousarray(dx), np.stack(dh0)


class ColumnCell:
    """RNNCell in seed 001's column-vector style (correctly: dx through W_ih, dh through W_hh)."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh"):
        self.nonlinearity, self.bias = nonlinearity, bias
        rng = np.random.default_rng(0)
        self.params = {
            "weight_ih": rng.standard_normal((hidden_size, input_size)),
            "weight_hh": rng.standard_normal((hidden_size, hidden_size)),
        }
        if bias:
            self.params.update(bias_ih=np.zeros(hidden_size), bias_hh=np.zeros(hidden_size))
        self.grads = {}

    def act_grad(self, a, h):
        return 1.0 / np.cosh(a) ** 2 if self.nonlinearity == "tanh" else (a > 0).astype(a.dtype)

    def dx_dh(self, da):
        return self.params["weight_ih"].T @ da, self.params["weight_hh"].T @ da

    def weight_grads(self, da):
        return da @ self.x.T, da @ self.h_prev.T

    def forward_bias(self, b_ih, b_hh):
        return b_ih + b_hh

    def scale_grads(self, grads, batch):
        return grads

    def forward(self, x, h=None):
        p = self.params
        self.x = x.T  # (I, B)
        self.h_prev = np.zeros((p["weight_hh"].shape[0], x.shape[0]), dtype=x.dtype) if h is None else h.T
        self.a = p["weight_ih"] @ self.x + p["weight_hh"] @ self.h_prev
        if self.bias:
            self.a = self.a + self.forward_bias(p["bias_ih"], p["bias_hh"])[:, None]
        self.h = np.tanh(self.a) if self.nonlinearity == "tanh" else np.maximum(self.a, 0)
        return self.h.T.copy()

    def backward(self, d_h_next):
        da = d_h_next.T * self.act_grad(self.a, self.h)
        g_ih, g_hh = self.weight_grads(da)
        self.grads = {"weight_ih": g_ih, "weight_hh": g_hh}
        if self.bias:
            self.grads.update(bias_ih=da.sum(axis=1), bias_hh=da.sum(axis=1))
        self.grads = self.scale_grads(self.grads, da.shape[1])
        dx, dh = self.dx_dh(da)
        return dx.T.copy(), dh.T.copy()
