"""The gated families' diagnosis hooks (LSTM, GRU, LSTMCell, GRUCell): where a mismatch is,
gate by gate, and which classic gated mistake it is (``diagnosis/`` calls these through the
records' ``localize`` / ``mutants``).

Localization (black-box probing through the contract, judged by the one tolerance rule):

- forward: per (layer, direction) and time step where the output first diverges (in that
  direction's processing order), which final states (h_n, c_n) differ, and whether c
  differs while h agrees.
- backward: (1) a per-gate summary of every parameter gradient: the stacked rows
  (i, f, g, o / r, z, n) that differ and those that agree, e.g. "rows of gate f differ in
  grad weight_ih_l0, grad weight_hh_l0, ...; gates i, g and o agree" -- the most telling
  gated diagnosis, since most gated mistakes touch one gate's local derivative;
  (2) each upstream gradient alone (d_output, d_h_n, d_c_n): which one the implementation
  handles wrongly; (3) an upstream gradient on the last time step only: how far back dx
  stays right (the gradient carried through time).

Suspects (``mutants``): each classic mistake COMPUTED with a small NumPy forward and BPTT of
the gated layer written here (stacked gates, time-major; a third implementation, neither
scratch nor ``planted/gated.py``), run in float64 on the probe's arrays with one mistake
(``BACKWARD`` / ``FORWARD_ONLY`` flags); gate orders read wrong are the correct model run on
the weights as the mistaken reader sees them (rows permuted) with its gradients stacked back
in its order. ``diagnosis.suspects`` prints one only if it reproduces EVERY tensor the
implementation returned and differs from torch; the family-independent suspects (transposed,
swapped, / B, clipped, a state's gradient zero, sign, a bias) come from ``diagnosis/``. The
engine with no mistake equals torch (``meta_tests/test_gated_diagnosis.py``), so a mutant
differs from torch only by its mistake. A cell is the layer at T = 1, one layer, one
direction (``_Problem.from_probe``), with the cell's names mapped back.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import permutations

import numpy as np

from ..core.contract import zero_inputs
from ..core.tolerance import allowed_error
from ..diagnosis import Suspect, after_forward, join
from .gated_common import GRU_GATES, LSTM_GATES, direction_name, parse_param


def _sig(a):
    """sigmoid(a) = (1 + tanh(a / 2)) / 2: never overflows (warnings are errors here)."""
    return 0.5 * (1.0 + np.tanh(0.5 * a))


# =======================================================================================
# The problem: the probe's arrays, float64, time-major, as a layer (a cell is T = 1).
# =======================================================================================
@dataclass
class _Problem:
    kind: str  # "LSTM" or "GRU"
    cell: bool
    L: int
    D: int
    H: int
    R: int
    T: int
    B: int
    bias: bool
    batch_first: bool
    params: dict  # layer names (weight_ih_l0, ...), float64
    x: np.ndarray  # (T, B, I)
    init: list  # [h0, c0] / [h0], (L*D, B, .), zeros when absent
    d_output: np.ndarray  # (T, B, D*R)
    d_final: list  # [d_h_n, d_c_n] / [d_h_n]
    mean: bool = False  # --reduction mean: parameter gradients / B
    gates: str = field(init=False)

    def __post_init__(self):
        self.gates = "".join(LSTM_GATES if self.kind == "LSTM" else GRU_GATES)

    @classmethod
    def from_probe(cls, probe):
        fam, c, a = probe.case.family.name, probe.config, probe.arrays
        f64 = lambda v: None if v is None else np.asarray(v, dtype=np.float64)  # noqa: E731
        kind = "LSTM" if fam.startswith("lstm") else "GRU"
        mean = getattr(probe.cls, "reduction", "sum") == "mean"
        H, B = c.hidden_size, c.batch
        if fam.endswith("_cell"):
            params = {f"{k}_l0": f64(v) for k, v in a["params"].items()}
            names = ("h", "c") if kind == "LSTM" else ("h",)
            init = [np.zeros((1, B, H)) if a[n] is None else f64(a[n])[None] for n in names]
            d_out = f64(a["d_h_next"])[None]
            d_final = [np.zeros((1, B, H))] + ([f64(a["d_c_next"])[None]] if kind == "LSTM" else [])
            return cls(kind, True, 1, 1, H, H, 1, B, c.bias, False, params, f64(a["x"])[None], init, d_out,
                       d_final, mean)
        tm = (lambda v: v.swapaxes(0, 1)) if c.batch_first else (lambda v: v)  # noqa: E731
        L, D, R = c.num_layers, c.num_directions, c.out_size
        names = ("h0", "c0") if kind == "LSTM" else ("h0",)
        sizes = (R, H) if kind == "LSTM" else (H,)
        init = [np.zeros((L * D, B, n)) if a[k] is None else f64(a[k]) for k, n in zip(names, sizes)]
        d_final = [f64(a[k]) for k in (("d_h_n", "d_c_n") if kind == "LSTM" else ("d_h_n",))]
        return cls(kind, False, L, D, H, R, c.seq_len, B, c.bias, c.batch_first,
                   {k: f64(v) for k, v in a["params"].items()}, tm(f64(a["x"])), init, tm(f64(a["d_output"])),
                   d_final, mean)

    def to_contract(self, r: dict) -> dict:
        """The engine's time-major layer results under the contract's names."""
        grads = {f"grad {k}": v / (self.B if self.mean else 1) for k, v in r["grads"].items()}
        if self.cell:
            out = {"h_next": r["output"][0], "dx": r["dx"][0], "dh": r["d_init"][0][0]}
            if self.kind == "LSTM":
                out.update(c_next=r["states"][1][0], dc=r["d_init"][1][0])
            out.update({k.removesuffix("_l0"): v for k, v in grads.items()})
            return out
        tm = (lambda v: v.swapaxes(0, 1)) if self.batch_first else (lambda v: v)  # noqa: E731
        out = {"output": tm(r["output"]), "h_n": r["states"][0], "dx": tm(r["dx"]), "dh0": r["d_init"][0]}
        if self.kind == "LSTM":
            out.update(c_n=r["states"][1], dc0=r["d_init"][1])
        out.update(grads)
        return out


# =======================================================================================
# The engine: forward and BPTT of the stacked-gate layer, with optional mistakes.
# =======================================================================================
def _forward(p: _Problem, m: frozenset):
    L, D, T, H = p.L, p.D, p.T, p.H
    lstm = p.kind == "LSTM"
    tapes, finals, layer_in = {}, [[] for _ in p.init], p.x
    for layer in range(L):
        outs = []
        for d in range(D):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            w_ih, w_hh = p.params[f"weight_ih{sfx}"], p.params[f"weight_hh{sfx}"]
            G = w_ih.shape[0]
            b_ih = p.params[f"bias_ih{sfx}"] if p.bias else np.zeros(G)
            b_hh = p.params[f"bias_hh{sfx}"] if p.bias else np.zeros(G)
            w_hr = p.params.get(f"weight_hr{sfx}")
            states = [s[layer * D + d] for s in p.init]
            order = list(range(T - 1, -1, -1)) if d else list(range(T))
            out, tape = [None] * T, [None] * T
            for t in order:
                x, h = layer_in[t], states[0]
                if lstm:
                    c = states[1]
                    a = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh
                    cand = _sig if "g_sigmoid" in m else np.tanh  # "g_sigmoid": g = sigmoid(a_g), forward
                    i, f, g, o = (_sig(a[:, :H]), _sig(a[:, H:2 * H]), cand(a[:, 2 * H:3 * H]), _sig(a[:, 3 * H:]))
                    c2 = f * c + i * g
                    tc = np.tanh(c2)
                    hf = o * (c2 if "h_is_o_c" in m else tc)  # "h_is_o_c": h = o * c, tanh(c) left out
                    h2 = hf @ w_hr.T if w_hr is not None else hf
                    # "tc_is_c": the backward reads c where torch's reads tanh(c) (the exact
                    # backward of h = o * c with "h_is_o_c"; without it the backward computes
                    # tanh(c) itself, as CS231n's step backward does from its cached next_c)
                    tape[t] = dict(x=x, h=h, c=c, a=a, i=i, f=f, g=g, o=o, c2=c2, tc=c2 if "tc_is_c" in m else tc,
                                   hf=hf, h_new=h2)
                    states = [h2, c2]
                else:
                    ax = x @ w_ih.T + b_ih
                    hw = h @ w_hh.T  # without b_hh
                    a_r = ax[:, :H] + hw[:, :H] + b_hh[:H]
                    a_z = ax[:, H:2 * H] + hw[:, H:2 * H] + b_hh[H:2 * H]
                    # "r_tanh" / "z_tanh": the gate through tanh instead of sigmoid, forward
                    r = np.tanh(a_r) if "r_tanh" in m else _sig(a_r)
                    z = np.tanh(a_z) if "z_tanh" in m else _sig(a_z)
                    hw_n, b_hn = hw[:, 2 * H:], b_hh[2 * H:]
                    if "reset_before" in m or "reset_before_forward" in m:  # Cho et al.'s: W_hn (r * h)
                        hw_n = (r * h) @ w_hh[2 * H:].T
                        a_n = ax[:, 2 * H:] + hw_n + b_hn
                    elif "bhn_outside" in m:  # n = tanh(W_in x + b_in + r * (W_hn h) + b_hn)
                        a_n = ax[:, 2 * H:] + r * hw_n + b_hn
                    else:  # torch: n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
                        a_n = ax[:, 2 * H:] + r * (hw_n + b_hn)
                    n = np.tanh(a_n)
                    h2 = (1 - z) * n + z * h
                    tape[t] = dict(x=x, h=h, a_r=a_r, a_z=a_z, a_n=a_n, r=r, z=z, n=n, hw_n=hw_n, q=hw_n + b_hn,
                                   h_new=h2)
                    states = [h2]
                out[t] = states[0]
            tapes[layer, d] = (order, tape)
            outs.append(np.stack(out))
            for k, s in enumerate(states):
                finals[k].append(s)
        layer_in = np.concatenate(outs, axis=-1)
    return layer_in, [np.stack(f) for f in finals], tapes


def _gate_prime(m: frozenset, gate: str, s, a):
    """sigmoid'(a) of one gate (i, f, o; r, z) as the mistakes in ``m`` take it, from the
    gate's value s = sigmoid(a) and its pre-activation a: s (1 - s), right;
    "sigmoid_from_preactivation": a (1 - a) (every gate); per gate, "sigmoid_prime_missing_<g>":
    1, "sigmoid_prime_as_s_<g>": s (``do *= o`` for ``do *= o * (1 - o)``),
    "sigmoid_prime_as_1ms_<g>": 1 - s (under --gru-update complement, whose z is torch's
    1 - z, the twin of "as_s"), "tanh_prime_<g>": 1 - s^2 (a gate computed with tanh, and
    differentiated as such)."""
    if f"sigmoid_prime_missing_{gate}" in m:
        return 1.0
    if f"sigmoid_prime_as_s_{gate}" in m:
        return s
    if f"sigmoid_prime_as_1ms_{gate}" in m:
        return 1 - s
    if f"tanh_prime_{gate}" in m:
        return 1 - s ** 2
    return a * (1 - a) if "sigmoid_from_preactivation" in m else s * (1 - s)


def _order_flag(m: frozenset, key: str) -> str | None:
    """The order of a ``key=order`` flag in ``m`` (``forward_order=ifog``), or None."""
    return next((f.split("=", 1)[1] for f in m if f.startswith(key + "=")), None)


def _run(p: _Problem, m: frozenset) -> dict:
    """Forward and backward with the mistakes in ``m`` (flags below); time-major layer dict.

    Two flags carry an order of the gates (torch's letters, block k read as order[k]), for a
    slip in one pass only: ``forward_order=...``: the forward reads the blocks in that order,
    the backward stacks its gradients (and multiplies the weights' blocks) in the order it is
    handed; ``backward_order=...``: the forward is right, the backward stacks the gradient of
    gate order[k] at block k (dx, dh and the weight gradients all from that stack)."""
    fwd_order, bwd_order = _order_flag(m, "forward_order"), _order_flag(m, "backward_order")
    output, states, tapes = _forward(_read_in(p, fwd_order) if fwd_order else p, m)
    L, D, T, H, R = p.L, p.D, p.T, p.H, p.R
    if "h_n_at_last_time" in m:  # each layer's h_n = its output[-1]: the reverse direction's FIRST step
        states = [states[0].copy()] + states[1:]
        for layer in range(L):
            states[0][layer * D + 1] = tapes[layer, 1][1][T - 1]["h_new"]
    lstm = p.kind == "LSTM"
    stacked_as = None
    if bwd_order:  # column block k of the stack <- the gradient of gate bwd_order[k]
        stacked_as = np.concatenate([np.arange(H) + p.gates.index(g) * H for g in bwd_order])
    grads = {}
    d_init = [np.zeros_like(s) for s in p.init]
    dy_layer = p.d_output
    for layer in range(L - 1, -1, -1):
        d_in = np.zeros((T,) + tapes[layer, 0][1][0]["x"].shape)
        for d in range(D):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            w_ih, w_hh = p.params[f"weight_ih{sfx}"], p.params[f"weight_hh{sfx}"]
            w_hr = p.params.get(f"weight_hr{sfx}")
            order, tape = tapes[layer, d]
            dys = dy_layer[:, :, d * R:(d + 1) * R]
            if "reverse_not_reordered" in m and d == 1:
                dys = dys[::-1]
            w_dx = w_hh if "dx_with_w_hh" in m else w_ih
            w_dh = w_ih if "dh_with_w_ih" in m else w_hh
            carry_h = np.zeros_like(p.d_final[0][0]) if "ignores_d_h_n" in m else p.d_final[0][layer * D + d]
            if lstm:
                carry_c = np.zeros_like(p.d_final[1][0]) if "ignores_d_c_n" in m else p.d_final[1][layer * D + d]
            g_ih, g_hh = np.zeros_like(w_ih), np.zeros_like(w_hh)
            g_bih, g_bhh = np.zeros(w_ih.shape[0]), np.zeros(w_ih.shape[0])
            g_hr = None if w_hr is None else np.zeros_like(w_hr)
            for t in reversed(order):
                tp = tape[t]
                dh = dys[t] + carry_h
                if lstm:
                    if w_hr is not None:
                        dhf = dh @ w_hr
                        g_hr += dh.T @ (tp["tc"] if "proj_operand_tc" in m else tp["hf"])
                    else:
                        dhf = dh
                    if "tanh_c_missing" in m or "tc_is_c" in m:
                        dtc = np.ones_like(tp["tc"])
                    elif "tanh_c_at_c_prev" in m:
                        dtc = 1 - np.tanh(tp["c"]) ** 2
                    elif "tanh_c_of_c" in m:
                        dtc = 1 - tp["c2"] ** 2
                    else:
                        dtc = 1 - tp["tc"] ** 2
                    dc = carry_c + dhf * tp["o"] * dtc
                    sgm = lambda k: _gate_prime(m, "ifgo"[k], tp["ifgo"[k]], tp["a"][:, k * H:(k + 1) * H])  # noqa: E731
                    g = tp["g"]
                    if "g_with_sigmoid_prime" in m:
                        dg = g * (1 - g)
                    elif "tanh_prime_from_preactivation" in m:  # tanh'(a) written 1 - a^2
                        dg = 1 - tp["a"][:, 2 * H:3 * H] ** 2
                    else:
                        dg = 1 - g if "g_tanh_prime_unsquared" in m else 1 - g ** 2
                    # "gates_without_dh_path": the gates read the carried dL/dc alone (the part
                    # through h_t left out), while what is carried back is the whole dc
                    dcg = carry_c if "gates_without_dh_path" in m else dc
                    da_x = da_h = np.concatenate([
                        dcg * g * sgm(0),
                        dcg * (tp["c2"] if "forget_uses_c_t" in m or ("forget_uses_c_t_after_first" in m
                                                                     and t != order[0]) else tp["c"]) * sgm(1),
                        dcg * tp["i"] * dg,
                        dhf * tp["tc"] * sgm(3)], axis=1)
                    if "c_not_carried" in m or ("c_not_carried_after_first" in m and t != order[0]):
                        carry_c = np.zeros_like(dc)
                    else:
                        carry_c = dc if "c_carried_without_f" in m else dc * tp["f"]
                    direct = 0.0
                else:
                    z, n, r = tp["z"], tp["n"], tp["r"]
                    if "z_swapped" in m:
                        dn, direct = dh * z, dh * (1 - z)
                    else:
                        dn, direct = dh * (1 - z), dh * z
                    dz = dh * ((n - tp["h"]) if "dz_sign" in m else (tp["h"] - n))
                    if "no_dh_through_z" in m:
                        direct = np.zeros_like(dh)
                    # "tanh_prime_from_preactivation": tanh'(a) written 1 - a^2, from the pre-activation
                    da_n = dn * (1 - (tp["a_n"] if "tanh_prime_from_preactivation" in m else n) ** 2)
                    q_r = tp["hw_n"] if "reset_grad_without_b_hn" in m else tp["q"]
                    r_prime = _gate_prime(m, "r", r, tp["a_r"])
                    if "reset_before" in m:  # a_n = ... + (r * h) W_hn^T: d(r * h) = da_n W_hn
                        d_rh = da_n @ w_hh[2 * H:]
                        da_r = d_rh * tp["h"] * r_prime
                        direct = direct + d_rh * r
                    else:
                        da_r = np.zeros_like(da_n) if "reset_grad_missing" in m else da_n * q_r * r_prime
                    da_z = dz * _gate_prime(m, "z", z, tp["a_z"])
                    da_x = np.concatenate([da_r, da_z, da_n], axis=1)
                    # "dq_n_without_r": the gradient of W_hn h + b_hn taken as da_n, not da_n * r
                    da_h = np.concatenate([da_r, da_z, da_n if "dq_n_without_r" in m else da_n * r], axis=1)
                    if "b_hn_grad_outside" in m:
                        g_bhh[2 * H:] += da_n.sum(axis=0) - (da_n * r).sum(axis=0)
                if stacked_as is not None:  # "backward_order=...": the gradients stacked in another order
                    da_x, da_h = da_x[:, stacked_as], da_h[:, stacked_as]
                # each step's share; "overwrite_*": kept instead of added (dW = ..., not +=), so
                # what is left is the share of the last step processed
                c_ih, c_hh = da_x.T @ tp["x"], da_h.T @ (tp["h_new"] if "dwhh_from_h_t" in m else tp["h"])
                if "reset_before" in m:  # W_hn multiplies r * h; b_hn is added outside r
                    c_hh[2 * H:] = da_n.T @ (tp["r"] * tp["h"])
                    da_h = np.concatenate([da_r, da_z, da_n], axis=1)
                g_ih = c_ih if "overwrite_ih" in m else g_ih + c_ih
                g_hh = c_hh if "overwrite_hh" in m else g_hh + c_hh
                for k, gate in enumerate(p.gates):  # one gate's matrix overwritten (deeplearning.ai's dWf = ...)
                    rows = slice(k * H, (k + 1) * H)
                    if f"overwrite_gate_{gate}" in m or f"overwrite_ih_gate_{gate}" in m:
                        g_ih[rows] = c_ih[rows]
                    if f"overwrite_gate_{gate}" in m or f"overwrite_hh_gate_{gate}" in m:
                        g_hh[rows] = c_hh[rows]
                if "overwrite_b" in m:
                    g_bih, g_bhh = da_x.sum(axis=0), da_h.sum(axis=0)
                else:
                    g_bih, g_bhh = g_bih + da_x.sum(axis=0), g_bhh + da_h.sum(axis=0)
                d_in[t] += da_x @ w_dx
                if "reset_before" in m:  # h reaches a_n through r * h alone: that part is in direct
                    sent = direct + da_h[:, :2 * H] @ w_dh[:2 * H]
                elif "dh_n_without_r" in m:  # dh through W_hn from da_n, not da_n * r (dh alone)
                    sent = direct + da_h[:, :2 * H] @ w_dh[:2 * H] + da_n @ w_dh[2 * H:]
                else:
                    sent = direct + da_h @ w_dh  # dL/dh_(t-1) through this step
                carry_h = np.zeros_like(sent) if "h_not_carried" in m or "h_not_added" in m else sent
            # "h_not_added": the step before never adds it, but the first step's is returned as dh0
            d_init[0][layer * D + d] = sent if "h_not_added" in m else carry_h
            if lstm:
                d_init[1][layer * D + d] = carry_c
            grads[f"weight_ih{sfx}"], grads[f"weight_hh{sfx}"] = g_ih, g_hh
            if p.bias:
                grads[f"bias_ih{sfx}"], grads[f"bias_hh{sfx}"] = g_bih, g_bhh
            if g_hr is not None:
                grads[f"weight_hr{sfx}"] = g_hr
        dy_layer = np.zeros_like(d_in) if "no_grad_to_lower_layer" in m and layer > 0 else d_in
    if "zeroed_initial_grads" in m:
        d_init = [np.zeros_like(v) for v in d_init]
    return dict(output=output, states=states, dx=dy_layer, d_init=d_init,
                grads={k: grads[k] for k in p.params})  # torch's order


def engine(probe, mistakes=()) -> dict:
    """The probe's case computed by this module's engine with ``mistakes`` (flag names), under
    the contract's names (the meta test checks that no mistake gives torch's numbers)."""
    p = _Problem.from_probe(probe)
    return p.to_contract(_run(p, frozenset(mistakes)))


def _z_rows_negated(p: "_Problem", arrays: dict) -> dict:
    """``arrays`` (parameters or their gradients, by name) with the z rows of every stacked
    gate parameter (weight_ih, weight_hh, bias_ih, bias_hh; not weight_hr) negated."""
    sign = np.ones(len(p.gates) * p.H)
    z = p.gates.index("z")
    sign[z * p.H:(z + 1) * p.H] = -1.0
    return {k: v * (sign[:, None] if v.ndim == 2 else sign) if _gated(k) else v for k, v in arrays.items()}


def _with_z_negated(p: "_Problem") -> "_Problem":
    """``p`` with the z rows of every stacked parameter negated (what --gru-update complement's
    adapter hands the implementation)."""
    q = _Problem(**{f: getattr(p, f) for f in p.__dataclass_fields__ if f != "gates"})
    q.params = _z_rows_negated(p, p.params)
    return q


def _negated_z(r: dict, p: "_Problem") -> dict:
    """The adapter's way back: the z rows of the returned stacked gradients negated."""
    r["grads"] = _z_rows_negated(p, r["grads"])
    return r


def _gated(name: str) -> bool:
    """A stacked gate parameter (weight_ih, weight_hh, bias_ih, bias_hh; not weight_hr)."""
    return name.split("_")[1] in ("ih", "hh")


def _read_in(p: _Problem, order: str, signed=lambda v: v) -> _Problem:
    """``p`` as a model that reads torch's stacked rows in ``order`` sees it: its gate G[j]
    from block order.index(G[j]) (then ``signed``: the complement's negated z rows)."""
    H, G = p.H, p.gates
    to_model = [order.index(g) for g in G]  # model block j <- params block to_model[j]
    q = _Problem(**{f: getattr(p, f) for f in p.__dataclass_fields__ if f != "gates"})
    q.params = {k: signed(v) if _gated(k) else v for k, v in _take_blocks(H, p.params, to_model).items()}
    return q


def _take_blocks(H: int, arrays: dict, idx: list) -> dict:
    """``arrays`` (by name) with block k of every stacked gate parameter taken from block
    idx[k] (weight_hr as it is)."""
    return {k: np.concatenate([v[j * H:(j + 1) * H] for j in idx], axis=0) if _gated(k) else v
            for k, v in arrays.items()}


def _blocks_as(p: _Problem, arrays: dict, order: str) -> dict:
    """``arrays`` (by name) with the gate blocks of every stacked parameter put in ``order``:
    block k holds gate order[k]'s."""
    return _take_blocks(p.H, arrays, [p.gates.index(g) for g in order])


def _relabeled(p: _Problem, order: str | None = None, complement: bool = False) -> dict:
    """A correct implementation in another convention, on torch's weights.

    ``order``: it reads torch's stacked rows in ``order`` (its gate k from block k): that is
    torch's model on weights whose block for gate g is block order.index(g); its gradients,
    stacked in its own order, are that model's permuted back. ``complement`` (GRU): it
    computes h' = z n + (1 - z) h, i.e. torch's model with the z rows negated
    (1 - sigmoid(a) = sigmoid(-a)), and its z rows' gradients are that model's negated."""
    H, G = p.H, p.gates
    order = order or G
    sign = np.ones(len(G) * H)
    if complement:
        sign[G.index("z") * H:(G.index("z") + 1) * H] = -1.0

    def signed(v):
        return v * (sign[:, None] if v.ndim == 2 else sign)

    r = _run(_read_in(p, order, signed), frozenset())
    # implementation block k <- the model's gate order[k], its z rows negated back
    r["grads"] = _blocks_as(p, {k: signed(v) if _gated(k) else v for k, v in r["grads"].items()}, order)
    return r


# =======================================================================================
# The classic mistakes: (flags, name, equation, applies(problem)). Order matters only for
# ambiguous data: the first that explains the numbers is printed first.
# =======================================================================================
_LAYER = lambda p: not p.cell  # noqa: E731
_RECURRENT = lambda p: p.T > 1  # noqa: E731  (at T = 1 only the initial state's gradient: generic)


def _square(p: _Problem) -> bool:
    """W_ih and W_hh of every (layer, direction) have one shape: only then can one stand in
    for the other without a shape error."""
    return all(p.params[k].shape == p.params[k.replace("weight_ih", "weight_hh", 1)].shape
               for k in p.params if k.startswith("weight_ih"))


def _one_matrix_overwritten(gates: str) -> list:
    """One gate's block of ONE weight overwritten at each step (a class with a matrix per gate
    and per input, torch's W_hn, numpy-ml's: ``dW_hn = ...`` where the rest say +=)."""
    return [((f"overwrite_{kind}_gate_{g}",), f"W_{kind[0]}{g}'s gradient overwritten at each step, not summed over "
             f"time (gate {g}'s rows of dW_{kind}: dW_{kind[0]}{g} = ..., not +=)",
             f"dW_{kind[0]}{g} = sum_t da_{g},t^T {'x_t' if kind == 'ih' else 'h_(t-1)'}; the implementation kept the "
             f"last step's share alone (every other block is summed)", _RECURRENT)
            for g in gates for kind in ("ih", "hh")]


LSTM_MISTAKES = [
    (("c_not_carried",), "cell state not carried back through time (dc_(t-1) = 0)",
     "dL/dc_(t-1) = dL/dc_t * f_t + (through h_(t-1)); the implementation dropped dL/dc_t * f_t, so the "
     "cell state's gradient flows back through h only (and dc0 = 0)", _RECURRENT),
    (("tanh_c_missing",), "tanh(c) derivative missing",
     "h = o * tanh(c_t): dL/dc_t += dL/dh * o * (1 - tanh(c_t)^2); the implementation left out (1 - tanh(c_t)^2)",
     lambda p: True),
    (("tanh_c_at_c_prev",), "tanh(c) derivative taken at c_(t-1) instead of c_t",
     "h_t = o_t * tanh(c_t): the derivative is 1 - tanh(c_t)^2; the implementation used 1 - tanh(c_(t-1))^2",
     lambda p: True),
    (("tanh_c_of_c",), "tanh(c) derivative taken as 1 - c_t^2 (the tanh forgotten)",
     "d tanh(c_t)/dc_t = 1 - tanh(c_t)^2; the implementation used 1 - c_t^2", lambda p: True),
    (("forget_uses_c_t",), "forget-gate gradient uses c_t instead of c_(t-1)",
     "c_t = f * c_(t-1) + i * g: da_f = dL/dc_t * c_(t-1) * f (1 - f); the implementation multiplied by c_t",
     lambda p: True),
    (("sigmoid_from_preactivation",), "sigmoid derivative computed from the pre-activation",
     "sigmoid'(a) = s (1 - s) with s = sigmoid(a); the implementation used a (1 - a) for the gates i, f, o",
     lambda p: True),
    (("ignores_d_c_n",), "upstream gradient on c_n ignored (d_c_n)",
     "BPTT starts from dL/dc = d_c_n at the last step; the implementation started the cell state's gradient from zero",
     _LAYER),
    (("ignores_d_c_n",), "upstream gradient on c' ignored (d_c)",
     "dL/dc' = d_c + dL/dh' * o * (1 - tanh(c')^2); the implementation dropped d_c", lambda p: p.cell),
    (("proj_operand_tc",), "projection gradient from tanh(c) instead of o * tanh(c)",
     "h = W_hr (o * tanh(c)): dW_hr = sum_t dh_t^T (o_t * tanh(c_t)); the implementation used tanh(c_t), "
     "forgetting the output gate", lambda p: p.R != p.H),
    # The first step written apart (Karpathy's lstm.py: ``if t > 0: ... else: ... c0 ...``), the
    # mistake in the branch of the later steps only: the first step is right.
    (("forget_uses_c_t_after_first",), "forget-gate gradient uses c_t instead of c_(t-1) at every step but the "
     "first (the first step's branch, with c0, is right)",
     "c_t = f * c_(t-1) + i * g: da_f = dL/dc_t * c_(t-1) * f (1 - f); the implementation multiplied by c_t at "
     "every step after the first (a loop that writes the first step apart, `if t > 0: ... else: ... c0 ...`, "
     "with the mistake in the t > 0 branch)", _RECURRENT),
    (("c_not_carried_after_first",), "cell state not carried back through time from later steps (dc_(t-1) += "
     "dc_t * f dropped for t > 0; dc0 from the first step alone)",
     "dL/dc_(t-1) = dL/dc_t * f_t + (through h_(t-1)); the implementation dropped dL/dc_t * f_t at every step "
     "after the first, though its first step still returns dc0 = dL/dc_0 * f_0 (a loop that writes the first "
     "step apart, `if t > 0: dC[t-1] += ... else: dc0 = ...`, with the mistake in the t > 0 branch)",
     lambda p: _RECURRENT(p) and not p.cell),
    (("c_carried_without_f",), "cell state's gradient carried back without the forget gate (dc_(t-1) = dc_t)",
     "c_t = f * c_(t-1) + i * g: dL/dc_(t-1) = dL/dc_t * f_t; the implementation carried dL/dc_t back unscaled",
     lambda p: True),  # a cell's dc, a layer's dc0 and every earlier step's dc
    (("g_with_sigmoid_prime",), "tanh' on the candidate g taken as sigmoid's, g (1 - g)",
     "g = tanh(a_g): da_g = dL/dc * i * (1 - g^2); the implementation used g (1 - g), the derivative of a sigmoid",
     lambda p: True),
    (("tanh_prime_from_preactivation",), "tanh' on the candidate g computed from the pre-activation (1 - a_g^2)",
     "g = tanh(a_g): da_g = dL/dc * i * (1 - g^2); the implementation used 1 - a_g^2, the pre-activation in place "
     "of g", lambda p: True),
    (("g_tanh_prime_unsquared",), "tanh' on the candidate g taken as 1 - g (the square forgotten)",
     "g = tanh(a_g): da_g = dL/dc * i * (1 - g^2); the implementation used 1 - g", lambda p: True),
    (("gates_without_dh_path",), "the gates' gradients use dL/dc from the step after alone (the part through h_t "
     "left out)",
     "h_t = o * tanh(c_t): dL/dc_t = (dL/dc_t from step t+1) + dL/dh_t * o * (1 - tanh(c_t)^2), and da_i, da_f, "
     "da_g take all of it; the implementation used the first term alone there (an early version of "
     "deeplearning.ai's notebook did), though what it carries back to c_(t-1) has both", lambda p: True),
    (("sigmoid_prime_missing_i",), "input gate's sigmoid' missing (da_i = dL/dc * g)",
     "i = sigmoid(a_i): da_i = dL/dc * g * i (1 - i); the implementation left out i (1 - i)", lambda p: True),
    (("sigmoid_prime_missing_f",), "forget gate's sigmoid' missing (da_f = dL/dc * c_(t-1))",
     "f = sigmoid(a_f): da_f = dL/dc * c_(t-1) * f (1 - f); the implementation left out f (1 - f)", lambda p: True),
    (("sigmoid_prime_missing_o",), "output gate's sigmoid' missing (da_o = dL/dh * tanh(c))",
     "o = sigmoid(a_o): da_o = dL/dh * tanh(c_t) * o (1 - o); the implementation left out o (1 - o)", lambda p: True),
    *[((f"sigmoid_prime_as_s_{g}",), f"{name} gate's sigmoid' taken as {g} ({da} = {rest} * {g}, the (1 - {g}) "
       "left out)",
       f"{g} = sigmoid(a_{g}): {da} = {rest} * {g} (1 - {g}); the implementation multiplied by {g} alone",
       lambda p: True)
      for g, name, da, rest in (("i", "input", "da_i", "dL/dc * g"), ("f", "forget", "da_f", "dL/dc * c_(t-1)"),
                                ("o", "output", "da_o", "dL/dh * tanh(c_t)"))],
    *[((f"overwrite_gate_{g}",), f"gate {g}'s weight gradients overwritten at each step, not summed over time "
       f"(its rows of dW_ih and dW_hh; deeplearning.ai's dW{'c' if g == 'g' else g} = ..., not +=)",
       f"dW = sum_t da_t^T [h_(t-1); x_t] for every gate's rows; the implementation kept the last step's share "
       f"alone for gate {g}'s (the other gates' and the biases are summed)", _RECURRENT) for g in "ifgo"],
    # forward mistakes: each with the backward torch's formulas give on the implementation's
    # own values, and as the exact backward of the mistaken model
    (("g_sigmoid",), "candidate g computed with sigmoid instead of tanh (forward), backward with tanh's derivative",
     "g = tanh(a_g); the implementation's forward computed g = sigmoid(a_g) (often one sigmoid over all four "
     "stacked blocks), and its backward kept tanh's derivative, da_g = dL/dc * i * (1 - g^2), on that g",
     lambda p: True),
    (("g_sigmoid", "g_with_sigmoid_prime"), "candidate g computed with sigmoid instead of tanh (forward and backward "
     "of that model)",
     "g = tanh(a_g); the implementation computes g = sigmoid(a_g) throughout (often one sigmoid over all four "
     "stacked blocks), its backward with sigmoid's derivative, da_g = dL/dc * i * g (1 - g)", lambda p: True),
    (("h_is_o_c",), "tanh(c) left out of h in forward (h = o * c), backward with torch's formulas",
     "h_t = o_t * tanh(c_t); the implementation's forward computed h_t = o_t * c_t, and its backward computed "
     "tanh(c_t) itself (dL/dc_t += dL/dh * o * (1 - tanh(c_t)^2), da_o = dL/dh * tanh(c_t) * o (1 - o)), as "
     "CS231n's step backward does from its cached next_c", lambda p: True),
    (("h_is_o_c", "tc_is_c"), "tanh(c) left out of h (h = o * c, forward and backward of that model)",
     "h_t = o_t * tanh(c_t); the implementation computes h_t = o_t * c_t throughout, its backward with that "
     "model's derivatives (dL/dc_t += dL/dh * o, da_o = dL/dh * c_t * o (1 - o))", lambda p: True),
    *_one_matrix_overwritten("ifgo"),
    (("zeroed_initial_grads",), "dh0 and dc0 not propagated to the initial states (both returned as zero)",
     "dh0 = sum_g da_g(0) W_hg and dc0 = dL/dc_0 * f_0 reach the initial states; the implementation returned zeros "
     "(the initial state treated as a constant)", lambda p: True),
]

GRU_MISTAKES = [
    (("z_swapped",), "z and 1 - z swapped in backward",
     "h' = (1 - z) * n + z * h: dn = dh' * (1 - z) and the direct part of dh is dh' * z; the implementation "
     "used dn = dh' * z and dh' * (1 - z) (the other update convention's derivative)", lambda p: True),
    (("dz_sign",), "update gate gradient with the wrong sign (dz = dh' (n - h))",
     "h' = (1 - z) * n + z * h: dz = dh' * (h - n); the implementation used dh' * (n - h)", lambda p: True),
    (("no_dh_through_z",), "missing dh path through z (dh_(t-1) lacks dh' * z)",
     "dL/dh_(t-1) = dh' * z + [da_r, da_z, r * da_n] W_hh; the implementation dropped dh' * z, the direct path",
     lambda p: True),
    (("reset_grad_missing",), "reset-gate gradient missing (da_r = 0)",
     "n = tanh(W_in x + b_in + r * (W_hn h + b_hn)): da_r = da_n * (W_hn h + b_hn) * r (1 - r); the "
     "implementation gave r no gradient", lambda p: True),
    (("reset_grad_without_b_hn",), "reset-gate gradient without b_hn (da_r = da_n * (W_hn h) * r (1 - r))",
     "r multiplies (W_hn h + b_hn): da_r = da_n * (W_hn h + b_hn) * r (1 - r); the implementation left b_hn out",
     lambda p: p.bias),
    (("b_hn_grad_outside",), "b_hn's gradient as if b_hn were outside the reset gate",
     "b_hn sits inside r * (W_hn h + b_hn): d b_hn = sum da_n * r; the implementation summed da_n alone",
     lambda p: p.bias),
    (("sigmoid_from_preactivation",), "sigmoid derivative computed from the pre-activation",
     "sigmoid'(a) = s (1 - s) with s = sigmoid(a); the implementation used a (1 - a) for the gates r, z",
     lambda p: True),
    (("dh_n_without_r",), "dh_(t-1) through W_hn from da_n, without r (da_n W_hn, not (r * da_n) W_hn)",
     "n = tanh(... + r * (W_hn h + b_hn)): what reaches h_(t-1) through W_hn is (r * da_n) W_hn; the implementation "
     "left out r there (dW_hn and the biases are right)", lambda p: True),
    (("dq_n_without_r",), "the gradient of W_hn h + b_hn taken as da_n, without r",
     "n = tanh(... + r * (W_hn h + b_hn)): d(W_hn h + b_hn) = r * da_n, so dW_hn, db_hn and dh_(t-1) take r * da_n; "
     "the implementation used da_n for all three", lambda p: True),
    (("z_tanh",), "update gate z computed with tanh instead of sigmoid (forward), backward with sigmoid's derivative",
     "z = sigmoid(a_z); the implementation's forward computed tanh(a_z), and its backward kept z (1 - z) on that z",
     lambda p: True),
    (("r_tanh",), "reset gate r computed with tanh instead of sigmoid (forward), backward with sigmoid's derivative",
     "r = sigmoid(a_r); the implementation's forward computed tanh(a_r), and its backward kept r (1 - r) on that r",
     lambda p: True),
    (("z_tanh", "tanh_prime_z"), "update gate z computed with tanh instead of sigmoid (forward and backward of that "
     "model)", "z = sigmoid(a_z); the implementation computes z = tanh(a_z) throughout, its backward with tanh's "
     "derivative, da_z = dz * (1 - z^2)", lambda p: True),
    (("r_tanh", "tanh_prime_r"), "reset gate r computed with tanh instead of sigmoid (forward and backward of that "
     "model)", "r = sigmoid(a_r); the implementation computes r = tanh(a_r) throughout, its backward with tanh's "
     "derivative, da_r = da_n * (W_hn h + b_hn) * (1 - r^2)", lambda p: True),
    (("reset_before_forward",), "GRU reset gate applied to h before W_hn in forward (n = tanh(W_in x + b_in + "
     "W_hn (r * h) + b_hn)), backward with torch's formulas",
     "torch: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)); the implementation's forward applies r to h first (Cho "
     "et al.'s, d2l.ai's GRU), and its backward keeps torch's formulas (da_r = da_n * q r (1 - r) with its q = "
     "W_hn (r * h) + b_hn, d(W_hn h) = r * da_n)", lambda p: True),
    (("bhn_outside", "reset_grad_without_b_hn"), "GRU b_hn outside the reset gate (forward), backward with torch's "
     "formulas on W_hn h without b_hn",
     "torch: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)); the implementation's forward computed "
     "tanh(W_in x + b_in + r * (W_hn h) + b_hn), and its backward kept torch's formulas on what it cached, W_hn h "
     "(da_r = da_n * (W_hn h) r (1 - r), d b_hn = sum da_n * r)", lambda p: p.bias),
    (("tanh_prime_from_preactivation",), "tanh' on the candidate n computed from the pre-activation (1 - a_n^2)",
     "n = tanh(a_n): da_n = dn * (1 - n^2); the implementation used 1 - a_n^2, the pre-activation in place of n",
     lambda p: True),
    (("sigmoid_prime_missing_r",), "reset gate's sigmoid' missing (da_r = da_n * (W_hn h + b_hn))",
     "r = sigmoid(a_r): da_r = da_n * (W_hn h + b_hn) * r (1 - r); the implementation left out r (1 - r)",
     lambda p: True),
    (("sigmoid_prime_missing_z",), "update gate's sigmoid' missing (da_z = dh' * (h - n))",
     "z = sigmoid(a_z): da_z = dh' * (h - n) * z (1 - z); the implementation left out z (1 - z)", lambda p: True),
    (("sigmoid_prime_as_s_r",), "reset gate's sigmoid' taken as r (da_r = da_n * (W_hn h + b_hn) * r, the "
     "(1 - r) left out)",
     "r = sigmoid(a_r): da_r = da_n * (W_hn h + b_hn) * r (1 - r); the implementation multiplied by r alone",
     lambda p: True),
    (("sigmoid_prime_as_s_z",), "update gate's sigmoid' taken as z (da_z = dh' * (h - n) * z, the (1 - z) left out)",
     "z = sigmoid(a_z): da_z = dh' * (h - n) * z (1 - z); the implementation multiplied by z alone", lambda p: True),
    (("sigmoid_prime_as_1ms_z",), "update gate's sigmoid' taken as 1 - z (da_z = dh' * (h - n) * (1 - z), the z "
     "left out)",
     "z = sigmoid(a_z): da_z = dh' * (h - n) * z (1 - z); the implementation multiplied by (1 - z) alone",
     lambda p: True),
    *[((f"overwrite_gate_{g}",), f"gate {g}'s weight gradients overwritten at each step, not summed over time "
       f"(its rows of dW_ih and dW_hh)",
       f"dW = sum_t da_t^T [x_t; h_(t-1)] for every gate's rows; the implementation kept the last step's share "
       f"alone for gate {g}'s (the other gates' and the biases are summed)", _RECURRENT) for g in "rzn"],
    *_one_matrix_overwritten("rzn"),
    (("bhn_outside",), "GRU b_hn outside the reset gate (forward), backward with torch's formulas",
     "torch: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)); the implementation's forward computed "
     "tanh(W_in x + b_in + r * (W_hn h) + b_hn) (the paper's / Keras reset_after=False placement) and its "
     "backward kept torch's derivative (da_r through W_hn h + b_hn, d b_hn = sum da_n * r)", lambda p: p.bias),
    (("bhn_outside", "reset_grad_without_b_hn", "b_hn_grad_outside"),
     "GRU b_hn outside the reset gate (forward and backward of that model)",
     "torch: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)); the implementation computes (forward and its exact "
     "backward) n = tanh(W_in x + b_in + r * (W_hn h) + b_hn), the paper's / Keras reset_after=False "
     "placement", lambda p: p.bias),
    (("reset_before",), "GRU reset gate applied to h before W_hn (n = tanh(W_in x + b_in + W_hn (r * h) + b_hn))",
     "torch: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), the reset gate applied after the product; the "
     "implementation computes (forward and its exact backward) the GRU of Cho et al. (2014) as d2l.ai and Keras's "
     "reset_after=False write it, r applied to h first: a different model, which no option maps onto torch's "
     "(--gate-order and --gru-update only relabel)", lambda p: True),
]

# The RNN's own classics, in gated form (both families).
COMMON_MISTAKES = [
    (("dx_with_w_hh", "dh_with_w_ih"), "dx and dh_prev computed with each other's weight",
     "dx_t = sum_g da_g W_ig and dh_(t-1) = sum_g da_g W_hg; the implementation swapped W_ih and W_hh", _square),
    (("dx_with_w_hh",), "dx computed with W_hh instead of W_ih",
     "dx_t = sum_g da_g W_ig; the implementation used W_hg (dh_(t-1) is right)", _square),
    (("dh_with_w_ih",), "dh_prev computed with W_ih instead of W_hh",
     "dh_(t-1) = sum_g da_g W_hg; the implementation carried back through W_ig (dx is right)", _square),
    (("reverse_not_reordered",), "reverse direction not re-ordered",
     "the reverse direction processes t = T-1..0, so its output gradients must be read in that order; the "
     "implementation read them in original time order", lambda p: p.D == 2 and p.T > 1),
    (("h_not_carried",), "hidden state's gradient not carried back through time (dh_(t-1) = 0 from later steps)",
     "dL/dh_(t-1) = d_output_(t-1) + (what step t sends back through its gates and z); the implementation "
     "dropped the second term", lambda p: _RECURRENT(p) and not p.cell),
    (("h_not_added",), "the gradient from the step after not added to dh (only d_output_t reaches step t)",
     "dL/dh_t = d_output_t + (what step t+1 sends back); the implementation passed d_output_t alone into each step "
     "(what the first step sends back is still returned as dh0)", lambda p: _RECURRENT(p) and not p.cell),
    (("dwhh_from_h_t",), "dW_hh from h_t instead of h_(t-1)",
     "a_t = ... + h_(t-1) W_hh^T: dW_hh = sum_t da_t^T h_(t-1); the implementation used h_t, the step's own "
     "output", lambda p: True),
    (("overwrite_ih", "overwrite_hh", "overwrite_b"),
     "every weight and bias gradient overwritten at each step, not summed over time (dW = ..., not dW += ...)",
     "every time step adds its share, dW = sum_t da_t^T x_t (and the same for W_hh and the biases); the "
     "implementation kept the last step's share alone (time step 0 of a forward direction)", _RECURRENT),
    (("overwrite_ih", "overwrite_hh"), "dW_ih and dW_hh overwritten at each step, not summed over time (dW = ..., "
     "not +=)", "dW_ih = sum_t da_t^T x_t and dW_hh = sum_t da_t^T h_(t-1); the implementation kept the last step's "
     "shares alone (the biases' are summed, or there are none)", _RECURRENT),
    (("overwrite_ih",), "dW_ih overwritten at each step, not summed over time (dW_ih = ..., not +=)",
     "dW_ih = sum_t da_t^T x_t; the implementation kept the last step's share alone (W_hh's and the biases' "
     "are summed)", _RECURRENT),
    (("overwrite_hh",), "dW_hh overwritten at each step, not summed over time (dW_hh = ..., not +=)",
     "dW_hh = sum_t da_t^T h_(t-1); the implementation kept the last step's share alone", _RECURRENT),
    (("overwrite_b",), "bias gradients overwritten at each step, not summed over time (db = ..., not +=)",
     "db = sum_t,b da_t; the implementation kept the last step's share alone", lambda p: _RECURRENT(p) and p.bias),
    (("h_n_at_last_time",), "reverse direction's h_n taken at time step T-1 (h_n = output[-1])",
     "the reverse direction processes t = T-1..0, so its last state, its part of h_n, is its output at time step 0; "
     "the implementation returned its output at t = T-1, its first step (output[-1] holds the forward direction's "
     "last state but the reverse direction's first)", lambda p: p.D == 2 and p.T > 1),
    (("ignores_d_h_n",), "upstream gradient on h_n ignored (d_h_n)",
     "BPTT starts from dL/dh = d_h_n at the last step; the implementation started from zero", _LAYER),
    (("no_grad_to_lower_layer",), "gradient not passed to the layer below",
     "layer k's input gradient sum_g da_g W_ig is the output gradient of layer k-1; the implementation did "
     "not pass it down", lambda p: p.L > 1),
]

# The update gate's mistakes in the words of a class written h' = z * n + (1 - z) * h and run
# with --gru-update complement: the adapter hands it torch's model with z negated, so its z is
# torch's 1 - z, and each mutant above is the same mistake in its terms (dn and the direct
# path trade z for 1 - z; dz changes sign with z, so the wrong sign is still the wrong sign).
_AS_DECLARED = "as declared (--gru-update complement), h' = z * n + (1 - z) * h: "
GRU_COMPLEMENT_WORDS = {
    ("z_swapped",): ("z and 1 - z swapped in backward",
                     _AS_DECLARED + "dn = dh' * z and the direct part of dh is dh' * (1 - z); the implementation "
                     "used dn = dh' * (1 - z) and dh' * z (torch's update convention's derivative)"),
    ("dz_sign",): ("update gate gradient with the wrong sign (dz = dh' (h - n))",
                   _AS_DECLARED + "dz = dh' * (n - h); the implementation used dh' * (h - n)"),
    ("no_dh_through_z",): ("missing dh path through z (dh_(t-1) lacks dh' * (1 - z))",
                           _AS_DECLARED + "dL/dh_(t-1) = dh' * (1 - z) + [da_r, da_z, r * da_n] W_hh; the "
                           "implementation dropped dh' * (1 - z), the direct path"),
    # z (1 - z) is symmetric in z and 1 - z, but its halves trade places: torch's "z alone" is
    # the class's "(1 - z) alone" (a review found the name said the opposite of the class's code)
    ("sigmoid_prime_as_s_z",): ("update gate's sigmoid' taken as 1 - z (da_z = dh' * (n - h) * (1 - z), the z left "
                                "out)", _AS_DECLARED + "da_z = dh' * (n - h) * z (1 - z); the implementation "
                                "multiplied by (1 - z) alone"),
    ("sigmoid_prime_as_1ms_z",): ("update gate's sigmoid' taken as z (da_z = dh' * (n - h) * z, the (1 - z) left "
                                  "out)", _AS_DECLARED + "da_z = dh' * (n - h) * z (1 - z); the implementation "
                                  "multiplied by z alone"),
    ("sigmoid_prime_missing_z",): ("update gate's sigmoid' missing (da_z = dh' * (n - h))",
                                   _AS_DECLARED + "da_z = dh' * (n - h) * z (1 - z); the implementation left out "
                                   "z (1 - z)"),
}


# The weights' swaps in the words of a course with one matrix per gate on [a_prev; x_t]
# (deeplearning.ai): torch's W_hh and W_ih blocks are the first n_a and the last n_x columns.
_MATRICES_EQ = "each gate's W acts on [a_prev; x_t]: da_prev = sum_g W_g[:, :n_a]^T dz_g, dxt = sum_g W_g[:, n_a:]^T dz_g"
COLUMNS_MATRICES_WORDS = {
    ("dx_with_w_hh", "dh_with_w_ih"): ("dxt and da_prev computed from each other's columns of W (W[:, :n_a] and "
                                       "W[:, n_a:] swapped)", _MATRICES_EQ + "; the implementation swapped the two"),
    ("dx_with_w_hh",): ("dxt computed from W[:, :n_a] (a_prev's columns) instead of W[:, n_a:]",
                        _MATRICES_EQ + "; the implementation used a_prev's columns for dxt (da_prev is right)"),
    ("dh_with_w_ih",): ("da_prev computed from W[:, n_a:] (x_t's columns) instead of W[:, :n_a]",
                        _MATRICES_EQ + "; the implementation used x_t's columns for da_prev (dxt is right)"),
}


def mistakes(kind: str) -> list:
    return (LSTM_MISTAKES if kind == "LSTM" else GRU_MISTAKES) + COMMON_MISTAKES


def _read_as(gates: str, order: str, handed: str) -> str:
    """What an implementation reading torch's rows in ``order`` calls each block it is handed
    when the blocks come stacked as ``handed`` (a declared --gate-order, a course's own order):
    handed block ``handed.index(g)`` holds gate g, and it reads that as ``order[k]``."""
    actual = [""] * len(gates)
    for k, g in enumerate(gates):
        actual[handed.index(g)] = order[k]
    return "".join(actual)


def _gate_order_name(gates: str, order: str, hint: bool, declared: str | None = None,
                     typed: str | None = None) -> tuple:
    """The suspect for an implementation that reads the stacked gate rows it is handed in
    ``order`` (relative to what it is handed). With ``declared`` (a --gate-order given, in
    torch's letters) the adapter hands over rows stacked as declared, so the implementation's
    own order is ``order`` composed with it, and that is what the suspect names: a newcomer
    whose class stacks torch's i, f, g, o, run with --gate-order ifog, was told the class
    "reads them as i, f, o, g", their own declaration read back as the bug. ``typed``: the
    declaration as the user typed it ("zrh", "keras"), which is how the suspect quotes it."""
    if declared is not None:
        actual = _read_as(gates, order, declared)
        read = ", ".join(actual)
        shown = typed or declared
        name = f"gate order declared wrong (--gate-order {shown}; it stacks them as {read})"
        eq = (f"torch stacks the gate rows of W_ih, W_hh, b_ih, b_hh as {', '.join(gates)}; --gate-order {shown} "
              f"says the implementation stacks them as {', '.join(declared)}, but it reads them as {read} (forward "
              f"and the gradients it stacks back)")
        eq += ("; that is torch's own order: leave out --gate-order" if actual == gates else
               f"; if it stacks its gates that way on purpose, declare --gate-order {actual} instead")
        return name, eq + _ONE_RUN
    swapped = [g for g, h in zip(gates, order) if g != h]
    read = ", ".join(order)
    if len(swapped) == 2:
        name = f"gate order read wrong ({swapped[0]} and {swapped[1]} swapped)"
    else:
        name = f"gate order read wrong (rows read as {read})"
    eq = (f"torch stacks the gate rows of W_ih, W_hh, b_ih, b_hh as {', '.join(gates)}; the implementation "
          f"reads them as {read} (forward and the gradients it stacks back)")
    if hint:  # with --gate-order given, the order is relative to what the adapter hands over
        eq += f"; if it stacks its gates that way on purpose, declare it: --gate-order {order}"
    return name, eq


def _course_order_name(gates: str, order: str, course: str, convention: str) -> tuple:
    """The gate-order suspect for a course-convention adapter (``conventions._CS231nLSTMAdapter``)
    in the course's terms: the adapter hands the implementation the gate blocks in ``course``
    (torch's letters: CS231n's i, f, o, g), so its reading of them is ``order`` composed with
    that, as for a declared --gate-order; said as the course would say it (in torch's terms a
    CS231n student reading i, f, g, o was told "it reads them as i, f, o, g", the course's own
    order read back as the bug)."""
    actual = _read_as(gates, order, course)
    swapped = [(c, a) for c, a in zip(course, actual) if c != a]
    read = ", ".join(actual)
    name = (f"gate order read wrong ({swapped[0][0]} and {swapped[0][1]} swapped)" if len(swapped) == 2
            else f"gate order read wrong (blocks read as {read})")
    eq = (f"the {convention} convention stacks the gate blocks of Wx, Wh and b as {', '.join(course)}; the "
          f"implementation reads them as {read} (forward and the gradients it stacks back)")
    return name, eq


def _matrices_mixed_name(gates: str, order: str, matrices: dict, convention: str) -> tuple:
    """The gate-order suspect for a course that gives each gate its own matrix (deeplearning.ai's
    Wi, Wf, Wc, Wo: ``matrices`` maps torch's gate letter to its name there): the implementation
    uses the matrix of gate gates[k] as gate order[k]; said with the course's names (in torch's
    terms a Wf/Wi mix-up read "torch stacks the gate rows of W_ih ... as i, f, g, o")."""
    mixed = [(matrices[g], matrices[o]) for g, o in zip(gates, order) if g != o]
    swapped = [g for g, o in zip(gates, order) if g != o]
    name = (f"gate matrices mixed up ({mixed[0][0]} and {mixed[1][0]} swapped)" if len(mixed) == 2
            else f"gate matrices mixed up ({', '.join(f'{m} used as {o}' for m, o in mixed)})")
    eq = (f"the {convention} convention gives each gate its own matrix and bias; the implementation uses "
          + ", ".join(f"{m} (and its bias) where {o} belongs" for m, o in mixed)
          + f" (forward and the gradients it returns; gates {', '.join(swapped)})")
    return name, eq


def _one_pass_order_name(pass_: str, gates: str, order: str, handed: str, stacks: str,
                         matrices: dict | None = None) -> tuple:
    """The suspect for a gate-order slip in ONE pass (the engine's ``forward_order=`` /
    ``backward_order=``, ``order`` a transposition of torch's ``gates``): the implementation is
    handed the blocks stacked as ``handed`` (torch's, a declared --gate-order, a course's
    own order; ``stacks`` says whose), and one of its passes reads two of them swapped. A
    forward that slices a[:, 2H:3H] as g while the backward stacks np.hstack((di, df, do, dg))
    in the course's order is the classic; the backward's own slip is the other way round."""
    actual = _read_as(gates, order, handed)
    a, b = [h for h, x in zip(handed, actual) if h != x]
    handed_s, actual_s = ", ".join(handed), ", ".join(actual)
    if matrices:
        ma, mb = matrices[a], matrices[b]
        if pass_ == "forward":
            return (f"gate matrices mixed up in forward only ({ma} and {mb} swapped)",
                    f"each gate has its own matrix and bias; the implementation's forward uses {ma} (and its bias) "
                    f"where {mb} belongs and {mb} where {ma} belongs, while its backward gives each matrix the "
                    f"gradient of the gate it is named for and computes dxt and da_prev with them so")
        return (f"gate gradients given to each other's matrices in backward ({ma} and {mb} swapped)",
                f"the forward is right; the backward gives {ma} (and its bias) the gradient of gate {b} and {mb} "
                f"that of gate {a}, and computes dxt and da_prev with those pairings")
    if pass_ == "rows":
        if matrices:
            return (f"gate gradients returned under each other's names (d{ma} and d{mb} swapped; dxt and da_prev "
                    f"right)", f"every gate's gradient is computed right (dxt and da_prev agree), but the one for "
                    f"{ma} and its bias is returned as d{mb}'s and the other way round")
        return (f"weight and bias gradients stacked with gates {a} and {b} swapped (dx and dh right)",
                f"{stacks} {handed_s}; the implementation computes every gate's gradient right (dx and dh agree) "
                f"but stacks their blocks of the weight and bias gradients as {actual_s}")
    if pass_ == "per_gate":
        if matrices:
            return (f"gate matrices mixed up ({ma} and {mb} swapped), gradients returned under the gates' names",
                    f"each gate has its own matrix and bias; the implementation uses {ma} where {mb} belongs and "
                    f"{mb} where {ma} belongs, forward and backward alike, but returns each gate's weight gradient "
                    f"under the gate's name, not under the matrix it used")
        return (f"gate order read wrong ({a} and {b} swapped), gradients stacked back as handed",
                f"{stacks} {handed_s}; the implementation reads them as {actual_s}, gate by gate in forward and in "
                f"its backward's dx and dh, but stacks its weight and bias gradients back as {handed_s}")
    if pass_ == "forward":
        return (f"gate order read wrong in forward only ({a} and {b} swapped)",
                f"{stacks} {handed_s}; the implementation's forward reads them as {actual_s}, while its backward "
                f"stacks the gradients (and takes the weights' blocks for dx and dh) as {handed_s}: the two passes "
                f"disagree")
    return (f"gradients stacked in the wrong gate order in backward ({a} and {b} swapped)",
            f"{stacks} {handed_s}; the forward reads them so, but the backward stacks the gates' gradients as "
            f"{actual_s} (and takes the weights' blocks for dx and dh in that order)")


_COMPLEMENT_EQ = ("torch: h' = (1 - z) * n + z * h; the implementation computes h' = z * n + (1 - z) * h (its z "
                  "is torch's 1 - z: Cho et al.'s paper and several course notes write it so)")


# A declaration serves every plug-in of its kind in the run: a newcomer's torch-style cell,
# checked beside a Keras-style layer, was told to leave the options out, which broke the layer.
_ONE_RUN = (" (a --gate-order or --gru-update serves every plug-in of its kind in the run, a layer and a cell "
            "alike: check one written in another convention in a run of its own)")
_DECLARED_COMPLEMENT_EQ = ("--gru-update complement says the implementation computes h' = z * n + (1 - z) * h, "
                           "but it computes torch's h' = (1 - z) * n + z * h: leave out --gru-update" + _ONE_RUN)


def mutants(probe) -> list:
    p = _Problem.from_probe(probe)
    out = []
    correct = _run(p, frozenset())  # torch's numbers by the engine: the base of the relabelings below
    # A convention already declared (families/gated_conventions.adapt_gated) gets no hint to
    # declare it; the other one still does (a Keras GRU differs from torch in both).
    given_order = getattr(probe.cls, "gate_order", None) if getattr(probe.cls, "Learner", None) else None
    given_typed = getattr(probe.cls, "gate_order_typed", None) if given_order else None
    given_complement = bool(getattr(probe.cls, "Learner", None)) and getattr(probe.cls, "gru_update", None) == "complement"
    other_orders = [o for o in ("".join(o) for o in permutations(p.gates)) if o != p.gates]
    convention = getattr(probe.cls, "convention", None)  # a course convention's adapter (conventions.py)
    course = getattr(probe.cls, "convention_order", None)  # its own stacked order (CS231n: ifog)
    matrices = getattr(probe.cls, "gate_matrices", None)  # or one matrix per gate (deeplearning.ai)
    for order in other_orders:
        if course:
            name, eq = _course_order_name(p.gates, order, course, convention or "course")
        elif matrices:
            name, eq = _matrices_mixed_name(p.gates, order, matrices, convention or "course")
        else:
            # no --gate-order hint for a course convention: the option does not combine with it
            hint = given_order is None and not convention
            name, eq = _gate_order_name(p.gates, order, hint=hint, declared=given_order, typed=given_typed)
        out.append((Suspect(name, eq), p.to_contract(_relabeled(p, order))))
    if not given_complement:  # a gate-order slip in one pass (two gates swapped)
        handed = course or given_order or p.gates
        stacks = (f"the {convention} convention stacks the gate blocks of Wx, Wh and b as" if course else
                  f"--gate-order {given_typed or given_order} says the implementation stacks the gate rows as"
                  if given_order else
                  "torch stacks the gate rows of W_ih, W_hh, b_ih, b_hh as")
        swaps = [o for o in other_orders if sum(a != b for a, b in zip(o, p.gates)) == 2]
        for pass_ in ("forward", "backward", "per_gate", "rows"):
            for order in swaps:
                name, eq = _one_pass_order_name(pass_, p.gates, order, handed, stacks, matrices)
                if pass_ == "per_gate":  # read in order throughout, the gradients not permuted back
                    r = _run(_read_in(p, order), frozenset())
                elif pass_ == "rows":  # all right, the gradients' blocks stacked in order
                    r = dict(correct, grads=_blocks_as(p, correct["grads"], order))
                else:
                    r = _run(p, frozenset({f"{pass_}_order={order}"}))
                out.append((Suspect(name, eq), p.to_contract(r)))
    if p.kind == "GRU":
        if given_complement:  # the adapter hands over torch's model with z negated: undoing that is torch's update
            out.append((Suspect("GRU update declared wrong (--gru-update complement; it computes torch's "
                                "h' = (1 - z) * n + z * h)", _DECLARED_COMPLEMENT_EQ),
                        p.to_contract(_relabeled(p, complement=True))))
        else:
            out.append((Suspect("GRU update written the other way (h' = z * n + (1 - z) * h)",
                                _COMPLEMENT_EQ + "; if it is written that way on purpose, declare it: "
                                "--gru-update complement"),
                        p.to_contract(_relabeled(p, complement=True))))
        if given_complement and given_order is None:
            # --gru-update complement declared, the order not: the adapter negates torch's z rows
            # and hands them over; the implementation reads them in another order and computes
            # its complement update on what it calls z.
            for order in other_orders:
                name, eq = _gate_order_name(p.gates, order, hint=True)
                out.append((Suspect(name, eq), p.to_contract(_negated_z(_relabeled(_with_z_negated(p), order,
                                                                                  complement=True), p))))
        if given_complement and given_order is not None:
            # Both declared, neither followed (or the order followed another way): a class in
            # torch's own convention run with --gate-order zrh --gru-update complement (a
            # newcomer gave them for a GRU layer and its cell plug-in, in one run, was checked too).
            # ``order``: how the class reads torch's rows through the adapter (which negates
            # torch's z rows, then stacks them as declared); its torch update undoes nothing.
            for order in other_orders:
                name, eq = _gate_order_name(p.gates, order, hint=False, declared=given_order, typed=given_typed)
                eq = eq.removesuffix(_ONE_RUN) + "; and " + _DECLARED_COMPLEMENT_EQ  # the note once
                out.append((Suspect(name + " and the GRU update declared wrong (it computes torch's "
                                    "h' = (1 - z) * n + z * h)", eq),
                            p.to_contract(_negated_z(_relabeled(_with_z_negated(p), order), p))))
        if not given_complement and given_order is None:
            # Both at once: a GRU that stacks its gates in another order (Keras: z, r, h) and
            # also writes the complement update; neither single suspect reproduces it.
            for order in other_orders:
                name, eq = _gate_order_name(p.gates, order, hint=False)
                eq += "; and " + _COMPLEMENT_EQ + (f"; if it is written that way on purpose, declare both: "
                                                   f"--gate-order {order} --gru-update complement")
                out.append((Suspect(name + " and the GRU update written the other way", eq),
                            p.to_contract(_relabeled(p, order, complement=True))))
    # one gate's square block of a weight gradient transposed (a class with a matrix per gate:
    # g["Whr"] += h_prev.T @ da_r where da_r.T @ h_prev belongs)
    base = p.to_contract(correct)
    for k in (k for k in p.params if k.startswith(("weight_ih", "weight_hh"))):
        if p.params[k].shape[1] != p.H:
            continue
        ck = f"grad {k.removesuffix('_l0') if p.cell else k}"  # the contract's name (a cell's has no _l0)
        for j, g in enumerate(p.gates):
            v = base[ck].copy()
            v[j * p.H:(j + 1) * p.H] = v[j * p.H:(j + 1) * p.H].T
            w = f"W_{'i' if 'ih' in k else 'h'}{g}"
            out.append((Suspect(f"gate {g}'s block of {ck} transposed", f"d{w} = sum_t da_{g},t^T "
                                f"{'x_t' if 'ih' in k else 'h_(t-1)'} is (out, in); the implementation returned its "
                                f"transpose for that block (the others are right)"), {**base, ck: v}))
    for flags, name, eq, applies in mistakes(p.kind):
        if flags == ("zeroed_initial_grads",) and not {"dc0", "dc"} & set(probe.ref):
            continue  # no cell-state gradient compared (a course convention): the generic "dh0 ... as zero" says it
        if applies(p):
            if given_complement and flags in GRU_COMPLEMENT_WORDS:
                name, eq = GRU_COMPLEMENT_WORDS[flags]
            if matrices and flags in COLUMNS_MATRICES_WORDS:
                name, eq = COLUMNS_MATRICES_WORDS[flags]
            out.append((Suspect(name, eq), p.to_contract(_run(p, frozenset(flags)))))
    return out


# =======================================================================================
# Localization.
# =======================================================================================
def _tol(probe, ref, bound):
    return allowed_error(ref, bound, probe.dtype)[0]


def _err(a, b):
    return np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))


def localize(probe):
    fwd = _locate_forward(probe)
    bwd = after_forward(probe) if fwd is not None else _locate_backward(probe)
    return fwd, bwd


def _forward_names(probe):
    cell = probe.case.family.name.endswith("_cell")
    return ("h_next", "c_next") if cell else ("output", "h_n", "c_n")


def _locate_forward(probe):
    mine, ref, bounds, c = probe.mine, probe.ref, probe.bounds, probe.config
    names = [n for n in _forward_names(probe) if n in ref]
    bad = [n for n in names if not probe.same(n, mine[n], ref[n], bounds.get(n))]
    if not bad:
        return None
    words = []
    if probe.case.family.name.endswith("_cell"):
        for n in bad:
            err = _err(mine[n], ref[n])
            b, u = np.unravel_index(np.argmax(err), err.shape)
            words.append(f"{n} differs (greatest at batch {b}, {'cell ' if n == 'c_next' else ''}unit {u})")
        if bad == ["c_next"]:
            words.append("h_next agrees: the cell state returned is wrong, not the gates that make h")
        return "; ".join(words)
    T, D = c.seq_len, c.num_directions
    R = c.out_size
    tm = (lambda v: v.swapaxes(0, 1)) if c.batch_first else (lambda v: v)  # noqa: E731
    if "output" in bad:
        tol = _tol(probe, ref["output"], bounds.get("output"))
        err = _err(tm(mine["output"]), tm(ref["output"]))
        for d in range(D):
            e = err[:, :, d * R:(d + 1) * R].max(axis=(1, 2))
            steps = list(range(T - 1, -1, -1)) if d else list(range(T))
            wrong = [t for t in steps if e[t] > tol]
            if wrong:
                k = steps.index(wrong[0])
                words.append(f"the last layer's {direction_name(d)} direction first diverges at time step {wrong[0]} "
                             f"(its processing step {k}; "
                             f"{'the steps before it agree' if k else 'already at its first step'})")
            else:
                words.append(f"the last layer's {direction_name(d)} direction agrees at every step")
    for n in ("h_n", "c_n"):
        if n in bad:
            tol = _tol(probe, ref[n], bounds.get(n))
            e = _err(mine[n], ref[n]).max(axis=(1, 2))
            where = [f"layer {k // D} {direction_name(k % D)}" for k in range(len(e)) if e[k] > tol]
            words.append(f"{n} differs at {join(where)}")
    if bad == ["c_n"]:
        words.append("output and h_n agree: the cell state returned is wrong, not the gates that make h")
    return "; ".join(words)


def _gate_blocks(gates: str, H: int, err: np.ndarray, tol: float) -> list:
    return [g for k, g in enumerate(gates) if err[k * H:(k + 1) * H].max() > tol]


def gate_summary(probe, mine, ref, bounds) -> str | None:
    """Which stacked gate rows of each differing parameter gradient differ: the rows of the
    same gates grouped, e.g. "rows of gate f differ in grad weight_ih_l0 and grad bias_ih_l0
    (gates i, g and o agree)"."""
    gates = LSTM_GATES if probe.case.family.name.startswith("lstm") else GRU_GATES
    H = probe.config.hidden_size
    groups: dict = {}
    whole = []
    for k in [k for k in ref if k.startswith("grad ")]:
        if probe.same(k, mine[k], ref[k], bounds.get(k)):
            continue
        kind = parse_param(k.removeprefix("grad "))
        if kind is None or kind[1] == "hr":
            whole.append(k)
            continue
        err = _err(mine[k], ref[k])
        err = err.reshape(err.shape[0], -1).max(axis=1)
        bad = tuple(_gate_blocks(gates, H, err, _tol(probe, ref[k], bounds.get(k))))
        groups.setdefault(bad, []).append(k)
    if not groups and not whole:
        return None
    parts = []
    for bad, names in groups.items():
        ok = [g for g in gates if g not in bad]
        if not bad:  # the tensor fails as a whole but no block alone exceeds: spread thin
            parts.append(f"{join(names)} differ{'s' if len(names) == 1 else ''} by a little in every gate")
            continue
        rows = f"rows of gate{'s' if len(bad) > 1 else ''} {join(bad)} differ in {join(names)}"
        parts.append(rows + (f" (gate{'s' if len(ok) > 1 else ''} {join(ok)} agree{'s' if len(ok) == 1 else ''})"
                             if ok else " (every gate)"))
    if whole:
        parts.append(f"{join(whole)} differ{'s' if len(whole) == 1 else ''} (the projection, after the gates)")
    return "; ".join(parts)


def _upstreams(probe) -> list:
    cell = probe.case.family.name.endswith("_cell")
    names = ("d_h_next", "d_c_next") if cell else ("d_output", "d_h_n", "d_c_n")
    fixed = zero_inputs(probe.cls)  # zero on both sides (a convention that cannot take it): no probe
    return [n for n in names if n in probe.arrays and n not in fixed]


def _run_probe(probe, arrays):
    mine = probe.impl(arrays)
    ref = probe.reference(arrays)
    if getattr(probe.cls, "reduction", "sum") == "mean":
        B = probe.config.batch
        ref = {k: v / B if k.startswith("grad ") else v for k, v in ref.items()}
    return mine, ref, probe.case.family.bounds(probe.case, arrays)


def _all_agree(probe, mine, ref, bounds) -> bool:
    return all(probe.same(k, mine[k], ref[k], bounds.get(k)) for k in ref)


def _locate_backward(probe):
    mine, ref, bounds = probe.mine, probe.ref, probe.bounds
    fam = probe.case.family
    cell = fam.name.endswith("_cell")
    inputs = [k for k in (("dx", "dh", "dc") if cell else ("dx", "dh0", "dc0")) if k in ref]
    bad_in = [k for k in inputs if not probe.same(k, mine[k], ref[k], bounds.get(k))]
    ok_in = [k for k in inputs if k not in bad_in]
    parts = ["forward agrees"]
    if bad_in:
        parts.append(f"in backward {join(bad_in)} differ{'s' if len(bad_in) == 1 else ''}"
                     + (f" ({join(ok_in)} agree{'s' if len(ok_in) == 1 else ''})" if ok_in else ""))
    summary = gate_summary(probe, mine, ref, bounds)
    parts.append(summary if summary else "every parameter gradient agrees")
    if not cell and probe.config.seq_len > 1:
        one = _one_step(probe)
        if one:
            parts.append(one)
    # Each upstream gradient alone: which one is mishandled.
    ups = _upstreams(probe)
    if len(ups) > 1:
        verdicts = []
        for n in ups:
            arrays = dict(probe.arrays, **{u: np.zeros_like(probe.arrays[u]) for u in ups if u != n})
            verdicts.append((n, _all_agree(probe, *_run_probe(probe, arrays))))
        good = [n for n, ok in verdicts if ok]
        wrong = [n for n, ok in verdicts if not ok]
        if good and wrong:
            parts.append(f"with {join(wrong)} alone the gradients differ, with {join(good)} alone they all agree")
    # The flow through time: an upstream gradient on the last step only.
    if not cell and probe.config.seq_len > 1:
        flow = _flow(probe)
        if flow:
            parts.append(flow)
    return "; ".join(parts)


def _one_step(probe):
    """The gate summary on the first time step alone (x[:1], d_output[:1], the same states
    and d_h_n, d_c_n): one step's weight gradients are its local derivatives, so the gates
    whose rows differ there are the gates whose own derivative is wrong, before the error
    spreads to every gate through the carried gradient."""
    c, a = probe.config, probe.arrays
    first = (lambda v: v[:, :1]) if c.batch_first else (lambda v: v[:1])  # noqa: E731
    arrays = dict(a, x=first(a["x"]), d_output=first(a["d_output"]))
    case = replace(probe.case, config=replace(c, seq_len=1))
    mine, ref = probe.impl(arrays, case), probe.reference(arrays, case)
    if getattr(probe.cls, "reduction", "sum") == "mean":
        ref = {k: v / c.batch if k.startswith("grad ") else v for k, v in ref.items()}
    bounds = probe.case.family.bounds(case, arrays)
    head = "on one time step (x[:1], d_output[:1], the same states)"
    if "c0" in a and (a["c0"] is None or not np.any(a["c0"])):  # an LSTM whose c0 is zero (absent, or fixed)
        # c_(t-1) = 0 on the first step: da_f = dL/dc * c_(t-1) * f (1 - f) and the carried
        # dc * f vanish there, so a wrong forget gate looks right (a newcomer was sent to the loop)
        fixed = ("as the convention fixes it" if "c0" in zero_inputs(probe.cls)
                 else "absent" if a["c0"] is None else "as given")
        head = (f"on one time step (x[:1], d_output[:1], the same states; c0 = 0, {fixed}, so "
                "the forget gate and anything multiplying c_(t-1) get no gradient there and cannot show)")
    if not all(probe.same(k, mine[k], ref[k], bounds.get(k)) for k in ("output", "h_n", "c_n") if k in ref):
        return f"{head} the forward already differs"
    summary = gate_summary(probe, mine, ref, bounds)
    if summary is None:
        bad = [k for k in ref if not probe.same(k, mine[k], ref[k], bounds.get(k))]
        if not bad:
            return f"{head} every tensor agrees: the mistake is in what is carried between steps"
        return f"{head} every parameter gradient agrees; {join(bad)} differ{'s' if len(bad) == 1 else ''}"
    return f"{head}: {summary}"


def _flow(probe):
    c, a = probe.config, probe.arrays
    T = c.seq_len
    arrays = dict(a, **{u: np.zeros_like(a[u]) for u in _upstreams(probe)})
    last = (slice(None), T - 1) if c.batch_first else (T - 1,)
    arrays["d_output"] = np.zeros_like(a["d_output"])
    arrays["d_output"][last] = a["d_output"][last]
    mine, ref, bounds = _run_probe(probe, arrays)
    tm = (lambda v: v.swapaxes(0, 1)) if c.batch_first else (lambda v: v)  # noqa: E731
    err = _err(tm(mine["dx"]), tm(ref["dx"])).max(axis=(1, 2))
    tol = _tol(probe, ref["dx"], bounds.get("dx"))
    head = "with an upstream gradient on the last time step only"
    if c.bidirectional:  # the reverse direction starts at the last step: no single flow to read
        return None
    wrong = [t for t in range(T - 1, -1, -1) if err[t] > tol]
    if not wrong:
        return f"{head}, dx agrees at every step (the gradient is carried back through time correctly)"
    first = wrong[0]
    if first == T - 1:
        return f"{head}, dx already differs at that step (t = {T - 1}): the step's own local derivative"
    n_ok = T - 1 - first
    return (f"{head}, dx agrees for the last step only: the gradient is not carried back through time "
            "(or is carried back wrongly)" if n_ok == 1 else
            f"{head}, dx agrees for the last {n_ok} steps and first differs at time step {first}")
