"""The gated families' reference beyond ``torch.nn.LSTM`` / ``torch.nn.GRU``: one step function
each, an explicit loop of it, and the running error bound of every compared tensor.

``torch.nn.LSTM`` only shows its inputs, output and final states. ``gated_loop`` runs
``lstm_step`` / ``gru_step`` (the equations in torch ops, float64) over layers, directions and
time and shows every intermediate (gates after their activation, cell states, the projected
and unprojected h) and, through autograd, dL/dh_t, dL/dc_t and dL/dhf_t for the same
upstream gradients. ``lstm_bounds`` / ``gru_bounds`` evaluate the whole forward and backward
computation on magnitudes at those states: the running error bound M that the one tolerance
rule (``parity_tests/core/tolerance.py``, ``allowed_error``, unchanged) uses as its scale.
The cells (``LSTMCell``, ``GRUCell``) are the T = 1, one-layer, one-direction case of the
same functions. The loop is cross-checked against torch's modules in
``parity_tests/meta_tests/test_gated_bounds.py``, so it cannot drift.

Derivation
==========

The per-operation rules are the RNN's (``core/tolerance.py`` states them; inputs exact,
M = |input|; M >= |value| everywhere, by induction from the rules below):

    product / sum          M(sum_i p_i q_i) = sum_i (M_p_i |q_i| + |p_i| M_q_i)
    tanh                   M_t = (1 - t^2) M_a + r [M_a > 0],            r = 1
    its derivative         M(1 - t^2) = 2 |t| M_t + r' [M_t > 0],        r' = 1
    sigmoid                M_s = s (1 - s) M_a + r_s [M_a > 0],          r_s = 1
    its derivative         M(s (1 - s)) = |1 - 2 s| M_s + r'_s [M_s > 0], r'_s = 1

**Sigmoid, like tanh, rounds ABSOLUTELY** (``SIGMOID_ROUNDING``). scratch computes
sigmoid(a) = (1 + tanh(a/2)) / 2: the tanh errs by <= u |t| (libm) and the sum 1 + t by u,
the halving is exact, so s errs by <= u absolute, which is *not* small relative to s when
a is very negative (s ~ e^a). Users write 1 / (1 + exp(-a)): exp errs by u relative, the
sum and the division by u each, so 3u s, relative; or exp(a) / (1 + exp(a)), the same.
Either is a few eps absolute (s < 1), ``r_s = 1`` in units of M (the constant is in the
1000, as gamma_n's n is). The derivative s (1 - s) from a computed s errs by |1 - 2s| times
s's error plus the rounding of the subtraction and the product, <= 2u absolute (the value
is <= 1/4); exp(-a) / (1 + exp(-a))^2 from a is a few eps relative: both ``r'_s = 1``.
Where M_a = 0 the argument is exactly 0 on every side (zero weights, zero inputs) and every
formula gives sigmoid(0) = 1/2 and 1/4 exactly, tanh(0) = 0: structural values stay exact.

LSTM, one step of one (layer, direction), gates stacked i, f, g, o (torch's order)::

    forward
      M_a   = M_x |W_ih|^T + M_hprev |W_hh|^T + |b_ih| + |b_hh|              (B, 4H)
      M_i, M_f, M_o  by the sigmoid rule, M_g by the tanh rule, each from its block of M_a
      M_c'  = M_f |c| + f M_c + M_i |g| + i M_g                     c' = f c + i g
      M_tc  = (1 - tc^2) M_c' + [M_c' > 0]                         tc = tanh(c')
      M_hf  = M_o |tc| + o M_tc                                    hf = o tc
      M_h'  = M_hf |W_hr|^T  (proj_size > 0), else M_hf             h' = hf W_hr^T
    backward, in reverse processing order, dh' = d_output_t + (from step t + 1), the
    values |dh'|, |dc'| (the total reaching c'), |dhf| from the reference's autograd:
      M_dh' = |d_output_t| (or the layer above's M_dx) + carry_h,    carry_h = |d_h_n| first
      M_dhf = M_dh' |W_hr|  (or M_dh')                              dW_hr: sum_t M_dh'^T M_hf
      M_dc  = carry_c + M_dhf o (1 - tc^2) + |dhf| M_o (1 - tc^2) + |dhf| o M(1 - tc^2)
                                                                   carry_c = |d_c_n| first
      M_da_i = M_dc |g| s_i' + |dc| M_g s_i' + |dc| |g| M(s_i')     s' = s (1 - s)
      M_da_f = M_dc |c| s_f' + |dc| M_c s_f' + |dc| |c| M(s_f')     (c: the state entering)
      M_da_g = M_dc i (1 - g^2) + |dc| M_i (1 - g^2) + |dc| i M(1 - g^2)
      M_da_o = M_dhf |tc| s_o' + |dhf| M_tc s_o' + |dhf| |tc| M(s_o')
      carry_h = M_da |W_hh|,  carry_c = M_dc f + |dc| M_f  (to step t - 1; dh0, dc0 at the end)
      M_dx = sum_directions M_da |W_ih|,  M_gW_ih = sum_t M_da^T M_x,
      M_gW_hh = sum_t M_da^T M_hprev,  M_gb_ih = M_gb_hh = sum_t M_da

GRU, gates stacked r, z, n, h' = (1 - z) n + z h::

    forward
      M_ax = M_x |W_ih|^T + |b_ih|,  M_ah = M_hprev |W_hh|^T + |b_hh|       (B, 3H)
      M_r, M_z  by the sigmoid rule from M_ax + M_ah (their r and z blocks)
      M_q  = M_ah (n block)                                        q = h W_hn^T + b_hn
      M_an = M_ax (n block) + M_r |q| + r M_q,  M_n by the tanh rule
      M_h' = M_z (|n| + |h|) + (1 - z) M_n + z M_h
             (written n + z (h - n) instead, the subtraction and the sum round by
              u (|n| + |h|), covered by M_z >= 1 wherever M_a > 0)
    backward, dh' = d_output_t + carry (the value |dh'| from autograd):
      M_da_n = M_dh' (1 - z) n' + |dh'| M_z n' + |dh'| (1 - z) M(n'),   n' = 1 - n^2
      M_dq   = M_da_n r + |da_n| M_r                                 (|da_n| = |dh'| (1 - z) n')
      M_da_r = M_da_n |q| s_r' + |da_n| M_q s_r' + |da_n| |q| M(s_r')
      M_da_z = M_dh' (|h| + |n|) s_z' + |dh'| (M_h + M_n) s_z' + |dh'| (|h| + |n|) M(s_z')
      carry  = M_dh' z + |dh'| M_z + [M_da_r, M_da_z, M_dq] |W_hh|
      M_dx = sum_directions [M_da_r, M_da_z, M_da_n] |W_ih|;  M_gW_ih, M_gb_ih from
      [M_da_r, M_da_z, M_da_n], M_gW_hh, M_gb_hh from [M_da_r, M_da_z, M_dq], as for the LSTM.

The weight gradients are sums over time and batch of products, bounded by the product rule
itself, M(sum p^T q) = sum (M_p^T |q| + |p|^T M_q) (``_sum_of_products``; |p| the
reference's per-step gradient, e.g. |da_i| = |dc| |g| s_i'), not by M_p M_q, which is up to
M/|value| times looser where both factors carry the gates' absolute rounding. The conditioning these bounds rely on (every pre-activation |a| <= weight
scale <= 3, so s' >= 0.045 and tanh' >= 0.0099 at every gate) is the strategies' job
(``parity_tests/families/gated_common.py``); the cell state may still grow to |c| ~ T and
saturate tanh(c), where the absolute term r = 1 keeps M honest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from parity_tests.core.tolerance import dphi_bound, phi_bound

from .torch_ref import per_sequence

DTYPE = torch.float64

# The absolute rounding of one evaluation of the sigmoid and of its derivative, in units of
# M (see "Sigmoid, like tanh, rounds ABSOLUTELY" above).
SIGMOID_ROUNDING = 1.0
DSIGMOID_ROUNDING = 1.0


def sigmoid_bound(s, m_a):
    """M_s = s (1 - s) M_a + r_s [M_a > 0]."""
    m_a = np.asarray(m_a, dtype=np.float64)
    return s * (1 - s) * m_a + SIGMOID_ROUNDING * (m_a > 0)


def dsigmoid_bound(s, m_s):
    """M(s (1 - s)) = |1 - 2 s| M_s + r'_s [M_s > 0]."""
    m_s = np.asarray(m_s, dtype=np.float64)
    return np.abs(1 - 2 * s) * m_s + DSIGMOID_ROUNDING * (m_s > 0)


def tanh_bound(t, m_a):
    return phi_bound("tanh", 1 - t**2, t, m_a)


def dtanh_bound(t, m_t):
    return dphi_bound("tanh", t, m_t)


# ---------------------------------------------------------------------------------------
# The step functions, in torch ops. Every name is torch's; x_t (B, I), h (B, R), c (B, H).
# ---------------------------------------------------------------------------------------
def lstm_step(x_t, h, c, w_ih, w_hh, b_ih=None, b_hh=None, w_hr=None):
    """One LSTM step: returns dict(gates=[i, f, g, o] (B, 4H), c=c', tc=tanh(c'), hf=o tc, h=h')."""
    a = x_t @ w_ih.T + h @ w_hh.T
    if b_ih is not None:
        a = a + b_ih + b_hh
    i, f, g, o = a.chunk(4, dim=-1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c2 = f * c + i * g
    tc = torch.tanh(c2)
    hf = o * tc
    h2 = hf @ w_hr.T if w_hr is not None else hf
    return dict(gates=torch.cat([i, f, g, o], dim=-1), c=c2, tc=tc, hf=hf, h=h2)


def gru_step(x_t, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """One GRU step: returns dict(gates=[r, z, n] (B, 3H), q=h W_hn^T + b_hn, h=h')."""
    ax, ah = x_t @ w_ih.T, h @ w_hh.T
    if b_ih is not None:
        ax, ah = ax + b_ih, ah + b_hh
    ax_r, ax_z, ax_n = ax.chunk(3, dim=-1)
    ah_r, ah_z, q = ah.chunk(3, dim=-1)
    r, z = torch.sigmoid(ax_r + ah_r), torch.sigmoid(ax_z + ah_z)
    n = torch.tanh(ax_n + r * q)
    h2 = (1 - z) * n + z * h
    return dict(gates=torch.cat([r, z, n], dim=-1), q=q, h=h2)


@dataclass
class GatedTrace:
    """Intermediates of one (layer, direction), ORIGINAL time order, numpy float64."""

    layer_input: np.ndarray  # (T, B, I_k)
    h_prev: np.ndarray  # (T, B, R): the h each step read
    c_prev: np.ndarray | None  # (T, B, H): the c each step read (LSTM)
    gates: np.ndarray  # (T, B, 4H) i, f, g, o / (T, B, 3H) r, z, n, after their activation
    h: np.ndarray  # (T, B, R)
    c: np.ndarray | None  # (T, B, H) (LSTM)
    tc: np.ndarray | None  # tanh(c) (LSTM)
    hf: np.ndarray | None  # o tanh(c), before the projection (LSTM)
    q: np.ndarray | None  # h W_hn^T + b_hn (GRU)
    dh: np.ndarray  # dL/dh_t, everything that reaches h_t
    dc: np.ndarray | None  # dL/dc_t, everything that reaches c_t (LSTM)
    dhf: np.ndarray | None  # dL/dhf_t (LSTM)


@dataclass
class GatedLoop:
    output: np.ndarray  # time-major (T, B, D*R)
    states: list  # [h_n] or [h_n, c_n]
    dx: np.ndarray  # time-major
    d_init: list  # [dh0] or [dh0, dc0]
    grads: dict
    traces: dict  # (layer, direction) -> GatedTrace


def _t(a, grad=False):
    t = torch.tensor(np.asarray(a, dtype=np.float64))
    return t.requires_grad_(grad)


def gated_loop(kind: str, kwargs: dict, params: dict, x, init, d_output, d_final, truncate=None) -> GatedLoop:
    """Forward and VJP of an LSTM (``kind="LSTM"``) or GRU as a loop of the step function,
    all arrays TIME-MAJOR and batched: x (T, B, I); ``init`` one array or None per state
    ((h0, c0) or (h0,), (L*D, B, R) / (L*D, B, H)); d_output (T, B, D*R); ``d_final`` the
    upstream gradients of (h_n, c_n) or (h_n,).

    ``truncate=k``: every state (h, and c for the LSTM) entering processing steps k, 2k, ...
    is detached, in every layer: torch run k steps at a time with the states detached
    between chunks (``torch_ref.extension_call``) computes exactly this, since a chunk's layers
    all stop at the same step. The traces' dh, dc, dhf are then the truncated gradients."""
    L = kwargs.get("num_layers", 1)
    D = 2 if kwargs.get("bidirectional") else 1
    H = kwargs["hidden_size"]
    R = kwargs.get("proj_size", 0) or H
    bias = kwargs.get("bias", True)
    lstm = kind == "LSTM"
    P = {k: _t(v, True) for k, v in params.items()}
    xt = _t(x, True)
    T, B, _ = xt.shape
    sizes = (R, H) if lstm else (H,)
    init_t = [(torch.zeros((L * D, B, n), dtype=DTYPE) if v is None else _t(v)).requires_grad_(True)
              for v, n in zip(init, sizes)]

    steps, finals, layer_in = {}, [[] for _ in sizes], xt
    for layer in range(L):
        outs = []
        for d in range(D):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            w = [P[f"weight_ih{sfx}"], P[f"weight_hh{sfx}"]]
            w += [P[f"bias_ih{sfx}"], P[f"bias_hh{sfx}"]] if bias else [None, None]
            state = [s[layer * D + d] for s in init_t]
            record = [None] * T
            for s, t in enumerate(range(T - 1, -1, -1) if d else range(T)):
                if truncate and s and s % truncate == 0:
                    state = [v.detach() for v in state]  # the gradient stops here
                if lstm:
                    out = lstm_step(layer_in[t], *state, *w, P.get(f"weight_hr{sfx}"))
                else:
                    out = gru_step(layer_in[t], *state, *w)
                out["h_prev"], out["c_prev"] = state[0], state[1] if lstm else None
                for key in ("h", "c", "hf") if lstm else ("h",):
                    out[key].retain_grad()
                state = [out["h"], out["c"]] if lstm else [out["h"]]
                record[t] = out
            steps[(layer, d)] = (layer_in, record)
            outs.append(torch.stack([r["h"] for r in record]))
            for k, s in enumerate(state):
                finals[k].append(s)
        layer_in = torch.cat(outs, dim=-1)
    output, finals = layer_in, [torch.stack(f) for f in finals]

    names = list(params)
    retained = [r[k] for _, rec in steps.values() for r in rec for k in (("h", "c", "hf") if lstm else ("h",))]
    torch.autograd.backward(
        (output, *finals),
        grad_tensors=(_t(d_output), *[_t(g) for g in d_final]),
        inputs=[xt, *init_t, *[P[n] for n in names], *retained],
    )

    def stack(rec, key, grad=False):
        if rec[0].get(key) is None:
            return None
        ts = [r[key] for r in rec]
        return torch.stack([_grad(t) for t in ts]).numpy() if grad else torch.stack(ts).detach().numpy()

    traces = {}
    for key, (lin, rec) in steps.items():
        traces[key] = GatedTrace(
            layer_input=lin.detach().numpy(), h_prev=stack(rec, "h_prev"), c_prev=stack(rec, "c_prev"),
            gates=stack(rec, "gates"), h=stack(rec, "h"), c=stack(rec, "c"), tc=stack(rec, "tc"),
            hf=stack(rec, "hf"), q=stack(rec, "q"), dh=stack(rec, "h", True),
            dc=stack(rec, "c", True) if lstm else None, dhf=stack(rec, "hf", True) if lstm else None,
        )
    return GatedLoop(
        output=output.detach().numpy(), states=[f.detach().numpy() for f in finals], dx=_grad(xt).numpy(),
        d_init=[_grad(s).numpy() for s in init_t], grads={n: _grad(P[n]).numpy() for n in names}, traces=traces,
    )


def _grad(t: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(t).detach() if t.grad is None else t.grad.detach()


# ---------------------------------------------------------------------------------------
# The running error bounds (the module docstring derives every line).
# ---------------------------------------------------------------------------------------
def _abs(a):
    return np.abs(np.asarray(a, dtype=np.float64))


def _sum_of_products(m_p, p, m_q, q):
    """M(sum_{t,b} p^T q) = sum_{t,b} (M_p^T |q| + |p|^T M_q): a weight gradient (out, in) from
    the per-step gradients p (T, B, out) and the inputs q (T, B, in), values and bounds."""
    T, B = m_p.shape[:2]
    flat = lambda a: np.abs(np.asarray(a, dtype=np.float64)).reshape(T * B, -1)  # noqa: E731
    return flat(m_p).T @ flat(q) + flat(p).T @ flat(m_q)


# ---------------------------------------------------------------------------------------
# scratch's extensions: variable lengths and truncated BPTT.
#
# Truncated BPTT (``truncate=k``). The forward computation is unchanged (a detach changes no
# value), so are its bounds. In the backward loop (reverse processing order) the carries
# computed at processing step s are the bounds of the gradient that reaches the states
# ENTERING step s (h_{s-1}, c_{s-1}; h0, c0 at s = 0) through step s. Where those states were
# detached (s = k, 2k, ...), that gradient is exactly zero on every side: nothing is
# computed, nothing rounds, so its bound is exactly zero too (``_cut``), and the step below
# starts from d_output (or the layer above's dx) alone, as the gradient itself does. The
# values the bounds read (|dh|, |dc|, |dhf|) come from ``gated_loop`` run with the same
# ``truncate``, so they are the truncated gradients. s = 0 is never cut: step 0 lies in the
# first chunk, so dh0 and dc0 keep their ordinary bounds. Every other bound (dx, the weight
# gradients) is built from these per-step bounds, unchanged. Keeping the carry instead would
# be sound but loose; the meta test checks the bound of a cut step is zero and that dh0 is
# then bounded by the first chunk alone.
#
# Variable ``lengths`` (``per_sequence``). torch's packed path (and scratch's) computes every
# sequence on its own valid steps 0..n_b-1 (a reverse direction starts at n_b - 1): a batch
# row never reads another's numbers, and a GEMM over a smaller batch forms every entry
# from the same terms. So each sequence is bounded on its own, exactly as a batch of one of
# length n_b, and put back in place; outputs and dx past n_b are exactly zero (bound 0), the
# parameter gradients are sums over the batch, so their bounds add.
# ---------------------------------------------------------------------------------------
def _cut(truncate, T: int, t: int, d: int) -> bool:
    """Were the states entering time step ``t`` of direction ``d`` detached? (processing step
    s = t forward, T - 1 - t in reverse; cut at s = k, 2k, ...)."""
    s = T - 1 - t if d else t
    return bool(truncate) and s > 0 and s % truncate == 0


def lstm_bounds(kwargs: dict, params: dict, x, h0, c0, d_output, d_h_n, d_c_n, *, lengths=None,
                truncate=None) -> dict:
    """M of every LSTM tensor: output, h_n, c_n, dx, dh0, dc0 and every parameter gradient
    (keys "grad <name>"). TIME-MAJOR arrays in and out; h0 / c0 None for zeros.
    ``lengths``: each sequence bounded on its own valid steps (``per_sequence``);
    ``truncate=k``: the states detached entering processing steps k, 2k, ... (see below)."""
    if lengths is not None:
        return per_sequence(lambda x_, init, d_out, d_fin: lstm_bounds(kwargs, params, x_, *init, d_out, *d_fin),
                            x, (h0, c0), d_output, (d_h_n, d_c_n), lengths)
    loop = gated_loop("LSTM", kwargs, params, x, (h0, c0), d_output, (d_h_n, d_c_n), truncate)
    L, D = kwargs.get("num_layers", 1), 2 if kwargs.get("bidirectional") else 1
    H, bias = kwargs["hidden_size"], kwargs.get("bias", True)
    R, proj = kwargs.get("proj_size", 0) or H, bool(kwargs.get("proj_size", 0))
    Ab = {k: _abs(v) for k, v in params.items()}
    x = _abs(x)
    T, B, _ = x.shape
    M0 = [np.zeros((L * D, B, n)) if v is None else _abs(v) for v, n in zip((h0, c0), (R, H))]

    # -- forward ---------------------------------------------------------------------
    Mx, fwd, Mhn, Mcn = [x], {}, np.empty((L * D, B, R)), np.empty((L * D, B, H))
    for layer in range(L):
        outs = []
        for d in range(D):
            sfx, tr = f"_l{layer}" + ("_reverse" if d else ""), loop.traces[(layer, d)]
            b = Ab[f"bias_ih{sfx}"] + Ab[f"bias_hh{sfx}"] if bias else 0.0
            m = {k: np.empty((T, B, n)) for k, n in
                 (("hp", R), ("cp", H), ("gates", 4 * H), ("c", H), ("tc", H), ("hf", H), ("h", R))}
            mh, mc = M0[0][layer * D + d], M0[1][layer * D + d]
            for t in (range(T - 1, -1, -1) if d else range(T)):
                i, f, g, o = np.split(tr.gates[t], 4, axis=-1)
                m["hp"][t], m["cp"][t] = mh, mc
                ma = Mx[layer][t] @ Ab[f"weight_ih{sfx}"].T + mh @ Ab[f"weight_hh{sfx}"].T + b
                ma_i, ma_f, ma_g, ma_o = np.split(ma, 4, axis=-1)
                mi, mf, mg, mo = sigmoid_bound(i, ma_i), sigmoid_bound(f, ma_f), tanh_bound(g, ma_g), sigmoid_bound(o, ma_o)
                m["gates"][t] = np.concatenate([mi, mf, mg, mo], axis=-1)
                mc = mf * np.abs(tr.c_prev[t]) + f * mc + mi * np.abs(g) + i * mg
                mtc = tanh_bound(tr.tc[t], mc)
                mhf = mo * np.abs(tr.tc[t]) + o * mtc
                mh = mhf @ Ab[f"weight_hr{sfx}"].T if proj else mhf
                m["c"][t], m["tc"][t], m["hf"][t], m["h"][t] = mc, mtc, mhf, mh
            fwd[(layer, d)] = m
            Mhn[layer * D + d], Mcn[layer * D + d] = mh, mc
            outs.append(m["h"])
        Mx.append(np.concatenate(outs, axis=-1))

    # -- backward, top layer down ----------------------------------------------------
    mags: dict = {}
    Mdh0, Mdc0 = np.empty((L * D, B, R)), np.empty((L * D, B, H))
    Mdy = _abs(d_output)
    for layer in range(L - 1, -1, -1):
        Mdx = np.zeros_like(Mx[layer])
        for d in range(D):
            sfx, tr, m = f"_l{layer}" + ("_reverse" if d else ""), loop.traces[(layer, d)], fwd[(layer, d)]
            w_hh, w_hr = Ab[f"weight_hh{sfx}"], Ab.get(f"weight_hr{sfx}")
            Mda, Mdh, Ada = np.empty((T, B, 4 * H)), np.empty((T, B, R)), np.empty((T, B, 4 * H))
            carry_h, carry_c = _abs(d_h_n)[layer * D + d], _abs(d_c_n)[layer * D + d]
            for t in (range(T) if d else range(T - 1, -1, -1)):  # reverse processing order
                i, f, g, o = np.split(tr.gates[t], 4, axis=-1)
                mi, mf, mg, mo = np.split(m["gates"][t], 4, axis=-1)
                tc, mtc, cp, mcp = tr.tc[t], m["tc"][t], np.abs(tr.c_prev[t]), m["cp"][t]
                dc, dhf = np.abs(tr.dc[t]), np.abs(tr.dhf[t])
                Mdh[t] = mdh = Mdy[t, :, d * R:(d + 1) * R] + carry_h
                mdhf = mdh @ w_hr if proj else mdh
                dtc = 1 - tc**2
                mdc = carry_c + mdhf * o * dtc + dhf * mo * dtc + dhf * o * dtanh_bound(tc, mtc)
                si, sf, so, dg = i * (1 - i), f * (1 - f), o * (1 - o), 1 - g**2
                Mda[t] = np.concatenate([
                    mdc * np.abs(g) * si + dc * mg * si + dc * np.abs(g) * dsigmoid_bound(i, mi),
                    mdc * cp * sf + dc * mcp * sf + dc * cp * dsigmoid_bound(f, mf),
                    mdc * i * dg + dc * mi * dg + dc * i * dtanh_bound(g, mg),
                    mdhf * np.abs(tc) * so + dhf * mtc * so + dhf * np.abs(tc) * dsigmoid_bound(o, mo),
                ], axis=-1)
                Ada[t] = np.concatenate([dc * np.abs(g) * si, dc * cp * sf, dc * i * dg, dhf * np.abs(tc) * so], axis=-1)
                carry_h = Mda[t] @ w_hh
                carry_c = mdc * f + dc * mf
                if _cut(truncate, T, t, d):  # the states entering this step were detached:
                    carry_h, carry_c = np.zeros_like(carry_h), np.zeros_like(carry_c)
            Mdh0[layer * D + d], Mdc0[layer * D + d] = carry_h, carry_c
            Mdx += Mda @ Ab[f"weight_ih{sfx}"]
            mags[f"grad weight_ih{sfx}"] = _sum_of_products(Mda, Ada, Mx[layer], tr.layer_input)
            mags[f"grad weight_hh{sfx}"] = _sum_of_products(Mda, Ada, m["hp"], tr.h_prev)
            if bias:
                mags[f"grad bias_ih{sfx}"] = mags[f"grad bias_hh{sfx}"] = Mda.reshape(T * B, -1).sum(axis=0)
            if proj:
                mags[f"grad weight_hr{sfx}"] = _sum_of_products(Mdh, tr.dh, m["hf"], tr.hf)
        Mdy = Mdx
    mags.update(output=Mx[L], h_n=Mhn, c_n=Mcn, dx=Mdy, dh0=Mdh0, dc0=Mdc0)
    return mags


def gru_bounds(kwargs: dict, params: dict, x, h0, d_output, d_h_n, *, lengths=None, truncate=None) -> dict:
    """M of every GRU tensor: output, h_n, dx, dh0 and every parameter gradient. TIME-MAJOR.
    ``lengths`` and ``truncate`` as for ``lstm_bounds``."""
    if lengths is not None:
        return per_sequence(lambda x_, init, d_out, d_fin: gru_bounds(kwargs, params, x_, *init, d_out, *d_fin),
                            x, (h0,), d_output, (d_h_n,), lengths)
    loop = gated_loop("GRU", kwargs, params, x, (h0,), d_output, (d_h_n,), truncate)
    L, D = kwargs.get("num_layers", 1), 2 if kwargs.get("bidirectional") else 1
    H, bias = kwargs["hidden_size"], kwargs.get("bias", True)
    Ab = {k: _abs(v) for k, v in params.items()}
    x = _abs(x)
    T, B, _ = x.shape
    M0 = np.zeros((L * D, B, H)) if h0 is None else _abs(h0)

    Mx, fwd, Mhn = [x], {}, np.empty((L * D, B, H))
    for layer in range(L):
        outs = []
        for d in range(D):
            sfx, tr = f"_l{layer}" + ("_reverse" if d else ""), loop.traces[(layer, d)]
            bi = Ab[f"bias_ih{sfx}"] if bias else 0.0
            bh = Ab[f"bias_hh{sfx}"] if bias else 0.0
            m = {k: np.empty((T, B, n)) for k, n in (("hp", H), ("gates", 3 * H), ("q", H), ("h", H))}
            mh = M0[layer * D + d]
            for t in (range(T - 1, -1, -1) if d else range(T)):
                r, z, n = np.split(tr.gates[t], 3, axis=-1)
                q, hp = np.abs(tr.q[t]), np.abs(tr.h_prev[t])
                m["hp"][t] = mh
                max_ = Mx[layer][t] @ Ab[f"weight_ih{sfx}"].T + bi
                mah = mh @ Ab[f"weight_hh{sfx}"].T + bh
                mx_r, mx_z, mx_n = np.split(max_, 3, axis=-1)
                mh_r, mh_z, mq = np.split(mah, 3, axis=-1)
                mr, mz = sigmoid_bound(r, mx_r + mh_r), sigmoid_bound(z, mx_z + mh_z)
                mn = tanh_bound(n, mx_n + mr * q + r * mq)
                m["gates"][t] = np.concatenate([mr, mz, mn], axis=-1)
                m["q"][t] = mq
                mh = mz * (np.abs(n) + hp) + (1 - z) * mn + z * mh
                m["h"][t] = mh
            fwd[(layer, d)] = m
            Mhn[layer * D + d] = mh
            outs.append(m["h"])
        Mx.append(np.concatenate(outs, axis=-1))

    mags: dict = {}
    Mdh0 = np.empty((L * D, B, H))
    Mdy = _abs(d_output)
    for layer in range(L - 1, -1, -1):
        Mdx = np.zeros_like(Mx[layer])
        for d in range(D):
            sfx, tr, m = f"_l{layer}" + ("_reverse" if d else ""), loop.traces[(layer, d)], fwd[(layer, d)]
            w_hh = Ab[f"weight_hh{sfx}"]
            Mdax, Mdah = np.empty((T, B, 3 * H)), np.empty((T, B, 3 * H))
            Adax, Adah = np.empty((T, B, 3 * H)), np.empty((T, B, 3 * H))
            carry = _abs(d_h_n)[layer * D + d]
            for t in (range(T) if d else range(T - 1, -1, -1)):
                r, z, n = np.split(tr.gates[t], 3, axis=-1)
                mr, mz, mn = np.split(m["gates"][t], 3, axis=-1)
                q, mq, hp, mhp, dh = np.abs(tr.q[t]), m["q"][t], np.abs(tr.h_prev[t]), m["hp"][t], np.abs(tr.dh[t])
                mdh = Mdy[t, :, d * H:(d + 1) * H] + carry
                dn, sr, sz = 1 - n**2, r * (1 - r), z * (1 - z)
                mdan = mdh * (1 - z) * dn + dh * mz * dn + dh * (1 - z) * dtanh_bound(n, mn)
                dan = dh * (1 - z) * dn
                mdq = mdan * r + dan * mr
                mdar = mdan * q * sr + dan * mq * sr + dan * q * dsigmoid_bound(r, mr)
                hn = hp + np.abs(n)
                mdaz = mdh * hn * sz + dh * (mhp + mn) * sz + dh * hn * dsigmoid_bound(z, mz)
                Mdax[t] = np.concatenate([mdar, mdaz, mdan], axis=-1)
                Mdah[t] = np.concatenate([mdar, mdaz, mdq], axis=-1)
                dar, daz = dan * q * sr, dh * np.abs(tr.h_prev[t] - n) * sz
                Adax[t] = np.concatenate([dar, daz, dan], axis=-1)
                Adah[t] = np.concatenate([dar, daz, dan * r], axis=-1)
                carry = mdh * z + dh * mz + Mdah[t] @ w_hh
                if _cut(truncate, T, t, d):  # h entering this step was detached
                    carry = np.zeros_like(carry)
            Mdh0[layer * D + d] = carry
            Mdx += Mdax @ Ab[f"weight_ih{sfx}"]
            mags[f"grad weight_ih{sfx}"] = _sum_of_products(Mdax, Adax, Mx[layer], tr.layer_input)
            mags[f"grad weight_hh{sfx}"] = _sum_of_products(Mdah, Adah, m["hp"], tr.h_prev)
            if bias:
                mags[f"grad bias_ih{sfx}"] = Mdax.reshape(T * B, -1).sum(axis=0)
                mags[f"grad bias_hh{sfx}"] = Mdah.reshape(T * B, -1).sum(axis=0)
        Mdy = Mdx
    mags.update(output=Mx[L], h_n=Mhn, dx=Mdy, dh0=Mdh0)
    return mags
