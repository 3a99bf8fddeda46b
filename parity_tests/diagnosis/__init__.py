"""Diagnosis of a mismatch: where it goes wrong, and which classic mistake it is.

Three parts, all computed, never guessed from text:

1. Which tensors are right and which are wrong (from the causal-order comparison).
2. Localization (the family's ``localize`` hook; for the RNN, ``families/rnn_diagnosis.py``):
   probing the implementation as a black box through the contract.
3. Named suspects: each classic mistake is *computed*, either by the family's ``mutants``
   hook (a small NumPy BPTT replaying the reference's correct forward states with that one
   mistake) or, for any family, by transforming the reference's gradients (transpose,
   swap, sign, / B or T*B naming the factor, clipped to [-c, c] with c read off the
   numbers, a state's gradient returned as zero, a bias's gradient left at zero) or by
   running the reference on a mistaken forward (one bias instead of b_ih + b_hh). A suspect is printed only if its alternative
   reproduces every tensor the implementation returned, judged by the one tolerance rule,
   and differs from the reference somewhere: a printed suspect is a demonstrated
   explanation; ambiguous data (e.g. all-zero weights) can make several suspects match.

Every call into the implementation goes through ``core.contract.run_impl``, the same
contract-checked path the suite uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import numpy as np

from ..core.cases import generic_variant
from ..core.compare import compare
from ..core.tolerance import ULPS_BUDGET
from ..core.contract import run_impl
from ..core.runs import Run, reference, returned, run_both
from ..core.family import flat


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
    generic_bad: list = field(default_factory=list)  # what differs there, in causal order
    precision: str | None = None  # set when every difference is the size of float32 rounding
    budget: str | None = None  # set when localization and suspects were judged at float32's budget
    failing_case: object = None  # the case that failed (the probe case may be its generic variant)
    forward_model: list = field(default_factory=list)  # no suspect: those that explain the forward alone

    def headline_note(self) -> str | None:
        """When the generic case's first differing tensor is not the example's: said right
        under the headline, which names the example's. A shrunk example with all-zero weights
        can agree in forward where the implementation's forward is wrong (a newcomer went
        hunting in backward for a GRU whose z was a tanh: the headline said dh0)."""
        if self.precision or not (self.generic and self.generic_bad and self.bad) or \
                self.generic_bad[0] == self.bad[0]:
            return None
        h0 = self._h0_given()
        # with h0 given too, the zero weights or the missing state may hide it: say neither
        example = "the example above" if h0 else "the shrunk example above"
        said = (f"{self.generic_bad[0]} differs first: the forward pass is wrong, which {example} hides (its "
                "forward agrees)" if self.forward else
                f"{self.generic_bad[0]} differs first, which {example} does not show")
        return (f"On a generic case of this configuration (ordinary random weights{', an initial state given' if h0 else ''}"
                f"; Diagnosis below) {said}.")

    def _h0_given(self) -> bool:
        """The generic case gives the initial state the failing case left out (h0=None rows),
        besides its ordinary weights: a model that differs from torch only through h (a GRU's
        reset gate) agrees at h = 0, so both changes are said (not which one hides what)."""
        return bool(self.generic and self.failing_case is not None and self.probe_case is not None
                    and getattr(self.probe_case.config, "has_h0", False)
                    and not getattr(self.failing_case.config, "has_h0", True))

    def render(self) -> str:
        lines = ["Diagnosis:"]
        if self.bad:
            ok = f"{_join(self.ok)} match{'es' if len(self.ok) == 1 else ''}" if self.ok else "nothing matches"
            lines.append(f"  {ok}; {_join(self.bad)} differ{'s' if len(self.bad) == 1 else ''}"
                         + (" (in the example above)" if self.generic else ""))
        if self.precision:
            lines.append(f"  precision: {self.precision}")
            return "\n".join(lines)
        if self.generic:
            c = self.probe_case
            size = ", ".join(f"{k}={getattr(c.config, a)}" for k, a in (("T", "seq_len"), ("B", "batch"))
                             if hasattr(c.config, a))
            lines.append(f"  below: localized and matched on a generic case of the same configuration ({size}, "
                         f"seed={c.seed}, weight_scale=1{', the initial state given' if self._h0_given() else ''}), "
                         "which fails too"
                         + (f", first at {self.generic_bad[0]}" if self.generic_bad[:1] != self.bad[:1] else "")
                         + "; a shrunk example has too little structure to tell mistakes apart")
        if self.budget:
            lines.append(f"  judged at float32's budget: {self.budget}")
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
            if self.forward_model:
                shown = list(dict.fromkeys(_forward_part(s.name) for s in self.forward_model))
                head = ("  the forward pass alone is reproduced by " + " and by ".join(f'"{n}"' for n in shown[:2])
                        + (f" (and {len(shown) - 2} more)" if len(shown) > 2 else ""))
                if any(_exact_model(s) for s in self.forward_model):
                    # that model's own exact backward was tried, and does not give these gradients
                    lines.append(head + ": the forward follows that model, and that model's exact backward does not "
                                 "reproduce the gradients, so the backward has a mistake of its own besides")
                else:
                    lines.append(head + ": start there. No alternative reproduces the gradients too: the backward "
                                 "has a mistake of its own besides, or is that forward's exact derivative, which is "
                                 "not among the alternatives")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {"forward": self.forward, "backward": self.backward,
                "suspects": [{"name": s.name, "why": s.equation} for s in self.suspects],
                "forward_alone": [s.name for s in self.forward_model]}


def _exact_model(s: "Suspect") -> bool:
    """A suspect that is a whole other model, forward and its exact backward (the GRU with r
    before W_hn, g through a sigmoid throughout, ...): the mistake tables say so in these words."""
    return "forward and backward of that model" in s.name or "forward and its exact backward" in s.equation


def _forward_part(name: str) -> str:
    """A suspect's name as a forward mistake alone, without what it says of the backward:
    "X (forward), backward with ..." / "X in forward (eq), backward with ..." / "X (forward
    and backward of that model)" / "X (eq, forward and backward of that model)" -> "X" or "X (eq)"."""
    if ", backward with" in name:
        name = name[: name.index(", backward with")]
    name = name.replace(" (forward and backward of that model)", "").replace(", forward and backward of that model)", ")")
    return name.replace(" (forward)", "").replace(" in forward (", " (").removesuffix(" in forward")


def join(names) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1] if names else ""


_join = join


class Probe:
    """One case run on both sides, and the means to run the implementation again on other
    arrays (always through the contract)."""

    def __init__(self, cls, run: Run):
        self.cls, self.run = cls, run
        self.case, self.config, self.arrays = run.case, run.case.config, run.arrays
        self.mine, self.ref, self.bounds = run.mine, run.ref, run.bounds
        self.dtype = run.arrays["x"].dtype

    def impl(self, arrays: dict, case=None) -> dict:
        """The implementation's flat dict on other arrays (and, if given, another case)."""
        return run_impl(self.cls, case or self.case, arrays)

    def reference(self, arrays: dict, case=None) -> dict:
        """torch's flat dict, without what the class does not return (core.runs.returned)."""
        return returned(self.cls, reference(case or self.case, arrays))

    def same(self, tensor: str, actual, expected, bound=None) -> bool:
        """The one tolerance rule, at this probe's precision."""
        return compare(tensor, actual, expected, dtype=self.dtype, bound=bound).passed


# ---------------------------------------------------------------------------------------
def diagnose(cls, case, comparisons) -> Diagnosis:
    """Diagnose a failed case. Localization and suspects are computed on a generic variant
    of the configuration (T >= 4, B >= 3, ordinary random data) when that variant fails
    too, because a shrunk example (T = 1, zero weights) often cannot tell mistakes apart;
    otherwise on the failing case itself."""
    fam = case.family
    dx = Diagnosis(ok=[c.tensor for c in comparisons if c.passed], bad=[c.tensor for c in comparisons if not c.passed],
                   failing_case=case)
    probe_run = None
    # (a case that already is its generic variant is diagnosed as itself, without the "below:" line)
    generic = _generic_variant(case)
    if case.lengths is None and case.truncate is None and generic != case:
        try:
            r = run_both(cls, generic)
            if any(not c.passed for c in r.comparisons):
                probe_run = r
        except Exception:  # noqa: BLE001 - the generic probe is best effort
            pass
    dx.generic = probe_run is not None
    if dx.generic:
        dx.generic_bad = [c.tensor for c in probe_run.comparisons if not c.passed]
    if _float32_sized(comparisons) and (probe_run is None or _float32_sized(probe_run.comparisons)):
        dx.probe_case = probe_run.case if dx.generic else case
        dx.precision = _precision_words(comparisons, probe_run.comparisons if dx.generic else [])
        return dx
    try:
        probe_run = probe_run or run_both(cls, case)
        dx.probe_case = probe_run.case
        if case.lengths is not None or case.truncate is not None:
            return dx  # localization and suspects are defined for plain runs
        probe = Probe(cls, probe_run)
        stored = _returned_float32(probe_run.comparisons)
        if stored:
            # Results stored in float32 differ from float64's by float32 rounding everywhere:
            # at float64's budget the forward "diverges at step 0" and no suspect can match
            # (the mistakes' numbers are float64). At float32's budget the rounding passes and
            # a real mistake (errors of order 1e-3 and up) still stands out.
            probe.dtype = np.dtype(np.float32)
            dx.budget = (f"{join(stored)} came back as float32 (the case is float64), so below, a "
                         "difference the size of float32 rounding is not counted as a mistake")
        if fam.localize is not None:
            dx.forward, dx.backward = fam.localize(probe)
        candidates = _candidates(probe)
        dx.suspects = suspects(probe, candidates)
        if not dx.suspects:
            dx.forward_model = forward_alone(probe, candidates)
    except Exception as exc:  # noqa: BLE001 - a diagnosis must never hide the mismatch itself
        dx.backward = f"(diagnosis unavailable: {type(exc).__name__}: {exc})"
    return dx


_FLOAT32_BUDGET = ULPS_BUDGET * float(np.finfo(np.float32).eps)


def _float32_sized(comparisons) -> bool:
    """A float64 case whose every differing value is off by no more than float32's budget
    (1000 float32 eps, normwise): what a correct implementation that computes or stores
    something in float32 returns. Localizing or matching suspects on it would compare
    rounding errors (the book ゼロから作るDeep Learning 2 stores hs and dxs in dtype='f'
    buffers: a newcomer got "the forward pass is wrong" under a Precision line)."""
    bad = [c for c in comparisons if not c.within_tolerance]
    return bool(bad) and all(c.requested_dtype == "float64" and c.normwise <= _FLOAT32_BUDGET for c in bad)


def _returned_float32(comparisons) -> list:
    """The tensors a float64 case got back as float32 (the implementation's dtype, not the case's)."""
    return [c.tensor for c in comparisons if c.requested_dtype == "float64" and c.dtype == "float32"]


def _precision_words(comparisons, generic: list) -> str:
    """What ``_float32_sized`` found, in words (``generic``: the generic case's comparisons,
    when it was run and failed too)."""
    bad = [c for c in comparisons if not c.within_tolerance]
    worst = max(c.normwise for c in bad + [c for c in generic if not c.within_tolerance])
    worst /= float(np.finfo(np.float32).eps)
    stored = [c.tensor for c in bad if c.dtype == "float32"]
    how = (f"{join(stored)} came back as float32: computed or stored in float32 (np.empty(..., dtype='f'), "
           ".astype(np.float32))" if stored else
           "everything came back as float64, so something rounds to float32 on the way (a float32 buffer, "
           "array or cast)")
    return (f"every difference is within float32's budget (at most {worst:.3g} float32 eps, normwise"
            + (", on a generic case of this configuration too" if generic else "")
            + f"): the size of float32 rounding, not of a wrong formula. {how}; keep the case's dtype "
            "throughout to be checked at float64's budget. Not localized, no suspects: they would compare "
            "rounding errors")


def after_forward(probe) -> str:
    """The backward line when the forward pass already differs (every family's ``localize``):
    not localized, since every gradient depends on the forward; unless every gradient agrees
    and only some of the returned states differ, which says the steps are right and the
    state returned is not the last one computed (a newcomer's GRU returned its reverse
    direction's h_n from the wrong end and was told "every gradient depends on it")."""
    def bad(k):
        return not probe.same(k, probe.mine[k], probe.ref[k], probe.bounds.get(k))

    grads = [k for k in probe.ref if k.startswith(("grad ", "d"))]
    states = [k for k in probe.ref if k not in grads]
    wrong = [k for k in states if bad(k)]
    if wrong and len(wrong) < len(states) and not any(bad(k) for k in grads):
        right = [k for k in states if k not in wrong]
        return (f"every gradient agrees, and so {'does' if len(right) == 1 else 'do'} {join(right)}: the steps "
                f"are computed right, but what is returned as {join(wrong)} is not the last state each direction "
                "computed (a reverse direction's last is the one after time step 0)")
    return "not localized: the forward pass already differs, and every gradient depends on it"


def _generic_variant(case):
    """``cases.generic_variant`` with T >= 4, B >= 3 and h0 given: enough structure to
    localize and to tell mistakes apart."""
    names = {f.name for f in fields(case.config)}
    changes = {k: max(getattr(case.config, k), v) for k, v in (("seq_len", 4), ("batch", 3)) if k in names}
    return replace(generic_variant(case), config=replace(case.config, has_h0=True, **changes))


def _candidates(probe: Probe) -> list:
    """Every candidate mistake, as (Suspect, the numbers it gives under the contract's names)."""
    fam, ref = probe.case.family, probe.ref
    candidates = list(fam.mutants(probe)) if fam.mutants is not None else []
    candidates = [(s, {k: v for k, v in {**ref, **alt}.items() if k in ref}) for s, alt in candidates]
    return candidates + _transformed(probe)


def suspects(probe: Probe, candidates: list | None = None) -> list:
    """Every candidate mistake whose alternative explains the implementation's numbers."""
    candidates = _candidates(probe) if candidates is None else candidates
    return [s for s, alt in candidates if _explains(probe, alt)]


def forward_alone(probe: Probe, candidates: list) -> list:
    """When no suspect explains everything: the candidates that explain the FORWARD results
    (output and final states) where those differ from torch. A different model plus a
    mistake in its backward (a public reset-before GRU whose backward also took sigmoid' from
    the pre-activations) matched nothing, and the learner got no hint about either."""
    fam = probe.case.family
    names = [k for k in flat(fam.forward_returns) if k in probe.ref]
    if all(probe.same(k, probe.mine[k], probe.ref[k], probe.bounds.get(k)) for k in names):
        return []
    return [s for s, alt in candidates if _explains(probe, {k: alt[k] for k in names})]


def _transformed(probe: Probe) -> list:
    """Mistakes any family can make, computed by transforming the reference's gradients."""
    ref, out = probe.ref, []
    grads = [k for k in ref if k.startswith("grad ")]
    for k in grads:
        g = ref[k]
        if g.ndim == 2 and g.shape[0] == g.shape[1]:
            out.append((Suspect(f"transposed gradient ({k})", f"{k[5:]}: dW = sum_t da_t^T x_t is (out, in); "
                                "the implementation returned its transpose"), {**ref, k: g.T}))
    for i, k in enumerate(grads):
        for k2 in grads[i + 1:]:
            if ref[k].shape == ref[k2].shape and not ("bias" in k and "bias" in k2):
                out.append((Suspect(f"two gradients swapped ({k} <-> {k2})",
                                    f"the gradient of {k[5:]} was stored as {k2[5:]} and the other way round"),
                            {**ref, k: ref[k2], k2: ref[k]}))
    out += _batch_factor(probe, grads)
    out += _clipped(probe, grads)
    for k in flat(probe.case.family.backward_returns)[1:]:
        if k in ref:
            out.append((Suspect(f"{k} not propagated to the initial state (returned as zero)",
                                f"{k} is the gradient carried all the way back to the initial state (through "
                                "the first step's recurrent weight); the implementation returned zeros"), {**ref, k: np.zeros_like(ref[k])}))
    out += _one_bias(probe)
    for k in [k for k in flat(probe.case.family.backward_returns) if k in ref] + grads:
        out.append((Suspect(f"sign flip ({k})", f"{k} has the opposite sign (a descent step folded into the gradient?)"),
                    {**ref, k: -ref[k]}))
    for k in grads:
        if "bias" in k:
            out.append((Suspect(f"a bias missing ({k})", f"a_t = x_t W_ih^T + b_ih + h_(t-1) W_hh^T + b_hh: "
                                f"{k[5:]} gets sum_t,b da_t too; the implementation left it at zero"),
                        {**ref, k: np.zeros_like(ref[k])}))
    return out


def _fmt(v: float) -> str:
    return f"{v:.6g}"


def _batch_factor(probe: Probe, grads: list) -> list:
    """Parameter gradients divided by a factor of the batch: the loss was a mean where torch's
    (and the contract's) is a sum. The factor is named: B, or T*B when time is averaged too;
    under ``--reduction mean`` the reverse mistake (summed, factor B too large) is named."""
    cfg, ref = probe.config, probe.ref
    B, T = getattr(cfg, "batch", 1), getattr(cfg, "seq_len", 1)
    mean = getattr(probe.cls, "reduction", "sum") == "mean"
    out = []
    if not mean:
        factors = [(B, f"the batch size B = {B}")] + ([(T * B, f"T*B = {T * B} (batch and time)")] if T > 1 else [])
        for factor, what in factors:
            if factor > 1:
                out.append((Suspect(f"weight gradients averaged over the batch (divided by {what})",
                                    f"dW = sum over batch and time of da_t^T x_t (torch's loss is a sum); the "
                                    f"implementation divided every parameter gradient by {factor}. If your "
                                    "loss is a mean over the batch, run with --reduction mean"),
                            {**ref, **{k: ref[k] / factor for k in grads}}))
        biases = [k for k in grads if "bias" in k]
        if B > 1 and biases and len(biases) < len(grads):  # `db = da.sum(0) / N` beside summed weights
            out.append((Suspect(f"bias gradients alone averaged over the batch (divided by B = {B})",
                                "db = sum over batch and time of da_t, like every weight's gradient; the "
                                f"implementation divided the bias gradients alone by {B} (the weights' are sums)"),
                        {**ref, **{k: ref[k] / B for k in biases}}))
    elif B > 1:
        out.append((Suspect(f"weight gradients summed over the batch though --reduction mean was given "
                            f"(B = {B} times too large)",
                            "with --reduction mean the parameter gradients are averaged over the batch; the "
                            "implementation's are sums: drop --reduction mean"),
                    {**ref, **{k: ref[k] * B for k in grads}}))
    return out


def _clipped(probe: Probe, grads: list) -> list:
    """Gradients clipped elementwise to [-c, c] inside backward (min-char-rnn's
    ``np.clip(dparam, -5, 5, out=dparam)``). c is read off the implementation's numbers: a
    clipped tensor's greatest magnitude is exactly c, an unclipped one's is below it; then
    clip(reference, -c, c) must reproduce every tensor. Two scopes: the parameter gradients,
    or every gradient backward returns."""
    ref, mine, fam = probe.ref, probe.mine, probe.case.family
    scopes = [("parameter gradients", grads),
              ("every gradient (parameters and inputs)",
               grads + [k for k in flat(fam.backward_returns) if k in ref])]
    out = []
    for n, (what, keys) in enumerate(scopes):
        sizes = [float(np.max(np.abs(mine[k]))) for k in keys if np.size(mine[k])]
        if not sizes:
            continue
        c = max(sizes)
        if not np.isfinite(c) or c <= 0:
            continue
        if n and not any(np.any(np.abs(ref[k]) > c) for k in keys if k not in grads):
            continue  # no input gradient reaches c: the same alternative as the first scope
        out.append((Suspect(f"gradients clipped to [-{_fmt(c)}, {_fmt(c)}] ({what})",
                            f"backward returns the exact gradient; the implementation clipped each element to "
                            f"[-c, c] with c = {_fmt(c)} (np.clip(dparam, -c, c)): exact until a gradient "
                            "exceeds c"),
                    {**ref, **{k: np.clip(ref[k], -c, c) for k in keys}}))
    return out


def _one_bias(probe: Probe) -> list:
    """Forward with one bias where torch adds two (b_ih + b_hh): the reference run with the
    other bias at zero. Its gradient is then either the kept bias's (the implementation
    still computed both from da) or zero."""
    params = probe.arrays["params"]
    out = []
    for kept, dropped in (("bias_ih", "bias_hh"), ("bias_hh", "bias_ih")):
        names = [k for k in params if k.startswith(dropped)]
        if not names or not any(np.any(params[k]) for k in names):
            continue
        arrays = dict(probe.arrays, params={k: np.zeros_like(v) if k in names else v for k, v in params.items()})
        r = probe.reference(arrays)
        if getattr(probe.cls, "reduction", "sum") == "mean":
            B = probe.config.batch
            r = {k: v / B if k.startswith("grad ") else v for k, v in r.items()}
        same = {f"grad {k}": r[f"grad {k.replace(dropped, kept, 1)}"] for k in names}
        zero = {f"grad {k}": np.zeros_like(r[f"grad {k}"]) for k in names}
        eq = (f"a_t = x_t W_ih^T + b_ih + h_(t-1) W_hh^T + b_hh; the implementation's forward added "
              f"{kept} only ({dropped} ignored)")
        out.append((Suspect(f"forward with one bias ({kept} only, not {kept} + {dropped})", eq), {**r, **same}))
        out.append((Suspect(f"forward with one bias ({kept} only, not {kept} + {dropped}), "
                            f"and no gradient for {dropped}", eq), {**r, **zero}))
    return out


def _explains(probe: Probe, alt: dict) -> bool:
    """``alt`` reproduces every tensor of the implementation and differs from the reference
    somewhere, both judged by the one tolerance rule with the case's running error bounds."""
    differs = False
    for k, v in alt.items():
        bound = probe.bounds.get(k)
        if not probe.same(k, probe.mine[k], v, bound):
            return False
        differs |= not probe.same(k, v, probe.ref[k], bound)
    return differs
