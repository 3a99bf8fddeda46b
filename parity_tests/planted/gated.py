"""Correct LSTM, GRU, LSTMCell and GRUCell written differently from scratch, and planted
bugs: subclasses that override one hook each with a classic mistake (``GATED_PLANTED``).

They follow the issue-12 contract exactly (torch's names and shapes)::

    LSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
         bidirectional=False, proj_size=0)
        forward(x, hx=None) -> (output, (h_n, c_n))
        backward(d_output, d_h_n=None, d_c_n=None) -> (dx, (dh0, dc0))
    GRU(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, bidirectional=False)
        forward(x, h0=None) -> (output, h_n);  backward(d_output, d_h_n=None) -> (dx, dh0)
    LSTMCell(input_size, hidden_size, bias=True)
        forward(x, hx=None) -> (h, c);  backward(d_h, d_c=None) -> (dx, (dh, dc))
    GRUCell(input_size, hidden_size, bias=True)
        forward(x, h=None) -> h;  backward(d_h) -> (dx, dh)

``params`` / ``grads`` are keyed and shaped like ``torch.nn.<Module>.named_parameters()``;
``backward`` leaves a fresh ``grads`` dict; everything is computed in the dtype of ``x``;
unbatched input (2-D for the layers, 1-D for the cells) is accepted.

How it differs from ``scratch`` (so that it doubles as "a correct plug-in written
differently"): batches are rows, x_t (B, n_in); every gate has its OWN slice of the stacked
weights (``W[k H:(k+1) H]``, read in the order ``gate_order`` says) and its own small
products, nothing is fused; the sigmoid is 1 / (1 + exp(-a)) (written so that exp never
overflows), not tanh-based; backward walks the steps in reverse but the weight gradients
are summed AFTERWARDS, step by step in time order t = 0, 1, ..., T - 1 (scratch sums them
in one batched product); layers and directions are explicit loops.

The equations (torch's), per step, b_* = b_ih_* + b_hh_* where they only add::

  LSTM   i = s(x W_ii^T + h W_hi^T + b_i)   f = s(... f ...)   g = tanh(... g ...)
         o = s(... o ...)   c' = f c + i g   m = o tanh(c')   h' = m W_hr^T (P > 0) or m
         dm = dh' W_hr (or dh'),  dc = dc' + dm o (1 - tanh(c')^2),  dc_prev = dc f
         da_i = dc g i(1-i), da_f = dc c f(1-f), da_g = dc i (1-g^2), da_o = dm tanh(c') o(1-o)
  GRU    r = s(x W_ir^T + b_ir + h W_hr^T + b_hr)   z = s(... z ...)
         q = h W_hn^T + b_hn   n = tanh(x W_in^T + b_in + r q)   h' = (1 - z) n + z h
         dn = dh' (1 - z), dz = dh' (h - n), dh_prev = dh' z + [da_r, da_z, dq] W_hh,
         da_n = dn (1 - n^2), dq = da_n r, da_r = da_n q r(1-r), da_z = dz z(1-z)

Conventions (``families/gated_conventions.py``): ``gate_order`` is the order in which this
class reads the stacked gate rows of its own weights (torch's: "ifgo" / "rzn"), and for the
GRU ``gru_update`` is "torch" (h' = (1 - z) n + z h) or "complement" (h' = z n + (1 - z) h,
its z being torch's 1 - z). A class written in another convention is a subclass that sets
them; the adapter translates the weights.

Every step of the derivation a classic mistake can hit is a small method (a *hook*), as in
``concat_rnn.py`` / ``bugs.py`` for the RNN; ``GATED_PLANTED`` (at the end) lists the
subclasses that override one hook each, the first tensor each must be blamed for, where it
shows and why. ``meta_tests/test_gated_impl.py`` checks the correct classes and every entry
against torch directly; ``meta_tests/test_gated_planted.py`` runs them through the harness.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnn_parity.scratch.linalg import matmul as _mm  # a BLAS workaround only (its docstring)

LSTM_GATES = "ifgo"
GRU_GATES = "rzn"


def sigmoid(a: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-a)); for a < 0 as exp(a) / (1 + exp(a)) so that exp never overflows."""
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1 / (1 + e), e / (1 + e))


def _init(shapes: dict, hidden_size: int, dtype=np.float64) -> dict:
    rng = np.random.default_rng(0)
    k = 1 / np.sqrt(hidden_size)
    return {name: rng.uniform(-k, k, shape).astype(dtype) for name, shape in shapes.items()}


# =======================================================================================
# The equations of one step, with their hooks (shared by the layer and the cell).
# A step's weights ``w`` are per gate: w["ih"][g] (H, n_in), w["hh"][g] (H, R),
# w["bih"][g], w["bhh"][g] (H,) or None without bias, w["hr"] (P, H) or None.
# =======================================================================================
class _Slices:
    gate_order: str

    def gate_rows(self, stacked: np.ndarray) -> dict:
        """The stacked (G*H, ...) rows as one slice per gate, in this class's ``gate_order``."""
        H = stacked.shape[0] // len(self.gate_order)
        return {g: stacked[k * H:(k + 1) * H] for k, g in enumerate(self.gate_order)}

    def stack_rows(self, parts: dict) -> np.ndarray:
        return np.concatenate([parts[g] for g in self.gate_order], axis=0)

    def step_weights(self, params: dict, suffix: str, dtype) -> dict:
        p = params
        # Our own copies (np.array), so the tape never sees a later write into params.
        w = {"ih": self.gate_rows(np.array(p[f"weight_ih{suffix}"], dtype=dtype)),
             "hh": self.gate_rows(np.array(p[f"weight_hh{suffix}"], dtype=dtype)),
             "bih": None, "bhh": None, "hr": None}
        if self.bias:
            w["bih"] = self.gate_rows(np.array(p[f"bias_ih{suffix}"], dtype=dtype))
            w["bhh"] = self.gate_rows(np.array(p[f"bias_hh{suffix}"], dtype=dtype))
        if getattr(self, "proj_size", 0):
            w["hr"] = np.array(p[f"weight_hr{suffix}"], dtype=dtype)
        return w

    def preact(self, w, g, x, h):
        """x W_ig^T + h W_hg^T + b_ig + b_hg for gate g."""
        a = _mm(x, w["ih"][g].T) + _mm(h, w["hh"][g].T)
        if w["bih"] is not None:
            a = a + w["bih"][g] + w["bhh"][g]
        return a

    # hooks shared by both families
    def sig_grad(self, a, s):
        """sigmoid'(a), read from s = sigmoid(a): s (1 - s)."""
        return s * (1 - s)

    def gate_sig_grad(self, gate, a, s):
        """sigmoid' of one gate (i, f, o; r, z): the shared ``sig_grad``, a hook per gate."""
        return self.sig_grad(a, s)

    def candidate_grad(self, t, a):
        """tanh' of the candidate (the LSTM's g, the GRU's n), read from t = tanh(a): 1 - t^2
        (``a``, the pre-activation, for a mistake that reads it)."""
        return 1 - t * t

    def input_grads(self, w, da: dict, dq: dict):
        """dx = sum_g da_g W_ig and dh = sum_g dq_g W_hg (dq: the gradient of each gate's
        recurrent product; da_g for the LSTM and for the GRU's r, z)."""
        dx = sum(_mm(da[g], w["ih"][g]) for g in self.gate_order)
        dh = sum(_mm(dq[g], w["hh"][g]) for g in self.gate_order)
        return dx, dh

    def weight_contrib(self, w, x, h_prev, da: dict, dq: dict) -> dict:
        """One step's share of every weight gradient (summed over time afterwards)."""
        out = {}
        for g in self.gate_order:
            out["ih", g] = _mm(da[g].T, x)
            out["hh", g] = _mm(dq[g].T, h_prev)
            if w["bih"] is not None:
                out["bih", g] = da[g].sum(axis=0)
                out["bhh", g] = dq[g].sum(axis=0)
        return out


class _LSTMSteps(_Slices):
    gate_order = LSTM_GATES
    n_states = 2

    # -- hooks ---------------------------------------------------------------------------
    def tanh_c_grad(self, c_prev, c_new, tc):
        """d tanh(c')/dc' = 1 - tanh(c')^2, at the NEW cell state."""
        return 1 - tc * tc

    def forget_operand(self, c_prev, c_new):
        """df = dc * c_{t-1}: the forget gate multiplies the previous cell state."""
        return c_prev

    def carry_c(self, dc_prev):
        """What flows from c_t back to c_{t-1} (all of it)."""
        return dc_prev

    def proj_operand(self, o, tc):
        """The vector W_hr projects: m = o * tanh(c')."""
        return o * tc

    def candidate(self, a_g):
        """g = tanh(a_g), the candidate cell state."""
        return np.tanh(a_g)

    def cell_act(self, c_new):
        """tanh(c'), as forward and backward both read it (the tape's ``tc``)."""
        return np.tanh(c_new)

    def output_factor(self, c_new, tc):
        """What o multiplies in forward: m = o * tanh(c')."""
        return tc

    # -- the step --------------------------------------------------------------------------
    def step(self, w, x, states):
        h, c = states
        a = {g: self.preact(w, g, x, h) for g in "ifgo"}
        i, f, o = sigmoid(a["i"]), sigmoid(a["f"]), sigmoid(a["o"])
        g = self.candidate(a["g"])
        c_new = f * c + i * g
        tc = self.cell_act(c_new)
        m = o * self.output_factor(c_new, tc)
        h_new = _mm(m, w["hr"].T) if w["hr"] is not None else m
        tape = dict(x=x, h=h, c=c, a=a, i=i, f=f, g=g, o=o, c_new=c_new, tc=tc, m=m)
        return (h_new, c_new), tape

    def step_back(self, w, t, d_states):
        """t: the step's tape; d_states = (dh' total, dc' carried) -> (dx, (dh, dc), contrib)."""
        dh_new, dc_new = d_states
        contrib = {}
        if w["hr"] is not None:
            dm = _mm(dh_new, w["hr"])
            contrib["hr", None] = _mm(dh_new.T, self.proj_operand(t["o"], t["tc"]))
        else:
            dm = dh_new
        dc = dc_new + dm * t["o"] * self.tanh_c_grad(t["c"], t["c_new"], t["tc"])
        da = {
            "i": dc * t["g"] * self.gate_sig_grad("i", t["a"]["i"], t["i"]),
            "f": dc * self.forget_operand(t["c"], t["c_new"]) * self.gate_sig_grad("f", t["a"]["f"], t["f"]),
            "g": dc * t["i"] * self.candidate_grad(t["g"], t["a"]["g"]),
            "o": dm * t["tc"] * self.gate_sig_grad("o", t["a"]["o"], t["o"]),
        }
        dx, dh = self.input_grads(w, da, da)
        dc_prev = self.carry_c(dc * t["f"])
        contrib.update(self.weight_contrib(w, t["x"], t["h"], da, da))
        return dx, (dh, dc_prev), contrib


class _GRUSteps(_Slices):
    gate_order = GRU_GATES
    gru_update = "torch"  # h' = (1 - z) n + z h;  "complement": h' = z n + (1 - z) h
    n_states = 1

    # -- hooks ---------------------------------------------------------------------------
    def n_preact(self, gi_n, hw_n, b_hn, r):
        """x W_in^T + b_in + r * (h W_hn^T + b_hn): b_hn is INSIDE the reset gate."""
        return gi_n + r * (hw_n + b_hn)

    def update_grads(self, dh, z, n, h_prev):
        """h' = (1 - z) n + z h -> (dn, dz, the direct part of dh_prev)."""
        if self.gru_update == "complement":  # h' = z n + (1 - z) h
            return dh * z, dh * (n - h_prev), dh * (1 - z)
        return dh * (1 - z), dh * (h_prev - n), dh * z

    def reset_grad(self, da_n, q):
        """dr = da_n * q, q = h W_hn^T + b_hn."""
        return da_n * q

    def gate_act(self, gate, a):
        """r, z = sigmoid(a_r), sigmoid(a_z)."""
        return sigmoid(a)

    def recurrent_n(self, w, h, r):
        """What n's recurrent product multiplies: h W_hn^T (r applied after it)."""
        return _mm(h, w["hh"]["n"].T)

    def reset_operand(self, hw_n, b_hn):
        """q = h W_hn^T + b_hn, what r multiplies (the tape's, read by da_r)."""
        return hw_n + b_hn

    # -- the step --------------------------------------------------------------------------
    def step(self, w, x, states):
        (h,) = states
        a_r, a_z = self.preact(w, "r", x, h), self.preact(w, "z", x, h)
        r, z = self.gate_act("r", a_r), self.gate_act("z", a_z)
        gi_n = _mm(x, w["ih"]["n"].T)
        hw_n = self.recurrent_n(w, h, r)
        if w["bih"] is not None:
            gi_n = gi_n + w["bih"]["n"]
            b_hn = w["bhh"]["n"]
        else:
            b_hn = np.zeros(h.shape[1], dtype=h.dtype)
        a_n = self.n_preact(gi_n, hw_n, b_hn, r)
        n = np.tanh(a_n)
        if self.gru_update == "complement":
            h_new = z * n + (1 - z) * h
        else:
            h_new = (1 - z) * n + z * h
        tape = dict(x=x, h=h, a_r=a_r, a_z=a_z, a_n=a_n, r=r, z=z, n=n, q=self.reset_operand(hw_n, b_hn))
        return (h_new,), tape

    def step_back(self, w, t, d_states):
        (dh_new,) = d_states
        dn, dz, dh_direct = self.update_grads(dh_new, t["z"], t["n"], t["h"])
        da_n = dn * self.candidate_grad(t["n"], t["a_n"])
        da = {
            "r": self.reset_grad(da_n, t["q"]) * self.gate_sig_grad("r", t["a_r"], t["r"]),
            "z": dz * self.gate_sig_grad("z", t["a_z"], t["z"]),
            "n": da_n,
        }
        dq = dict(da, n=da_n * t["r"])  # the recurrent product of n sits inside r * (...)
        dx, dh = self.input_grads(w, da, dq)
        contrib = self.weight_contrib(w, t["x"], t["h"], da, dq)
        return dx, (dh + dh_direct,), contrib


# =======================================================================================
# The layers: explicit loops over layers, directions and steps.
# =======================================================================================
class _Layers:
    bias: bool
    proj_size = 0

    def _setup(self, input_size, hidden_size, num_layers, bias, batch_first, bidirectional, proj_size):
        if proj_size < 0 or (proj_size and proj_size >= hidden_size):
            raise ValueError(f"proj_size must be 0 or in [1, hidden_size), got {proj_size}")
        self.I, self.H, self.L = input_size, hidden_size, num_layers
        self.bias, self.batch_first = bool(bias), bool(batch_first)
        self.D, self.proj_size = (2 if bidirectional else 1), proj_size
        self.R = proj_size or hidden_size
        G = len(self.gate_order) * hidden_size
        shapes = {}
        for layer in range(num_layers):
            n_in = input_size if layer == 0 else self.D * self.R
            for sfx in self._suffixes(layer):
                shapes[f"weight_ih{sfx}"] = (G, n_in)
                shapes[f"weight_hh{sfx}"] = (G, self.R)
                if bias:
                    shapes[f"bias_ih{sfx}"] = (G,)
                    shapes[f"bias_hh{sfx}"] = (G,)
                if proj_size:
                    shapes[f"weight_hr{sfx}"] = (proj_size, hidden_size)
        self.params = _init(shapes, hidden_size)
        self.grads = {}
        self._cache = None

    def _suffixes(self, layer):
        return [f"_l{layer}", f"_l{layer}_reverse"][: self.D]

    def _state_sizes(self):
        return (self.R, self.H)[: self.n_states]

    # -- hooks ---------------------------------------------------------------------------
    def step_order(self, T, reverse):
        """The time index processed at each step: back to front for the reverse direction."""
        return list(range(T - 1, -1, -1)) if reverse else list(range(T))

    def upstream_per_step(self, dys, order):
        """The output gradient of each step, in that direction's processing order."""
        return [dys[t] for t in order]

    def final_grads(self, d_finals):
        """The upstream gradients on (h_n, c_n) of one layer and direction, used as they are."""
        return d_finals

    def initial_grads(self, d_init):
        """dh0 (and dc0): what reached the initial states."""
        return d_init

    # -- forward / backward ----------------------------------------------------------------
    def _forward(self, x, init):
        x = np.asarray(x)
        if x.ndim not in (2, 3):
            raise ValueError(f"x must be 3-D or unbatched 2-D, got shape {x.shape}")
        dtype, batched = x.dtype, x.ndim == 3
        xt = (x.swapaxes(0, 1) if self.batch_first else x) if batched else x[:, None, :]
        T, B, _ = xt.shape
        states0 = []
        for value, size in zip(init, self._state_sizes()):
            if value is None:
                value = np.zeros((self.L * self.D, B, size), dtype=dtype)
            else:
                value = np.asarray(value, dtype=dtype)
                value = value if batched else value[:, None, :]
            states0.append(value)
        seq = [np.array(xt[t]) for t in range(T)]  # (B, n_in) per time step, our own copies
        tapes, finals = {}, [[] for _ in states0]
        for layer in range(self.L):
            outs = []
            for d, sfx in enumerate(self._suffixes(layer)):
                w = self.step_weights(self.params, sfx, dtype)
                order = self.step_order(T, d == 1)
                states = tuple(s[layer * self.D + d] for s in states0)
                out, steps = [None] * T, []
                for t in order:
                    states, tape = self.step(w, seq[t], states)
                    out[t] = states[0]
                    steps.append(tape)
                tapes[layer, d] = (w, order, steps)
                outs.append(out)
                for k, s in enumerate(states):
                    finals[k].append(s)
            seq = [np.concatenate([o[t] for o in outs], axis=1) for t in range(T)]
        output = np.stack(seq)  # (T, B, D*R)
        finals = [np.stack(f) for f in finals]
        self._cache = (tapes, T, B, dtype, batched, x.shape)
        self.grads = {}
        if not batched:
            return output[:, 0].copy(), [f[:, 0].copy() for f in finals]
        return np.ascontiguousarray(output.swapaxes(0, 1) if self.batch_first else output), finals

    def _backward(self, d_output, d_finals):
        if self._cache is None:
            raise RuntimeError("backward called before forward")
        tapes, T, B, dtype, batched, _ = self._cache
        d_out = np.asarray(d_output, dtype=dtype)
        d_out = (d_out.swapaxes(0, 1) if self.batch_first else d_out) if batched else d_out[:, None, :]
        d_fin = []
        for value, size in zip(d_finals, self._state_sizes()):
            if value is None:
                value = np.zeros((self.L * self.D, B, size), dtype=dtype)
            else:
                value = np.asarray(value, dtype=dtype)
                value = value if batched else value[:, None, :]
            d_fin.append(value)
        grads = {}
        d_init = [np.zeros_like(f) for f in d_fin]
        d_seq = [np.array(d_out[t]) for t in range(T)]  # (B, D*R)
        for layer in range(self.L - 1, -1, -1):
            d_in = [0] * T
            for d, sfx in enumerate(self._suffixes(layer)):
                w, order, steps = tapes[layer, d]
                dys = [g[:, d * self.R:(d + 1) * self.R] for g in d_seq]
                dy_steps = self.upstream_per_step(dys, order)
                d_states = tuple(self.final_grads(tuple(f[layer * self.D + d] for f in d_fin)))
                contribs = [None] * T
                for s in range(T - 1, -1, -1):
                    total = (dy_steps[s] + d_states[0],) + tuple(d_states[1:])
                    self._first_step = s == 0  # for hooks of a loop that writes the first step apart
                    dx, d_states, contribs[s] = self.step_back(w, steps[s], total)
                    d_in[order[s]] = d_in[order[s]] + dx
                for k, ds in enumerate(d_states):
                    d_init[k][layer * self.D + d] = ds
                self._sum_over_time(grads, sfx, w, [contribs[order.index(t)] for t in range(T)])
            d_seq = d_in
        d_init = self.initial_grads(d_init)
        self.grads = {name: grads[name] for name in self.params}  # torch's order, a fresh dict
        dx = np.stack(d_seq)
        if not batched:
            return dx[:, 0].copy(), [g[:, 0].copy() for g in d_init]
        return np.ascontiguousarray(dx.swapaxes(0, 1) if self.batch_first else dx), d_init

    def _sum_over_time(self, grads, sfx, w, contribs):
        """Each weight's gradient: its per-step shares added in time order t = 0 .. T-1."""
        total = {}
        for c in contribs:
            for key, value in c.items():
                total[key] = total[key] + value if key in total else value.copy()
        grads[f"weight_ih{sfx}"] = self.stack_rows({g: total["ih", g] for g in self.gate_order})
        grads[f"weight_hh{sfx}"] = self.stack_rows({g: total["hh", g] for g in self.gate_order})
        if self.bias:
            grads[f"bias_ih{sfx}"] = self.stack_rows({g: total["bih", g] for g in self.gate_order})
            grads[f"bias_hh{sfx}"] = self.stack_rows({g: total["bhh", g] for g in self.gate_order})
        if self.proj_size:
            grads[f"weight_hr{sfx}"] = total["hr", None]


class LSTM(_LSTMSteps, _Layers):
    """``torch.nn.LSTM``'s contract; see the module docstring."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 bidirectional=False, proj_size=0):
        self._setup(input_size, hidden_size, num_layers, bias, batch_first, bidirectional, proj_size)

    def forward(self, x, hx=None):
        out, (h_n, c_n) = self._forward(x, (None, None) if hx is None else hx)
        return out, (h_n, c_n)

    def backward(self, d_output, d_h_n=None, d_c_n=None):
        dx, (dh0, dc0) = self._backward(d_output, (d_h_n, d_c_n))
        return dx, (dh0, dc0)


class GRU(_GRUSteps, _Layers):
    """``torch.nn.GRU``'s contract; see the module docstring."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 bidirectional=False):
        self._setup(input_size, hidden_size, num_layers, bias, batch_first, bidirectional, 0)

    def forward(self, x, h0=None):
        out, (h_n,) = self._forward(x, (h0,))
        return out, h_n

    def backward(self, d_output, d_h_n=None):
        dx, (dh0,) = self._backward(d_output, (d_h_n,))
        return dx, dh0


# =======================================================================================
# The cells: one step of the same equations.
# =======================================================================================
class _Cell:
    proj_size = 0

    def cell_upstream(self, d_new):
        """The upstream gradients on (h', c') (or h'), used as they are."""
        return d_new

    def _setup(self, input_size, hidden_size, bias):
        self.I, self.H, self.bias = input_size, hidden_size, bool(bias)
        G = len(self.gate_order) * hidden_size
        shapes = {"weight_ih": (G, input_size), "weight_hh": (G, hidden_size)}
        if bias:
            shapes.update(bias_ih=(G,), bias_hh=(G,))
        self.params = _init(shapes, hidden_size)
        self.grads = {}
        self._cache = None

    def _cell_forward(self, x, states):
        x = np.asarray(x)
        batched = x.ndim == 2
        xb = np.array(x if batched else x[None, :])
        sts = tuple(np.zeros((xb.shape[0], self.H), dtype=x.dtype) if s is None
                    else np.array(s if batched else s[None, :], dtype=x.dtype) for s in states)
        w = self.step_weights(self.params, "", x.dtype)
        new, tape = self.step(w, xb, sts)
        self._cache = (w, tape, batched, x.dtype)
        self.grads = {}
        return tuple(s if batched else s[0] for s in new)

    def _cell_backward(self, d_new):
        if self._cache is None:
            raise RuntimeError("backward called before forward")
        w, tape, batched, dtype = self._cache
        B = tape["x"].shape[0]
        d = tuple(np.zeros((B, self.H), dtype=dtype) if v is None
                  else np.array(v if batched else v[None, :], dtype=dtype) for v in d_new)
        dx, d_old, contrib = self.step_back(w, tape, self.cell_upstream(d))
        stack = lambda kind: self.stack_rows({g: contrib[kind, g] for g in self.gate_order})  # noqa: E731
        self.grads = {"weight_ih": stack("ih"), "weight_hh": stack("hh")}
        if self.bias:
            self.grads.update(bias_ih=stack("bih"), bias_hh=stack("bhh"))
        if not batched:
            return dx[0].copy(), tuple(g[0].copy() for g in d_old)
        return dx, tuple(d_old)


class LSTMCell(_LSTMSteps, _Cell):
    """``torch.nn.LSTMCell``'s contract: forward(x, hx=None) -> (h, c); backward(d_h,
    d_c=None) -> (dx, (dh, dc))."""

    def __init__(self, input_size, hidden_size, bias=True):
        self._setup(input_size, hidden_size, bias)

    def forward(self, x, hx=None):
        h, c = self._cell_forward(x, (None, None) if hx is None else hx)
        return h, c

    def backward(self, d_h, d_c=None):
        dx, (dh, dc) = self._cell_backward((d_h, d_c))
        return dx, (dh, dc)


class GRUCell(_GRUSteps, _Cell):
    """``torch.nn.GRUCell``'s contract: forward(x, h=None) -> h; backward(d_h) -> (dx, dh)."""

    def __init__(self, input_size, hidden_size, bias=True):
        self._setup(input_size, hidden_size, bias)

    def forward(self, x, h=None):
        (h_new,) = self._cell_forward(x, (h,))
        return h_new

    def backward(self, d_h):
        dx, (dh,) = self._cell_backward((d_h,))
        return dx, dh


# =======================================================================================
# Correct implementations in other conventions (the adapter makes them pass).
# =======================================================================================
class LSTMGatesIFOG(LSTM):
    """An LSTM whose stacked weights read i, f, o, g (``--gate-order ifog``)."""

    gate_order = "ifog"


class LSTMGatesFIGO(LSTM):
    """An LSTM whose stacked weights read f, i, g, o (``--gate-order figo``)."""

    gate_order = "figo"


class GRUKeras(GRU):
    """A GRU whose stacked weights read z, r, n (Keras's z, r, h: ``--gate-order zrh``)."""

    gate_order = "zrn"


class GRUComplement(GRU):
    """A GRU written h' = z n + (1 - z) h (``--gru-update complement``)."""

    gru_update = "complement"


class GRUKerasComplement(GRU):
    """Both: gates z, r, n and h' = z n + (1 - z) h."""

    gate_order, gru_update = "zrn", "complement"


class LSTMCellIFOG(LSTMCell):
    gate_order = "ifog"


class GRUCellComplement(GRUCell):
    gru_update = "complement"


# =======================================================================================
# Planted bugs: one classic mistake each, as a subclass overriding one hook.
# =======================================================================================
_ZERO = lambda a: 0 * a  # noqa: E731


# --- LSTM ------------------------------------------------------------------------------
class LSTMGateOrderIF(LSTM):
    """Reads torch's stacked rows as f, i, g, o: the input and forget gates swapped."""

    gate_order = "figo"


class LSTMCellStateNotCarried(LSTM):
    """dc_prev = 0: the cell state's gradient is not carried back through time (only
    through h)."""

    def carry_c(self, dc_prev):
        return _ZERO(dc_prev)


class LSTMCellStateNotCarriedAfterFirst(LSTM):
    """Karpathy's lstm.py writes the first step apart (``if t > 0: dC[t-1] += f * dC[t] else:
    dc0 = f * dC[t]``): the carry dropped in the t > 0 branch only, dc0 still returned."""

    def carry_c(self, dc_prev):
        return dc_prev if self._first_step else _ZERO(dc_prev)


class LSTMTanhCDerivativeMissing(LSTM):
    """dc = dc' + dm * o: the derivative of tanh(c') left out."""

    def tanh_c_grad(self, c_prev, c_new, tc):
        return np.ones_like(tc)


class LSTMTanhCDerivativeAtCPrev(LSTM):
    """tanh'(c) taken at c_{t-1} instead of c_t: 1 - tanh(c_{t-1})^2."""

    def tanh_c_grad(self, c_prev, c_new, tc):
        return 1 - np.tanh(c_prev) ** 2


class LSTMForgetGradUsesCt(LSTM):
    """df = dc * c_t instead of dc * c_{t-1}."""

    def forget_operand(self, c_prev, c_new):
        return c_new


class LSTMForgetGradUsesCtAfterFirst(LSTM):
    """df = dc * c_t in the t > 0 branch of a loop that writes the first step apart (Karpathy's
    lstm.py); the first step's branch reads c0, right."""

    def forget_operand(self, c_prev, c_new):
        return c_prev if self._first_step else c_new


class LSTMSigmoidGradFromPreactivation(LSTM):
    """sigmoid'(a) computed as a (1 - a) from the pre-activation, instead of s (1 - s)."""

    def sig_grad(self, a, s):
        return a * (1 - a)


class LSTMSigmoidPrimeAsO(LSTM):
    """da_o = dh * tanh(c) * o: the (1 - o) of o's sigmoid' left out (``do *= o``)."""

    def gate_sig_grad(self, gate, a, s):
        return s if gate == "o" else super().gate_sig_grad(gate, a, s)


class _TanhPrimeFromPreactivation:
    """tanh' of the candidate written 1 - a^2, from the pre-activation instead of the value."""

    def candidate_grad(self, t, a):
        return 1 - a * a


class LSTMTanhPrimeFromPreactivation(_TanhPrimeFromPreactivation, LSTM):
    """da_g = dc * i * (1 - a_g^2)."""


class LSTMIgnoresDcN(LSTM):
    """The upstream gradient on c_n is dropped (backward starts from dc = 0)."""

    def final_grads(self, d_finals):
        dh, dc = d_finals
        return dh, _ZERO(dc)


class LSTMProjGradWrongOperand(LSTM):
    """dW_hr = dh'^T tanh(c'): the output gate forgotten in what W_hr projects (m = o tanh(c'))."""

    def proj_operand(self, o, tc):
        return tc


class LSTMSwappedDxDh(LSTM):
    """dx and dh_prev computed with each other's weights (shape-compatible when I == H)."""

    def input_grads(self, w, da, dq):
        dx = sum(_mm(da[g], w["hh"][g]) for g in self.gate_order)
        dh = sum(_mm(dq[g], w["ih"][g]) for g in self.gate_order)
        return dx, dh


class LSTMReverseNotReordered(LSTM):
    """The reverse direction reads its output gradients in time order, though it processed
    the sequence back to front."""

    def upstream_per_step(self, dys, order):
        return list(dys)


class LSTMZeroedInitialGrads(LSTM):
    """dh0 and dc0 returned as zeros (the initial state treated as a constant)."""

    def initial_grads(self, d_init):
        return [_ZERO(d) for d in d_init]


class LSTMCandidateSigmoid(LSTM):
    """g = sigmoid(a_g) in forward (one sigmoid over all four gates); the backward keeps
    tanh's derivative 1 - g^2 on that g."""

    def candidate(self, a_g):
        return sigmoid(a_g)


class LSTMCandidateSigmoidExact(LSTMCandidateSigmoid):
    """g = sigmoid(a_g) forward and backward (da_g with g (1 - g)): a consistent wrong model."""

    def candidate_grad(self, t, a):
        return t * (1 - t)


class LSTMHWithoutTanhC(LSTM):
    """h = o * c' in forward (tanh(c') left out); the backward computes tanh(c') itself, as
    torch's formulas say (CS231n's step backward, from its cached next_c)."""

    def output_factor(self, c_new, tc):
        return c_new


class LSTMHWithoutTanhCExact(LSTM):
    """h = o * c' forward and backward: tanh(c') is c' throughout, its derivative 1."""

    def cell_act(self, c_new):
        return c_new

    def tanh_c_grad(self, c_prev, c_new, tc):
        return np.ones_like(tc)


# --- GRU -------------------------------------------------------------------------------
class GRUGateOrderRZ(GRU):
    """Reads torch's stacked rows as z, r, n: the reset and update gates swapped."""

    gate_order = "zrn"


class GRUBhnOutsideReset(GRU):
    """n = tanh(W_in x + b_in + r * (W_hn h) + b_hn): b_hn outside the reset gate (the
    paper's and Keras reset_after=False's placement of the bias, not torch's)."""

    def n_preact(self, gi_n, hw_n, b_hn, r):
        return gi_n + r * hw_n + b_hn


class _ResetBefore:
    """Cho et al.'s GRU (d2l.ai's, Keras's reset_after=False): the reset gate multiplies h
    BEFORE W_hn, and b_hn is added outside it; a different model from torch's, forward and
    its exact backward:

        n = tanh(x W_in^T + b_in + (r h) W_hn^T + b_hn)
        d(r h) = da_n W_hn,  da_r = d(r h) h r(1-r),  dh_prev += d(r h) r,  dW_hn = da_n^T (r h)
    """

    def step(self, w, x, states):
        (h,) = states
        a_r, a_z = self.preact(w, "r", x, h), self.preact(w, "z", x, h)
        r, z = sigmoid(a_r), sigmoid(a_z)
        a_n = _mm(x, w["ih"]["n"].T) + _mm(r * h, w["hh"]["n"].T)
        if w["bih"] is not None:
            a_n = a_n + w["bih"]["n"] + w["bhh"]["n"]
        n = np.tanh(a_n)
        tape = dict(x=x, h=h, a_r=a_r, a_z=a_z, a_n=a_n, r=r, z=z, n=n)
        return ((1 - z) * n + z * h,), tape

    def step_back(self, w, t, d_states):
        (dh_new,) = d_states
        dn, dz, dh_direct = self.update_grads(dh_new, t["z"], t["n"], t["h"])
        da_n = dn * self.candidate_grad(t["n"], t["a_n"])  # the hooks, so a mistake combines with this model
        d_rh = _mm(da_n, w["hh"]["n"])
        da = {"r": d_rh * t["h"] * self.gate_sig_grad("r", t["a_r"], t["r"]),
              "z": dz * self.gate_sig_grad("z", t["a_z"], t["z"]), "n": da_n}
        dx = sum(_mm(da[g], w["ih"][g]) for g in self.gate_order)
        dh = _mm(da["r"], w["hh"]["r"]) + _mm(da["z"], w["hh"]["z"]) + d_rh * t["r"] + dh_direct
        contrib = self.weight_contrib(w, t["x"], t["h"], da, da)
        contrib["hh", "n"] = _mm(da_n.T, t["r"] * t["h"])
        return dx, (dh,), contrib


class GRUResetBefore(_ResetBefore, GRU):
    """The reset gate applied to h before W_hn (Cho et al. 2014, d2l.ai): a different model."""


class GRUZSwappedInBackward(GRU):
    """z and 1 - z swapped in backward only: dn = dh' z, dh_prev = dh' (1 - z)."""

    def update_grads(self, dh, z, n, h_prev):
        return dh * z, dh * (h_prev - n), dh * (1 - z)


class GRUMissingDhThroughZ(GRU):
    """dh_prev lacks dh' * z: only the path through the gates' weights is carried back."""

    def update_grads(self, dh, z, n, h_prev):
        dn, dz, direct = super().update_grads(dh, z, n, h_prev)
        return dn, dz, _ZERO(direct)


class GRUResetGradMissing(GRU):
    """dr = 0: the reset gate gets no gradient (r treated as a constant)."""

    def reset_grad(self, da_n, q):
        return _ZERO(da_n)


class GRUSigmoidGradFromPreactivation(GRU):
    """sigmoid'(a) computed as a (1 - a) from the pre-activation."""

    def sig_grad(self, a, s):
        return a * (1 - a)


class GRUSigmoidPrimeMissingZ(GRU):
    """da_z = dh' (h - n): the update gate's z (1 - z) left out."""

    def gate_sig_grad(self, gate, a, s):
        return np.ones_like(s) if gate == "z" else super().gate_sig_grad(gate, a, s)


class GRUSigmoidPrimeAsR(GRU):
    """da_r = da_n * q * r: the (1 - r) of r's sigmoid' left out."""

    def gate_sig_grad(self, gate, a, s):
        return s if gate == "r" else super().gate_sig_grad(gate, a, s)


class GRUTanhPrimeFromPreactivation(_TanhPrimeFromPreactivation, GRU):
    """da_n = dn * (1 - a_n^2)."""


class GRUZTanh(GRU):
    """z = tanh(a_z) in forward; the backward keeps z (1 - z) on that z."""

    def gate_act(self, gate, a):
        return np.tanh(a) if gate == "z" else super().gate_act(gate, a)


class GRUResetBeforeForwardOnly(GRU):
    """n = tanh(x W_in^T + b_in + (r h) W_hn^T + b_hn) in forward (d2l.ai's), torch's backward
    formulas kept on what it cached (q = (r h) W_hn^T + b_hn)."""

    def recurrent_n(self, w, h, r):
        return _mm(r * h, w["hh"]["n"].T)

    def n_preact(self, gi_n, hw_n, b_hn, r):
        return gi_n + hw_n + b_hn


class GRUBhnOutsideCachedWithoutBhn(GRUBhnOutsideReset):
    """b_hn outside r in forward, and the cached q = h W_hn^T without b_hn (da_r from it)."""

    def reset_operand(self, hw_n, b_hn):
        return hw_n


class GRUDhThroughWhnWithoutR(GRU):
    """dh_prev through W_hn from da_n, without r (dW_hn and the biases right)."""

    def input_grads(self, w, da, dq):
        return super().input_grads(w, da, dict(dq, n=da["n"]))


class GRUWhrBlockTransposed(GRU):
    """g["Whr"] += h_prev.T @ da_r: gate r's block of dW_hh transposed (H = R, square)."""

    def _sum_over_time(self, grads, sfx, w, contribs):
        super()._sum_over_time(grads, sfx, w, contribs)
        k, H = self.gate_order.index("r"), self.H
        block = grads[f"weight_hh{sfx}"][k * H:(k + 1) * H]
        block[...] = block.T.copy()


class GRUBiasGradsMean(GRU):
    """db = da.sum(0) / B beside summed weight gradients."""

    def _backward(self, d_output, d_finals):
        out = super()._backward(d_output, d_finals)
        B = self._cache[2]
        self.grads = {k: v / B if k.startswith("bias") else v for k, v in self.grads.items()}
        return out


class GRUWhnGradOverwritten(GRU):
    """dW_hn = ... at each step instead of += (the last step processed in backward, t = 0 of
    a forward direction, is what is left); every other block is summed."""

    def _sum_over_time(self, grads, sfx, w, contribs):
        super()._sum_over_time(grads, sfx, w, contribs)
        k, H = self.gate_order.index("n"), self.H
        grads[f"weight_hh{sfx}"][k * H:(k + 1) * H] = contribs[-1 if sfx.endswith("reverse") else 0]["hh", "n"]


class GRUGradRowsRZSwapped(GRU):
    """Every gate's gradient right (dx, dh too), but the weight and bias gradients stacked z, r, n."""

    def stack_rows(self, parts):
        return np.concatenate([parts[g] for g in "zrn"], axis=0)


class GRUReadsZRNStacksRZN(GRU):
    """Reads torch's stacked rows as z, r, n (forward and its own dx, dh, gate by gate), but
    stacks the gradients back in torch's r, z, n."""

    gate_order = "zrn"

    def stack_rows(self, parts):
        return np.concatenate([parts[g] for g in "rzn"], axis=0)


class GRUSwappedDxDh(GRU):
    """dx and dh_prev computed with each other's weights (shape-compatible when I == H)."""

    def input_grads(self, w, da, dq):
        dx = sum(_mm(da[g], w["hh"][g]) for g in self.gate_order)
        dh = sum(_mm(dq[g], w["ih"][g]) for g in self.gate_order)
        return dx, dh


class GRUReverseNotReordered(GRU):
    """As LSTMReverseNotReordered."""

    def upstream_per_step(self, dys, order):
        return list(dys)


class GRUReverseHnAtLastTime(GRU):
    """h_n = output[-1]: right for the forward direction, the reverse direction's first step
    (its last state is its output at t = 0). One layer (``output`` is the last layer's)."""

    def forward(self, x, h0=None):
        out, h_n = super().forward(x, h0)
        if self.D == 2 and np.ndim(out) == 3:
            h_n = h_n.copy()
            h_n[-1] = (out.swapaxes(0, 1) if self.batch_first else out)[-1, :, self.H:]
        return out, h_n


class GRUZeroedDh0(GRU):
    """dh0 returned as zeros."""

    def initial_grads(self, d_init):
        return [_ZERO(d) for d in d_init]


# --- cells -----------------------------------------------------------------------------
class LSTMCellIgnoresDc(LSTMCell):
    """The upstream gradient on c' is dropped."""

    def cell_upstream(self, d_new):
        dh, dc = d_new
        return dh, _ZERO(dc)


class LSTMCellTanhCDerivativeMissing(LSTMCell):
    def tanh_c_grad(self, c_prev, c_new, tc):
        return np.ones_like(tc)


class LSTMCellForgetGradUsesCt(LSTMCell):
    def forget_operand(self, c_prev, c_new):
        return c_new


class GRUCellBhnOutsideReset(GRUCell):
    def n_preact(self, gi_n, hw_n, b_hn, r):
        return gi_n + r * hw_n + b_hn


class GRUCellResetBefore(_ResetBefore, GRUCell):
    pass


class LSTMCellCandidateSigmoid(LSTMCell):
    def candidate(self, a_g):
        return sigmoid(a_g)


class GRUCellRTanh(GRUCell):
    def gate_act(self, gate, a):
        return np.tanh(a) if gate == "r" else super().gate_act(gate, a)


class GRUCellDqNWithoutR(GRUCell):
    """The gradient of h W_hn^T + b_hn taken as da_n (dW_hn, db_hn and dh alike)."""

    def input_grads(self, w, da, dq):
        return super().input_grads(w, da, dict(dq, n=da["n"]))

    def weight_contrib(self, w, x, h_prev, da, dq):
        return super().weight_contrib(w, x, h_prev, da, dict(dq, n=da["n"]))


class GRUCellZSwappedInBackward(GRUCell):
    def update_grads(self, dh, z, n, h_prev):
        return dh * z, dh * (h_prev - n), dh * (1 - z)


class GRUCellResetGradMissing(GRUCell):
    def reset_grad(self, da_n, q):
        return _ZERO(da_n)


@dataclass(frozen=True)
class GatedPlanted:
    name: str
    family: str  # "lstm", "gru", "lstm_cell", "gru_cell"
    cls: type
    first: str  # the first tensor that differs, in the family's causal order
    config: dict  # what the bug needs, over the family's base case (GATED_BASE)
    reason: str  # one line: why that tensor is the first to differ
    shows: str = "no option needed"  # where it shows, in words
    # A configuration (over the entry's own) where the bug computes torch's numbers exactly,
    # which proves ``shows`` is needed (meta_tests/test_gated_impl.py checks it); None: none.
    invisible: dict | None = None
    # The suspect the diagnosis must name FIRST on the entry's fixed case
    # (meta_tests/test_gated_diagnosis.py); None: no single-mistake suspect models it.
    suspect: str | None = None


# The fixed base configuration of each family (T >= 2, B >= 2, I != H, bias, h0 given,
# float64). Meta tests build their Case from it, updated by an entry's ``config``.
GATED_BASE = {
    "lstm": dict(input_size=3, hidden_size=4, seq_len=3, batch=2),
    "gru": dict(input_size=3, hidden_size=4, seq_len=3, batch=2),
    "lstm_cell": dict(input_size=3, hidden_size=4, batch=2),
    "gru_cell": dict(input_size=3, hidden_size=4, batch=2),
}

_P = GatedPlanted
GATED_PLANTED = [
    _P("lstm_gate_order_i_f", "lstm", LSTMGateOrderIF, "output", {},
       "the gates themselves are wrong: forward differs",
       suspect="gate order read wrong (i and f swapped)"),
    _P("lstm_cell_state_not_carried", "lstm", LSTMCellStateNotCarried, "dx", {},
       "dx at every step but the last misses the gradient carried through c (T >= 2; at T = 1 only dc0)",
       "T >= 2 (at T = 1: dc0 only)",
       suspect="cell state not carried back through time (dc_(t-1) = 0)"),
    _P("lstm_tanh_c_derivative_missing", "lstm", LSTMTanhCDerivativeMissing, "dx", {},
       "every gate's gradient goes through dc, which lacks tanh'(c_t); forward is right",
       suspect="tanh(c) derivative missing"),
    _P("lstm_tanh_c_derivative_at_c_prev", "lstm", LSTMTanhCDerivativeAtCPrev, "dx", {},
       "dc uses tanh'(c_{t-1}); forward is right, dx is the first gradient",
       suspect="tanh(c) derivative taken at c_(t-1) instead of c_t"),
    _P("lstm_forget_grad_uses_c_t", "lstm", LSTMForgetGradUsesCt, "dx", {},
       "da_f is wrong at every step, and dx = sum_g da_g W_ig",
       suspect="forget-gate gradient uses c_t instead of c_(t-1)"),
    _P("lstm_cell_state_not_carried_after_first", "lstm", LSTMCellStateNotCarriedAfterFirst, "dx", {},
       "dx at every step but the last misses the gradient carried through c; dc0 still from the first step",
       "T >= 2 (at T = 1 the first step is the only one)", {"seq_len": 1},
       suspect="cell state not carried back through time from later steps (dc_(t-1) += dc_t * f dropped for t > 0; "
               "dc0 from the first step alone)"),
    _P("lstm_forget_grad_uses_c_t_after_first", "lstm", LSTMForgetGradUsesCtAfterFirst, "dx", {},
       "da_f is wrong at every step but the first, and dx = sum_g da_g W_ig",
       "T >= 2 (at T = 1 the first step is the only one)", {"seq_len": 1},
       suspect="forget-gate gradient uses c_t instead of c_(t-1) at every step but the first (the first step's "
               "branch, with c0, is right)"),
    _P("lstm_sigmoid_grad_from_preactivation", "lstm", LSTMSigmoidGradFromPreactivation, "dx", {},
       "da_i, da_f, da_o are wrong at every step",
       suspect="sigmoid derivative computed from the pre-activation"),
    _P("lstm_sigmoid_prime_as_o", "lstm", LSTMSigmoidPrimeAsO, "dx", {},
       "da_o lacks (1 - o) at every step, and dx includes da_o W_io",
       suspect="output gate's sigmoid' taken as o (da_o = dL/dh * tanh(c_t) * o, the (1 - o) left out)"),
    _P("lstm_tanh_prime_from_preactivation", "lstm", LSTMTanhPrimeFromPreactivation, "dx", {},
       "da_g is wrong at every step, and dx includes da_g W_ig",
       suspect="tanh' on the candidate g computed from the pre-activation (1 - a_g^2)"),
    _P("lstm_ignores_d_c_n", "lstm", LSTMIgnoresDcN, "dx", {},
       "the last step's dc misses d_c_n, so does its dx (the harness's d_c_n is never zero)",
       "a nonzero d_c_n (always drawn)",
       suspect="upstream gradient on c_n ignored (d_c_n)"),
    _P("lstm_proj_grad_wrong_operand", "lstm", LSTMProjGradWrongOperand, "grad weight_hr_l0", {"proj_size": 2},
       "only dW_hr is touched (proj_size > 0): torch orders it after the layer's biases",
       "proj_size > 0", {"proj_size": 0},
       suspect="projection gradient from tanh(c) instead of o * tanh(c)"),
    _P("lstm_swapped_dx_dh", "lstm", LSTMSwappedDxDh, "dx", {"input_size": 4},
       "dx through W_hh (shape-compatible only when I == H, proj_size = 0)",
       "I == H (otherwise a shape error)",
       suspect="dx and dh_prev computed with each other's weight"),
    _P("lstm_reverse_not_reordered", "lstm", LSTMReverseNotReordered, "dx", {"bidirectional": True},
       "the reverse direction's input gradient is wrong (bidirectional, T >= 2)",
       "bidirectional, T >= 2", {"bidirectional": False},
       suspect="reverse direction not re-ordered"),
    _P("lstm_zeroed_dh0_dc0", "lstm", LSTMZeroedInitialGrads, "dh0", {},
       "dx and the weights are right; the initial states get no gradient",
       suspect="dh0 and dc0 not propagated to the initial states (both returned as zero)"),
    _P("lstm_candidate_sigmoid", "lstm", LSTMCandidateSigmoid, "output", {},
       "g is a sigmoid: forward differs",
       suspect="candidate g computed with sigmoid instead of tanh (forward), backward with tanh's derivative"),
    _P("lstm_candidate_sigmoid_exact", "lstm", LSTMCandidateSigmoidExact, "output", {},
       "g is a sigmoid: forward differs",
       suspect="candidate g computed with sigmoid instead of tanh (forward and backward of that model)"),
    _P("lstm_h_without_tanh_c", "lstm", LSTMHWithoutTanhC, "output", {},
       "h = o * c: forward differs",
       suspect="tanh(c) left out of h in forward (h = o * c), backward with torch's formulas"),
    _P("lstm_h_without_tanh_c_exact", "lstm", LSTMHWithoutTanhCExact, "output", {},
       "h = o * c: forward differs",
       suspect="tanh(c) left out of h (h = o * c, forward and backward of that model)"),
    _P("gru_gate_order_r_z", "gru", GRUGateOrderRZ, "output", {},
       "the gates themselves are wrong: forward differs",
       suspect="gate order read wrong (r and z swapped)"),
    _P("gru_b_hn_outside_reset", "gru", GRUBhnOutsideReset, "output", {},
       "a different model: forward differs (needs bias=True; without bias the two agree)",
       "bias=True", {"bias": False},
       suspect="GRU b_hn outside the reset gate (forward), backward with torch's formulas"),
    _P("gru_reset_before", "gru", GRUResetBefore, "output", {},
       "a different model (Cho et al.'s, d2l.ai's GRU): forward differs",
       suspect="GRU reset gate applied to h before W_hn (n = tanh(W_in x + b_in + W_hn (r * h) + b_hn))"),
    _P("gru_z_swapped_in_backward", "gru", GRUZSwappedInBackward, "dx", {},
       "da_n scaled by z instead of 1 - z at every step",
       suspect="z and 1 - z swapped in backward"),
    _P("gru_missing_dh_through_z", "gru", GRUMissingDhThroughZ, "dx", {},
       "earlier steps miss dh' z carried back (T >= 2; at T = 1 only dh0)",
       "T >= 2 (at T = 1: dh0 only)",
       suspect="missing dh path through z (dh_(t-1) lacks dh' * z)"),
    _P("gru_reset_grad_missing", "gru", GRUResetGradMissing, "dx", {},
       "da_r = 0 at every step, and dx includes da_r W_ir",
       suspect="reset-gate gradient missing (da_r = 0)"),
    _P("gru_sigmoid_grad_from_preactivation", "gru", GRUSigmoidGradFromPreactivation, "dx", {},
       "da_r and da_z are wrong at every step",
       suspect="sigmoid derivative computed from the pre-activation"),
    _P("gru_sigmoid_prime_missing_z", "gru", GRUSigmoidPrimeMissingZ, "dx", {},
       "da_z lacks z (1 - z) at every step, and dx includes da_z W_iz",
       suspect="update gate's sigmoid' missing (da_z = dh' * (h - n))"),
    _P("gru_sigmoid_prime_as_r", "gru", GRUSigmoidPrimeAsR, "dx", {},
       "da_r lacks (1 - r) at every step, and dx includes da_r W_ir",
       suspect="reset gate's sigmoid' taken as r (da_r = da_n * (W_hn h + b_hn) * r, the (1 - r) left out)"),
    _P("gru_tanh_prime_from_preactivation", "gru", GRUTanhPrimeFromPreactivation, "dx", {},
       "da_n is wrong at every step, and dx includes da_n W_in",
       suspect="tanh' on the candidate n computed from the pre-activation (1 - a_n^2)"),
    _P("gru_z_tanh", "gru", GRUZTanh, "output", {}, "z is a tanh: forward differs",
       suspect="update gate z computed with tanh instead of sigmoid (forward), backward with sigmoid's derivative"),
    _P("gru_reset_before_forward_only", "gru", GRUResetBeforeForwardOnly, "output", {},
       "r applied to h before W_hn: forward differs",
       suspect="GRU reset gate applied to h before W_hn in forward (n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)), "
               "backward with torch's formulas"),
    _P("gru_b_hn_outside_cached_without_b_hn", "gru", GRUBhnOutsideCachedWithoutBhn, "output", {},
       "a different model: forward differs (needs bias=True)", "bias=True", {"bias": False},
       suspect="GRU b_hn outside the reset gate (forward), backward with torch's formulas on W_hn h without b_hn"),
    _P("gru_dh_through_w_hn_without_r", "gru", GRUDhThroughWhnWithoutR, "dx", {},
       "dh_(t-1) is wrong at every step but the first processed, and so is dx before the last step (T >= 2; at "
       "T = 1 only dh0)", "T >= 2 (at T = 1: dh0 only)",
       suspect="dh_(t-1) through W_hn from da_n, without r (da_n W_hn, not (r * da_n) W_hn)"),
    _P("gru_w_hr_block_transposed", "gru", GRUWhrBlockTransposed, "grad weight_hh_l0", {},
       "only gate r's block of dW_hh is touched",
       suspect="gate r's block of grad weight_hh_l0 transposed"),
    _P("gru_bias_grads_mean", "gru", GRUBiasGradsMean, "grad bias_ih_l0", {},
       "only the bias gradients are divided (B >= 2)", "B >= 2", {"batch": 1},
       suspect="bias gradients alone averaged over the batch (divided by B = 3)"),
    _P("gru_w_hn_grad_overwritten", "gru", GRUWhnGradOverwritten, "grad weight_hh_l0", {},
       "only gate n's rows of dW_hh keep one step's share (T >= 2)", "T >= 2", {"seq_len": 1},
       suspect="W_hn's gradient overwritten at each step, not summed over time (gate n's rows of dW_hh: "
               "dW_hn = ..., not +=)"),
    _P("gru_grad_rows_r_z_swapped", "gru", GRUGradRowsRZSwapped, "grad weight_ih_l0", {},
       "dx and dh0 are right; only the stacked parameter gradients are permuted",
       suspect="weight and bias gradients stacked with gates r and z swapped (dx and dh right)"),
    _P("gru_reads_zrn_stacks_rzn", "gru", GRUReadsZRNStacksRZN, "output", {},
       "the gates themselves are wrong: forward differs",
       suspect="gate order read wrong (r and z swapped), gradients stacked back as handed"),
    _P("gru_swapped_dx_dh", "gru", GRUSwappedDxDh, "dx", {"input_size": 4},
       "dx through W_hh (shape-compatible only when I == H)",
       "I == H (otherwise a shape error)",
       suspect="dx and dh_prev computed with each other's weight"),
    _P("gru_reverse_not_reordered", "gru", GRUReverseNotReordered, "dx", {"bidirectional": True},
       "the reverse direction's input gradient is wrong (bidirectional, T >= 2)",
       "bidirectional, T >= 2", {"bidirectional": False},
       suspect="reverse direction not re-ordered"),
    _P("gru_reverse_h_n_at_last_time", "gru", GRUReverseHnAtLastTime, "h_n", {"bidirectional": True},
       "output and every gradient are right; only the reverse direction's h_n is another step's state",
       "bidirectional, T >= 2", {"bidirectional": False},
       suspect="reverse direction's h_n taken at time step T-1 (h_n = output[-1])"),
    _P("gru_zeroed_dh0", "gru", GRUZeroedDh0, "dh0", {},
       "dx and the weights are right; the initial state gets no gradient",
       suspect="dh0 not propagated to the initial state (returned as zero)"),
    _P("lstm_cell_ignores_d_c", "lstm_cell", LSTMCellIgnoresDc, "dx", {},
       "dc misses d_c_next, so does every gate's gradient",
       suspect="upstream gradient on c' ignored (d_c)"),
    _P("lstm_cell_tanh_c_derivative_missing", "lstm_cell", LSTMCellTanhCDerivativeMissing, "dx", {},
       "dc lacks tanh'(c')",
       suspect="tanh(c) derivative missing"),
    _P("lstm_cell_forget_grad_uses_c_t", "lstm_cell", LSTMCellForgetGradUsesCt, "dx", {},
       "da_f is wrong",
       suspect="forget-gate gradient uses c_t instead of c_(t-1)"),
    _P("gru_cell_b_hn_outside_reset", "gru_cell", GRUCellBhnOutsideReset, "h_next", {},
       "a different model: forward differs (needs bias=True)",
       "bias=True", {"bias": False},
       suspect="GRU b_hn outside the reset gate (forward), backward with torch's formulas"),
    _P("gru_cell_reset_before", "gru_cell", GRUCellResetBefore, "h_next", {},
       "a different model: forward differs",
       suspect="GRU reset gate applied to h before W_hn (n = tanh(W_in x + b_in + W_hn (r * h) + b_hn))"),
    _P("lstm_cell_candidate_sigmoid", "lstm_cell", LSTMCellCandidateSigmoid, "h_next", {},
       "g is a sigmoid: forward differs",
       suspect="candidate g computed with sigmoid instead of tanh (forward), backward with tanh's derivative"),
    _P("gru_cell_r_tanh", "gru_cell", GRUCellRTanh, "h_next", {}, "r is a tanh: forward differs",
       suspect="reset gate r computed with tanh instead of sigmoid (forward), backward with sigmoid's derivative"),
    _P("gru_cell_dq_n_without_r", "gru_cell", GRUCellDqNWithoutR, "dh", {},
       "dx is right (da_n is); dh, dW_hn and db_hn lack r",
       suspect="the gradient of W_hn h + b_hn taken as da_n, without r"),
    _P("gru_cell_z_swapped_in_backward", "gru_cell", GRUCellZSwappedInBackward, "dx", {},
       "da_n scaled by z instead of 1 - z",
       suspect="z and 1 - z swapped in backward"),
    _P("gru_cell_reset_grad_missing", "gru_cell", GRUCellResetGradMissing, "dx", {},
       "da_r = 0, and dx includes da_r W_ir",
       suspect="reset-gate gradient missing (da_r = 0)"),
]
