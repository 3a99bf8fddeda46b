"""The RNN family's diagnosis hooks: localization by black-box probing, and its classic
mistakes computed as mutant BPTTs (``diagnosis/`` calls these through the family record).

- forward: the first (layer, direction, time step) where hidden states diverge. The last
  layer's states are the output; a lower layer of a unidirectional stack is read from h_n
  of prefix runs x[:t+1] (h_n holds every layer's state at step t).
- backward: an upstream gradient on the LAST time step only (d_h_n = 0); dx at each earlier
  step is then exactly what was carried back through time, so the first step (walking
  back) where dx differs says how far the gradient flows correctly.
- mutants: a small NumPy BPTT over the reference's (correct) forward states with one
  classic mistake each (``MUTANTS``, and truncation every k steps or in a window of k
  steps for each k in 2..T-1); forward mistakes (batch_first by reshape, the reverse
  output left in processing order) as the reference run on what the mistaken forward
  computes. The cell's diagnosis (``rnn_cell_diagnosis.py``) replays the same mutants on
  a one-step layer.
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np

from rnn_parity.reference.elman import rnn_loop_vjp

from ..core.tolerance import allowed_error
from ..diagnosis import Suspect, after_forward, join

_PARAM = re.compile(r"(weight|bias)_(ih|hh)_l(\d+)(_reverse)?$")


def parse_param(name: str):
    """"weight_hh_l1_reverse" -> ("weight", "hh", 1, 1): kind, which, layer, direction."""
    m = _PARAM.match(name)
    if not m:
        return None
    kind, which, layer, rev = m.groups()
    return kind, which, int(layer), 1 if rev else 0


def _tm(cfg, a):
    return a.swapaxes(0, 1) if cfg.batch_first else a


def _loop(probe):
    """The explicit torch loop's traces for the probe (cached on it)."""
    if not hasattr(probe, "_elman_loop"):
        cfg, a = probe.config, probe.arrays
        h0 = None if a["h0"] is None else a["h0"].astype(np.float64)
        probe._elman_loop = rnn_loop_vjp(cfg.module_kwargs(), {k: v.astype(np.float64) for k, v in a["params"].items()},
                                         _tm(cfg, a["x"]).astype(np.float64), h0,
                                         _tm(cfg, a["d_output"]).astype(np.float64), a["d_h_n"].astype(np.float64))
    return probe._elman_loop


def _differs(probe, actual, expected) -> bool:
    # the one rule on a slice whose running bound is not at hand: scale max|expected|
    return float(np.max(np.abs(actual - expected))) > allowed_error(expected, None, probe.dtype)[0]


def localize(probe):
    fwd = _locate_forward(probe)
    bwd = after_forward(probe) if fwd is not None else _locate_backward(probe)
    return fwd, bwd


def _locate_forward(probe):
    cfg, a = probe.config, probe.arrays
    H, D, T = cfg.hidden_size, cfg.num_directions, cfg.seq_len
    lp = _loop(probe)
    # Lower layers of a unidirectional stack, through h_n of prefix runs.
    if D == 1 and cfg.num_layers > 1:
        for t in range(T):
            prefix = {k: (v[:, : t + 1] if cfg.batch_first else v[: t + 1]) if k in ("x", "d_output") else v
                      for k, v in a.items()}
            h_n = probe.impl(prefix, replace(probe.case, config=replace(cfg, seq_len=t + 1)))["h_n"]
            for layer in range(cfg.num_layers):
                ref = lp.traces[(layer, 0)].h[t]
                if _differs(probe, h_n[layer], ref):
                    return (f"hidden states first diverge at layer {layer}, forward direction, time step {t} "
                            f"(h_n of the prefix run x[:{t + 1}]); everything before matches")
    out_impl = _tm(cfg, probe.mine["output"]).astype(np.float64)
    tol = allowed_error(lp.output, probe.bounds["output"], probe.dtype)[0]
    found = []
    for d in range(D):
        sl = slice(d * H, (d + 1) * H)
        err = np.abs(out_impl[:, :, sl] - lp.output[:, :, sl]).max(axis=(1, 2))
        steps = list(range(T - 1, -1, -1)) if d == 1 else list(range(T))
        bad = [t for t in steps if err[t] > tol]
        if bad:
            k = steps.index(bad[0])
            found.append(f"the last layer's {'reverse' if d else 'forward'} direction first diverges at time "
                         f"step {bad[0]} (its processing step {k}; {'the steps before it match' if k else 'already at its first step'})")
    if found:
        return "; ".join(found)
    if not probe.same("h_n", probe.mine["h_n"], lp.h_n, probe.bounds["h_n"]):
        return "the output matches at every step but h_n differs: the final states are returned wrongly (order or step)"
    return None


def _locate_backward(probe):
    cfg, a, fam = probe.config, probe.arrays, probe.case.family
    T = cfg.seq_len
    if T < 2:
        return None
    probe_arrays = dict(a, d_output=np.zeros_like(a["d_output"]), d_h_n=np.zeros_like(a["d_h_n"]))
    last = (slice(None), T - 1) if cfg.batch_first else (T - 1,)
    probe_arrays["d_output"][last] = a["d_output"][last]
    mine = probe.impl(probe_arrays)
    ref = probe.reference(probe_arrays)
    bounds = fam.bounds(probe.case, probe_arrays)
    dx_m, dx_r = _tm(cfg, mine["dx"]).astype(np.float64), _tm(cfg, ref["dx"])
    tol = allowed_error(ref["dx"], bounds["dx"], probe.dtype)[0]
    err = np.abs(dx_m - dx_r).max(axis=(1, 2))
    wrong = [t for t in range(T - 1, -1, -1) if err[t] > tol]
    other = [k for k in ref if k not in ("output", "h_n", "dx") and not probe.same(k, mine[k], ref[k], bounds.get(k))]
    head = "with an upstream gradient on the last time step only"
    if not wrong:
        if other:
            return (f"{head}, dx is right at every step (the gradient flows back through time correctly) "
                    f"but {join(other)} differ{'s' if len(other) == 1 else ''}: the mistake is in how "
                    "the flowing gradient is turned into those")
        return (f"{head}, every tensor matches: the mistake needs the other steps' output "
                "gradients or d_h_n")
    first = wrong[0]
    if first == T - 1:
        return (f"{head}, dx is already wrong at that step (t = {T - 1}): what the step that "
                "receives the gradient sends to its input is wrong (its local derivative, or the weight it uses)")
    n_ok = T - 1 - first
    what = ("matches for the last step only: the gradient is not carried back through time (or is carried back wrongly)"
            if n_ok == 1 else f"matches for the last {n_ok} steps and first differs at time step {first}, "
                              f"{n_ok} steps back")
    return f"{head}, dx {what}"


# ---------------------------------------------------------------------------------------
# The classic mistakes, each computed. A BPTT mutant replays the reference's (correct)
# forward states with one mistake in backward; a forward mutant is the reference itself run
# on what the mistaken forward computes. Order matters only for ambiguous data: the first
# suspect printed is the first that explains the numbers.
MUTANTS = {
    "tanh_of_output": ("wrong activation derivative (taken at the output, not the pre-activation)",
                       "tanh'(a_t) = 1 - tanh(a_t)^2 = 1 - h_t^2; the implementation used 1 - tanh(h_t)^2 (h_t is already tanh'd)"),
    "relu_at_zero": ("wrong activation derivative (relu'(0) convention)",
                     "torch uses relu'(0) = 0 ([a > 0]); the implementation used relu'(0) = 1 ([a >= 0])"),
    "not_carried": ("missing contribution from later time steps (no carry back, dh0 = 0)",
                    "dL/dh_(t-1) = dL/dy_(t-1) + dL/da_t W_hh; the implementation dropped the second term (no carry back)"),
    "not_carried_step0": ("missing contribution from later time steps (dh0 from step 0 alone, the CS231n form)",
                          "dL/dh_(t-1) = dL/dy_(t-1) + dL/da_t W_hh; the implementation dropped the second term, "
                          "so each step sees only its own output gradient, and dh0 = da_0 W_hh is step 0's alone "
                          "(rnn_backward called rnn_step_backward(dh[:, t], ...) instead of dh[:, t] + dprev_h)"),
    "dh0_one_step_late": ("dh0 not propagated to the initial state (the gradient of h_0 returned instead)",
                          "dh0 = dL/da_0 W_hh, one step further back than dL/dh_0 = dL/dy_0 + dL/da_1 W_hh; "
                          "the implementation returned dL/dh_0, the gradient of the first output"),
    "hidden_off_by_one": ("previous hidden state off by one step",
                          "dW_hh = sum_t da_t^T h_(t-1); the implementation paired da_t with h_t"),
    "reverse_not_rereversed": ("reverse direction not re-reversed",
                               "the reverse direction processes t = T-1..0, so its output gradients must be read in that "
                               "order; the implementation read them in original time order"),
    "ignores_d_h_n": ("upstream gradient on h_n ignored",
                      "BPTT starts from dL/dh_n (d_h_n) at the last step; the implementation started from zero"),
    "last_output_only": ("only the last time step's output gradient used",
                         "dL/dh_t = dL/dy_t + dL/da_(t+1) W_hh at every t; the implementation fed d_output[T-1] "
                         "alone (as if the loss read only the last output) and dropped d_output at t < T-1"),
    "no_grad_to_lower_layer": ("gradient not passed to the layer below",
                               "layer k's input gradient sum_t da_t W_ih is the output gradient of layer k-1; the "
                               "implementation did not pass it down"),
    "multiplied_over_time": ("gradients combined over time with *= instead of summed",
                             "dW = sum_t (term at t); the implementation multiplied the per-step terms"),
    "swapped_dx_dh": ("dx and dh_prev computed with each other's weight",
                      "dx_t = da_t W_ih and dh_(t-1) = da_t W_hh; the implementation swapped W_ih and W_hh"),
    "dx_with_w_hh": ("dx computed with W_hh instead of W_ih",
                     "dx_t = da_t W_ih; the implementation used da_t W_hh (dh_(t-1) = da_t W_hh is right)"),
    "dh_with_w_ih": ("dh_prev computed with W_ih instead of W_hh",
                     "dh_(t-1) = da_t W_hh; the implementation carried da_t W_ih back (dx_t = da_t W_ih is right)"),
}


def _truncated(k: int):
    return (f"backprop through time truncated every k = {k} steps",
            f"dL/dh_(t-1) receives da_t W_hh from every later step; the implementation cut the flow at "
            f"processing steps {k}, {2 * k}, ... (the state detached every {k} steps, as truncated BPTT "
            "in language-model tutorials), exact only for sequences of at most k steps")


def _window(k: int):
    return (f"backprop through time truncated to a window of k = {k} steps",
            f"each output's gradient flows back through every earlier step; the implementation carried "
            f"each one back through {k} steps only (its own and {k - 1} before it, a bptt_truncate window)")


def mutants(probe) -> list:
    cfg = probe.config
    specs = [(variant, None, name, eq) for variant, (name, eq) in MUTANTS.items()]
    # The window length k is found by trying each: k = 1 is "not carried" above, k >= T is
    # exact; each k is a different function, so at most one can reproduce the numbers.
    for k in range(2, cfg.seq_len):
        specs += [("truncated", k, *_truncated(k)), ("window", k, *_window(k))]
    out = []
    for variant, k, name, equation in specs:
        alt = _mutant(probe, variant, k)
        if alt is not None:
            out.append((Suspect(name, equation), alt))
    out += _forward_mutants(probe)
    return out


def _square(cfg, p64) -> bool:
    """W_ih and W_hh have the same shape in every (layer, direction): only then can one be
    used for the other without a shape error."""
    return all(p64[f"weight_ih_l{k}{s}"].shape == p64[f"weight_hh_l{k}{s}"].shape
               for k in range(cfg.num_layers) for s in ("", "_reverse")[:cfg.num_directions])


def _mutant(probe, variant: str, k: int | None = None):
    """BPTT over the reference's forward states with one classic mistake, or None if that
    mistake is not expressible (or makes no difference) for this configuration."""
    cfg, a = probe.config, probe.arrays
    lp = _loop(probe)
    p64 = {k_: v.astype(np.float64) for k_, v in a["params"].items()}
    L, D, H, T = cfg.num_layers, cfg.num_directions, cfg.hidden_size, cfg.seq_len
    nl = cfg.nonlinearity
    applies = {
        "tanh_of_output": nl == "tanh", "relu_at_zero": nl == "relu", "reverse_not_rereversed": D == 2,
        "no_grad_to_lower_layer": L > 1, "last_output_only": T > 1,
        # at T = 1 not carrying back only zeroes dh0: the generic "dh0 returned as zero"
        "not_carried": T > 1, "not_carried_step0": T > 1, "multiplied_over_time": T > 1,
        "swapped_dx_dh": _square(cfg, p64), "dx_with_w_hh": _square(cfg, p64), "dh_with_w_ih": _square(cfg, p64),
    }
    if not applies.get(variant, True):
        return None
    d_out = _tm(cfg, a["d_output"]).astype(np.float64)
    d_hn = a["d_h_n"].astype(np.float64)
    grads, dh0 = {}, np.zeros_like(d_hn)
    dy_layer = d_out
    for layer in range(L - 1, -1, -1):
        d_in = np.zeros_like(lp.traces[(layer, 0)].layer_input)
        for d in range(D):
            sfx = "_reverse" if d else ""
            tr = lp.traces[(layer, d)]
            w_ih, w_hh = p64[f"weight_ih_l{layer}{sfx}"], p64[f"weight_hh_l{layer}{sfx}"]
            dys = dy_layer[:, :, d * H:(d + 1) * H]
            if variant == "last_output_only" and layer == L - 1:
                dys = np.where(np.arange(T)[:, None, None] == T - 1, dys, 0.0)
            if variant == "reverse_not_rereversed" and d == 1:
                dys = dys[::-1]
            # carries: {age: gradient reaching this step's h after passing through `age`
            # steps}; only the window mistake needs the ages apart, the rest keep age 0.
            start = np.zeros_like(d_hn[0]) if variant == "ignores_d_h_n" else d_hn[layer * D + d]
            carries = {0: start}
            g_ih, g_hh, g_b = np.zeros_like(w_ih), np.zeros_like(w_hh), np.zeros(H)
            times = list(range(T)) if d else list(range(T - 1, -1, -1))  # backward order
            for n, t in enumerate(times):
                s = T - 1 - n  # the processing step of time t in this direction
                parts = dict(carries)
                parts[0] = parts.get(0, 0) + dys[t]
                dh = sum(parts.values())
                if variant == "tanh_of_output":
                    dphi = 1 - np.tanh(tr.h[t]) ** 2
                elif variant == "relu_at_zero":
                    dphi = (tr.a[t] >= 0).astype(float)
                elif nl == "tanh":
                    dphi = 1 - tr.h[t] ** 2
                elif nl == "relu":
                    dphi = (tr.a[t] > 0).astype(float)
                else:
                    dphi = np.ones_like(tr.h[t])
                da = dh * dphi
                h_used = tr.h[t] if variant == "hidden_off_by_one" else tr.h_prev[t]
                terms = (da.T @ tr.layer_input[t], da.T @ h_used, da.sum(axis=0))
                if variant == "multiplied_over_time":
                    g_ih, g_hh, g_b = (term.copy() if not acc.any() else acc * term
                                       for acc, term in zip((g_ih, g_hh, g_b), terms))
                else:
                    g_ih, g_hh, g_b = g_ih + terms[0], g_hh + terms[1], g_b + terms[2]
                w_dx = w_hh if variant in ("swapped_dx_dh", "dx_with_w_hh") else w_ih
                w_dh = w_ih if variant in ("swapped_dx_dh", "dh_with_w_ih") else w_hh
                d_in[t] += da @ w_dx
                if variant == "window":
                    # a gradient that has passed k steps stops, unless it has reached h0
                    carries = {age + 1: (part * dphi) @ w_dh for age, part in parts.items()
                               if age + 1 < k or s == 0}
                else:
                    carries = {0: da @ w_dh}
                cut = ((variant == "not_carried") or (variant == "not_carried_step0" and s > 0)
                       or (variant == "truncated" and s > 0 and s % k == 0))
                if cut:
                    carries = {0: np.zeros_like(dh)}
                if variant == "dh0_one_step_late" and s == 0:
                    carries = {0: dh}
            dh0[layer * D + d] = sum(carries.values()) if carries else np.zeros_like(d_hn[0])
            grads[f"grad weight_ih_l{layer}{sfx}"], grads[f"grad weight_hh_l{layer}{sfx}"] = g_ih, g_hh
            if cfg.bias:
                grads[f"grad bias_ih_l{layer}{sfx}"] = g_b
                grads[f"grad bias_hh_l{layer}{sfx}"] = g_b.copy()
        dy_layer = np.zeros_like(d_in) if variant == "no_grad_to_lower_layer" and layer > 0 else d_in
    return dict(dx=_tm(cfg, dy_layer), dh0=dh0, **grads)


mutant = _mutant  # the cell's diagnosis replays the same mutants on a one-step layer


def _forward_mutants(probe) -> list:
    """Forward mistakes, computed by running the reference on what the mistaken forward
    computes."""
    cfg, a, ref = probe.config, probe.arrays, probe.ref
    out = []
    T, B, H = cfg.seq_len, cfg.batch, cfg.hidden_size
    if cfg.batch_first and T > 1 and B > 1:
        # x (B, T, I) reshaped to (T, B, I) reads the memory in the wrong order: the
        # implementation runs the correct time-major RNN on x.reshape(T, B, I) and reshapes
        # its output (and, the same way, d_output and dx) back.
        tm_case = replace(probe.case, config=replace(cfg, batch_first=False))
        arrays = dict(a, x=a["x"].reshape(T, B, -1), d_output=a["d_output"].reshape(T, B, -1))
        r = probe.reference(arrays, tm_case)
        r["output"], r["dx"] = r["output"].reshape(B, T, -1), r["dx"].reshape(B, T, -1)
        out.append((Suspect("batch_first handled with reshape instead of a transpose",
                            "x (B, T, I) -> (T, B, I) is x.transpose(1, 0, 2); the implementation used "
                            "x.reshape(T, B, I) (and reshaped output and dx back the same way), which "
                            "mixes samples and time steps"), r))
    if cfg.bidirectional:
        # The last layer's reverse direction leaves its states in processing order:
        # output[t] holds the state computed at processing step t (time T-1-t).
        o = _tm(cfg, ref["output"]).copy()
        o[:, :, H:] = o[::-1, :, H:]
        out.append((Suspect("reverse direction's output not put back in time order",
                            "the reverse direction computes h_t for t = T-1..0; output[t] must hold h_t, "
                            "the implementation stored the state of processing step t (h_(T-1-t)) there"),
                    dict(output=_tm(cfg, o))))
    return out
