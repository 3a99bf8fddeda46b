"""Diagnosis of an RNN mismatch: where it goes wrong, and which classic mistake it is.

Three parts, all computed, never guessed from text:

1. Which tensors are right and which are wrong (from the causal-order comparison).
2. Localization, probing the implementation as a black box through the contract:
   - forward: the first (layer, direction, time step) where hidden states diverge. The
     last layer's states are the output; a lower layer of a unidirectional stack is read
     from h_n of prefix runs x[:t+1] (h_n holds every layer's state at step t).
   - backward: an upstream gradient on the LAST time step only (d_h_n = 0); dx at each
     earlier step is then exactly what was carried back through time, so the first step
     (walking back) where dx differs says how far the gradient flows correctly.
3. Named suspects: each classic mistake is *computed*, by a small NumPy BPTT replaying the
   reference's (correct) forward states with that one mistake (``_mutant``), or by
   transforming the reference's gradients (transpose, swap, sign, / batch, zero bias). A
   suspect is printed only if its alternative reproduces every tensor the implementation
   returned (normwise within ``MATCH_RTOL``), so a printed suspect is a demonstrated
   explanation; ambiguous data (e.g. all-zero weights) can make several suspects match.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from reference import torch_rnn_vjp
from reference.torch_loop import rnn_loop_vjp

from .compare import compare, rtol_for
from .contract import construct, inject_params

MATCH_RTOL = 1e-8  # an alternative "reproduces" the implementation to 8 digits or better


@dataclass
class Suspect:
    name: str
    equation: str


@dataclass
class Diagnosis:
    ok: list = field(default_factory=list)
    bad: list = field(default_factory=list)
    forward: str | None = None
    backward: str | None = None
    suspects: list = field(default_factory=list)
    probe_case: object = None  # the case the localization and suspects were computed on
    generic: bool = False  # True when that is a generic variant, not the failing case

    def render(self) -> str:
        lines = ["Diagnosis:"]
        if self.bad:
            ok = f"{_join(self.ok)} match{'es' if len(self.ok) == 1 else ''}" if self.ok else "nothing matches"
            lines.append(f"  {ok}; {_join(self.bad)} differ{'s' if len(self.bad) == 1 else ''}"
                         + (" (in the example above)" if self.generic else ""))
        if self.generic:
            c = self.probe_case
            lines.append(f"  below: localized and matched on a generic case of the same configuration (T={c.config.seq_len}, "
                         f"B={c.config.batch}, seed={c.seed}, weight_scale=1), which fails too; a shrunk example has "
                         "too little structure to tell mistakes apart")
        if self.forward:
            lines.append(f"  forward: {self.forward}")
        if self.backward:
            lines.append(f"  backward: {self.backward}")
        if self.suspects:
            lines.append("  suspects (each alternative below reproduces the implementation's numbers):")
            lines += [f"    - {s.name}: {s.equation}" for s in self.suspects]
        else:
            lines.append("  suspects: none of the known single mistakes reproduces these numbers "
                         "(a different mistake, or several at once)")
        return "\n".join(lines)


def _join(names) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1] if names else ""


# ---------------------------------------------------------------------------------------
def diagnose(cls, case, comparisons) -> Diagnosis:
    """Diagnose a failed RNN case. Localization and suspects are computed on a generic
    variant of the configuration (T >= 4, B >= 3, ordinary random data) when that variant
    fails too, because a shrunk example (T = 1, zero weights) often cannot tell mistakes
    apart; otherwise on the failing case itself."""
    from .harness import rnn_comparisons  # local: harness imports this module

    dx = Diagnosis(ok=[c.tensor for c in comparisons if c.passed], bad=[c.tensor for c in comparisons if not c.passed])
    probe = case
    if case.lengths is None and case.truncate is None:
        generic = replace(case, config=replace(case.config, seq_len=max(case.config.seq_len, 4),
                                               batch=max(case.config.batch, 3), has_h0=True),
                          weight_scale=1.0, input_scale=1.0, zero_weights=False, zero_inputs=False)
        try:
            if any(not c.passed for c in rnn_comparisons(cls, generic)):
                probe = generic
        except Exception:  # noqa: BLE001 - the generic probe is best effort
            pass
    dx.probe_case, dx.generic = probe, probe is not case
    if probe.lengths is not None or probe.truncate is not None:
        return dx  # localization and suspects are defined for plain runs
    try:
        ctx = _Context(cls, probe)
        dx.forward = ctx.locate_forward()
        dx.backward = (ctx.locate_backward() if dx.forward is None else
                       "not localized: the forward pass already differs, and every gradient depends on it")
        dx.suspects = ctx.suspects()
    except Exception as exc:  # noqa: BLE001 - a diagnosis must never hide the mismatch itself
        dx.backward = f"(diagnosis unavailable: {type(exc).__name__}: {exc})"
    return dx


class _Context:
    def __init__(self, cls, case):
        self.cls, self.case, self.cfg = cls, case, case.config
        self.a = case.materialize()
        self.kw = self.cfg.module_kwargs()
        self.dtype = self.a["x"].dtype
        self.tm = (lambda z: z.swapaxes(0, 1)) if self.cfg.batch_first else (lambda z: z)
        self.p64 = {k: v.astype(np.float64) for k, v in self.a["params"].items()}
        self.loop = rnn_loop_vjp(self.kw, self.p64, self.tm(self.a["x"]).astype(np.float64), self._h0(),
                                 self.tm(self.a["d_output"]).astype(np.float64), self.a["d_h_n"].astype(np.float64))
        self.impl = self._run(self.a["x"], self.a["h0"], self.a["d_output"], self.a["d_h_n"])

    def _h0(self):
        h0 = self.a["h0"]
        return None if h0 is None else h0.astype(np.float64)

    def _run(self, x, h0, d_out, d_hn):
        impl = construct(self.cls, self.kw)
        inject_params(impl, self.cls, self.a["params"], self.cfg.param_shapes())
        out, h_n = impl.forward(x.copy(), None if h0 is None else h0.copy())
        if d_out is None:
            return out, h_n
        dx, dh0 = impl.backward(d_out.copy(), d_hn.copy())
        return dict(output=out, h_n=h_n, dx=dx, dh0=dh0, **{f"grad {k}": v for k, v in impl.grads.items()})

    def _tol(self, ref) -> float:
        return rtol_for(self.dtype) * max(float(np.max(np.abs(ref))), 1e-300)

    # -- localization ------------------------------------------------------------------
    def locate_forward(self):
        cfg, H, D = self.cfg, self.cfg.hidden_size, self.cfg.num_directions
        out_impl = self.tm(self.impl["output"]).astype(np.float64)
        out_ref = self.loop.output
        tol = self._tol(out_ref)
        T = cfg.seq_len
        found = []
        # Lower layers of a unidirectional stack, through h_n of prefix runs.
        if D == 1 and cfg.num_layers > 1:
            for t in range(T):
                x_pre = self.a["x"][:, : t + 1] if cfg.batch_first else self.a["x"][: t + 1]
                _, h_n = self._run(x_pre, self.a["h0"], None, None)
                for layer in range(cfg.num_layers):
                    ref = self.loop.traces[(layer, 0)].h[t]
                    if np.max(np.abs(h_n[layer] - ref)) > self._tol(ref):
                        return (f"hidden states first diverge at layer {layer}, forward direction, time step {t} "
                                f"(h_n of the prefix run x[:{t + 1}]); everything before matches")
        for d in range(D):
            sl = slice(d * H, (d + 1) * H)
            err = np.abs(out_impl[:, :, sl] - out_ref[:, :, sl]).max(axis=(1, 2))
            steps = list(range(T - 1, -1, -1)) if d == 1 else list(range(T))
            bad = [t for t in steps if err[t] > tol]
            if bad:
                k = steps.index(bad[0])
                found.append(f"the last layer's {'reverse' if d else 'forward'} direction first diverges at time "
                             f"step {bad[0]} (its processing step {k}; {'the steps before it match' if k else 'already at its first step'})")
        if found:
            return "; ".join(found)
        hn_ref = self.loop.h_n
        if np.max(np.abs(self.impl["h_n"] - hn_ref)) > self._tol(hn_ref):
            return "the output matches at every step but h_n differs: the final states are returned wrongly (order or step)"
        return None

    def locate_backward(self):
        cfg = self.cfg
        T = cfg.seq_len
        if T < 2:
            return None
        probe = np.zeros_like(self.a["d_output"])
        last = (slice(None), T - 1) if cfg.batch_first else (T - 1,)
        probe[last] = self.a["d_output"][last]
        zero_hn = np.zeros_like(self.a["d_h_n"])
        mine = self._run(self.a["x"], self.a["h0"], probe, zero_hn)
        ref = torch_rnn_vjp(self.kw, self.p64, self.a["x"].astype(np.float64), self._h0(),
                            probe.astype(np.float64), zero_hn.astype(np.float64))
        dx_m, dx_r = self.tm(mine["dx"]).astype(np.float64), self.tm(ref.dx)
        tol = self._tol(dx_r)
        err = np.abs(dx_m - dx_r).max(axis=(1, 2))
        wrong = [t for t in range(T - 1, -1, -1) if err[t] > tol]
        ref_all = {"dh0": ref.dh0, **{f"grad {k}": v for k, v in ref.grads.items()}}
        other = [k for k, v in ref_all.items()
                 if not compare(k, mine[k], v, rtol=rtol_for(self.dtype)).passed]
        head = "with an upstream gradient on the last time step only"
        if not wrong:
            if other:
                return (f"{head}, dx is right at every step (the gradient flows back through time correctly) "
                        f"but {_join(other)} differ{'s' if len(other) == 1 else ''}: the mistake is in how "
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

    # -- suspects ----------------------------------------------------------------------
    def suspects(self) -> list:
        ref = self._reference_tensors()
        B = self.cfg.batch
        candidates: list = []  # (Suspect, alternative tensors)
        for variant, eq in MUTANTS.items():
            alt = self._mutant(variant)
            if alt is not None:
                candidates.append((Suspect(*eq), {**ref, **alt}))
        grads = [k for k in ref if k.startswith("grad ")]
        for k in grads:
            g = ref[k]
            if g.ndim == 2 and g.shape[0] == g.shape[1]:
                candidates.append((Suspect(f"transposed gradient ({k})", f"{k[5:]}: dW = sum_t da_t^T x_t is (H, in); "
                                           "the implementation returned its transpose"), {**ref, k: g.T}))
        for i, k in enumerate(grads):
            for k2 in grads[i + 1:]:
                if ref[k].shape == ref[k2].shape and not ("bias" in k and "bias" in k2):
                    candidates.append((Suspect(f"two gradients swapped ({k} <-> {k2})",
                                               f"the gradient of {k[5:]} was stored as {k2[5:]} and the other way round"),
                                       {**ref, k: ref[k2], k2: ref[k]}))
        if B > 1:
            candidates.append((Suspect("gradient scaled by the batch size (mean instead of sum)",
                                       "dW = sum over batch and time of da_t^T x_t; the implementation divided by B"),
                               {**ref, **{k: ref[k] / B for k in grads}}))
        for k in ["dx", "dh0"] + grads:
            candidates.append((Suspect(f"sign flip ({k})", f"{k} has the opposite sign (a descent step folded into the gradient?)"),
                               {**ref, k: -ref[k]}))
        for k in grads:
            if "bias" in k:
                candidates.append((Suspect(f"a bias missing ({k})", f"a_t = x_t W_ih^T + b_ih + h_(t-1) W_hh^T + b_hh: "
                                           f"{k[5:]} gets sum_t,b da_t too; the implementation left it at zero"),
                                   {**ref, k: np.zeros_like(ref[k])}))
        out = []
        for suspect, alt in candidates:
            if self._explains(alt, ref):
                out.append(suspect)
        return out

    def _reference_tensors(self) -> dict:
        lp = self.loop
        ref = dict(output=self.tm(lp.output), h_n=lp.h_n, dx=self.tm(lp.dx), dh0=lp.dh0)
        ref.update({f"grad {k}": v for k, v in lp.grads.items()})
        return ref

    def _explains(self, alt: dict, ref: dict) -> bool:
        differs = False
        rtol = max(MATCH_RTOL, 10 * rtol_for(self.dtype))
        for k, v in alt.items():
            mine = np.asarray(self.impl[k], dtype=np.float64)
            if not compare(k, mine, v, rtol=rtol).passed:
                return False
            differs |= not compare(k, v, ref[k], rtol=rtol).passed
        return differs

    def _mutant(self, variant: str):
        """BPTT over the reference's forward states with one classic mistake, or None if
        that mistake is not expressible for this configuration."""
        cfg, lp = self.cfg, self.loop
        L, D, H, T = cfg.num_layers, cfg.num_directions, cfg.hidden_size, cfg.seq_len
        nl = cfg.nonlinearity
        if variant == "tanh_of_output" and nl != "tanh":
            return None
        if variant == "relu_at_zero" and nl != "relu":
            return None
        if variant == "reverse_not_rereversed" and D == 1:
            return None
        if variant == "no_grad_to_lower_layer" and L == 1:
            return None
        if variant == "swapped_dx_dh" and any(
                self.p64[f"weight_ih_l{k}{s}"].shape != self.p64[f"weight_hh_l{k}{s}"].shape
                for k in range(L) for s in ("", "_reverse")[:D]):
            return None
        d_out = self.tm(self.a["d_output"]).astype(np.float64)
        d_hn = self.a["d_h_n"].astype(np.float64)
        grads, dh0 = {}, np.zeros_like(d_hn)
        dy_layer = d_out
        for layer in range(L - 1, -1, -1):
            layer_in = lp.traces[(layer, 0)].layer_input
            d_in = np.zeros_like(layer_in)
            for d in range(D):
                sfx = "_reverse" if d else ""
                tr = lp.traces[(layer, d)]
                w_ih, w_hh = self.p64[f"weight_ih_l{layer}{sfx}"], self.p64[f"weight_hh_l{layer}{sfx}"]
                dys = dy_layer[:, :, d * H:(d + 1) * H]
                if variant == "reverse_not_rereversed" and d == 1:
                    dys = dys[::-1]
                carry = np.zeros_like(d_hn[0]) if variant == "ignores_d_h_n" else d_hn[layer * D + d]
                g_ih, g_hh, g_b = np.zeros_like(w_ih), np.zeros_like(w_hh), np.zeros(H)
                for t in (range(T) if d else range(T - 1, -1, -1)):
                    dh = dys[t] + carry
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
                    if variant == "swapped_dx_dh":
                        d_in[t] += da @ w_hh
                        carry = da @ w_ih
                    else:
                        d_in[t] += da @ w_ih
                        carry = np.zeros_like(dh) if variant == "not_carried" else da @ w_hh
                dh0[layer * D + d] = carry
                grads[f"grad weight_ih_l{layer}{sfx}"], grads[f"grad weight_hh_l{layer}{sfx}"] = g_ih, g_hh
                if cfg.bias:
                    grads[f"grad bias_ih_l{layer}{sfx}"] = g_b
                    grads[f"grad bias_hh_l{layer}{sfx}"] = g_b.copy()
            dy_layer = np.zeros_like(d_in) if variant == "no_grad_to_lower_layer" and layer > 0 else d_in
        return dict(dx=self.tm(dy_layer), dh0=dh0, **grads)


MUTANTS = {
    "tanh_of_output": ("wrong activation derivative (taken at the output, not the pre-activation)",
                       "tanh'(a_t) = 1 - tanh(a_t)^2 = 1 - h_t^2; the implementation used 1 - tanh(h_t)^2 (h_t is already tanh'd)"),
    "relu_at_zero": ("wrong activation derivative (relu'(0) convention)",
                     "torch uses relu'(0) = 0 ([a > 0]); the implementation used relu'(0) = 1 ([a >= 0])"),
    "not_carried": ("missing contribution from later time steps",
                    "dL/dh_(t-1) = dL/dy_(t-1) + dL/da_t W_hh; the implementation dropped the second term (no carry back)"),
    "hidden_off_by_one": ("previous hidden state off by one step",
                          "dW_hh = sum_t da_t^T h_(t-1); the implementation paired da_t with h_t"),
    "reverse_not_rereversed": ("reverse direction not re-reversed",
                               "the reverse direction processes t = T-1..0, so its output gradients must be read in that "
                               "order; the implementation read them in original time order"),
    "ignores_d_h_n": ("upstream gradient on h_n ignored",
                      "BPTT starts from dL/dh_n (d_h_n) at the last step; the implementation started from zero"),
    "no_grad_to_lower_layer": ("gradient not passed to the layer below",
                               "layer k's input gradient sum_t da_t W_ih is the output gradient of layer k-1; the "
                               "implementation did not pass it down"),
    "multiplied_over_time": ("gradients combined over time with *= instead of summed",
                             "dW = sum_t (term at t); the implementation multiplied the per-step terms"),
    "swapped_dx_dh": ("dx and dh_prev computed with each other's weight",
                      "dx_t = da_t W_ih and dh_(t-1) = da_t W_hh; the implementation swapped W_ih and W_hh"),
}
