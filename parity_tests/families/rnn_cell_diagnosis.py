"""The RNNCell family's diagnosis hooks: the same localization and suspects as the layer's.

A cell is one step of one layer in one direction, ``h' = phi(x W_ih^T + b_ih + h W_hh^T +
b_hh)``, so it is diagnosed in two ways:

- localization by black-box probing of the cell's paths (``localize``):
  forward: h' recomputed with h = 0 (the input term and the biases alone), with x = 0 (the
  recurrent term and the biases) and with both 0 (phi of the biases) says which term of
  the pre-activation is wrong; backward: dx = da W_ih, dh = da W_hh and the bias gradient
  sum_b da share da = d_h' * phi'(a), so which of them differ says whether da itself (the
  activation's derivative) or one weight's product is wrong.
- suspects: the RNN's own mutants (``rnn_diagnosis.mutants``) on the cell seen as a
  one-step, one-layer RNN (``_as_layer``), mapped back to the cell's names; the family-
  independent ones (transposed, swapped, / batch, clipped, a bias, ...) come from
  ``diagnosis/`` as for every family. One list of mistakes, one matching rule.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..diagnosis import after_forward, join
from . import rnn_diagnosis
from .rnn import RNNConfig

# Mutants that at T = 1, one layer, one direction either equal the correct cell or
# duplicate a family-independent suspect (not carried back = dh returned as zero).
_NOT_FOR_A_CELL = {"not_carried", "ignores_d_h_n", "last_output_only", "no_grad_to_lower_layer",
                   "reverse_not_rereversed", "multiplied_over_time"}


# ---------------------------------------------------------------------------------------
def localize(probe):
    fwd = _locate_forward(probe)
    bwd = after_forward(probe) if fwd is not None else _locate_backward(probe)
    return fwd, bwd


def _h_next_matches(probe, arrays) -> bool:
    mine, ref = probe.impl(arrays)["h_next"], probe.reference(arrays)["h_next"]
    bound = probe.case.family.bounds(probe.case, arrays)["h_next"]
    return probe.same("h_next", mine, ref, bound)


def _locate_forward(probe):
    a = probe.arrays
    if probe.same("h_next", probe.mine["h_next"], probe.ref["h_next"], probe.bounds["h_next"]):
        return None
    zx = np.zeros_like(a["x"])
    zh = None if a["h"] is None else np.zeros_like(a["h"])
    b = "phi(b_ih + b_hh)" if probe.config.bias else "phi(0)"
    if not _h_next_matches(probe, dict(a, x=zx, h=zh)):
        return (f"with x = 0 and h = 0, h_next = {b} already differs: the "
                f"{'biases or the ' if probe.config.bias else ''}nonlinearity (everything else is zero)")
    input_ok = _h_next_matches(probe, dict(a, h=zh))
    if a["h"] is None:  # h = None: the recurrent term is h0 = 0's, nothing more to probe
        if not input_ok:
            return "with x = 0 it matches; with the case's x (h = None) it differs: the input term x W_ih^T is wrong"
        return "it matches with every probe, so the mistake is in how h = None is handled"
    rec_ok = _h_next_matches(probe, dict(a, x=zx))
    probes = (f"with x = 0 and h = 0 it matches; with h = 0 it {'matches' if input_ok else 'differs'}; "
              f"with x = 0 it {'matches' if rec_ok else 'differs'}")
    if input_ok and rec_ok:
        return f"{probes}: each term alone is right, they are combined wrongly"
    if rec_ok:
        return f"{probes}: the input term x W_ih^T is wrong (its weight, layout or input)"
    if input_ok:
        return f"{probes}: the recurrent term h W_hh^T is wrong (its weight, layout, or h itself)"
    return f"{probes}: both terms differ while the biases are right (the nonlinearity away from its bias value, or a shared product)"


def _locate_backward(probe):
    ok = {k: probe.same(k, probe.mine[k], probe.ref[k], probe.bounds.get(k)) for k in probe.ref}
    grads = [k for k in probe.ref if k.startswith("grad ")]
    bad_grads = [k for k in grads if not ok[k]]
    bias = [k for k in grads if "bias" in k]
    # sum_b da is every bias's gradient: a direct view of da (summed over the batch).
    da_ok = all(ok[k] for k in bias) if bias else None
    da_words = ("" if da_ok is None else
                " (and the bias gradient sum_b da matches)" if da_ok else
                "; the bias gradient sum_b da differs too")
    if not ok["dx"] and not ok["dh"]:
        return ("dx = da W_ih and dh = da W_hh both differ" + da_words
                + (": da = d_h_next * phi'(a), which they share, is wrong (the activation's derivative)"
                   if da_ok is not True else ": both weights' products are wrong (swapped or transposed?)"))
    if not ok["dx"]:
        return (f"dh = da W_hh matches, so da = d_h_next * phi'(a) is right{da_words}; dx = da W_ih differs: "
                "its weight or layout is wrong")
    if not ok["dh"]:
        return (f"dx = da W_ih matches, so da = d_h_next * phi'(a) is right{da_words}; dh = da W_hh differs: "
                "its weight or layout is wrong, or it is not returned")
    if bad_grads:
        if da_ok is False:
            da_words = " (yet the bias gradient, sum_b da, differs: the sum over the batch or a scaling is wrong)"
        return (f"dx and dh match, so da is right{da_words}; {join(bad_grads)} differ{'s' if len(bad_grads) == 1 else ''}: "
                "the mistake is in how da is turned into those")
    return None


# ---------------------------------------------------------------------------------------
class _LayerView:
    """The cell's probe seen as a probe of a one-step, one-layer RNN (time-major), for the
    RNN's mutants. Only what they read: config, arrays, dtype, mine, ref, bounds, case."""

    def __init__(self, probe):
        c, a = probe.config, probe.arrays
        self.config = RNNConfig(c.input_size, c.hidden_size, num_layers=1, nonlinearity=c.nonlinearity,
                                bias=c.bias, seq_len=1, batch=c.batch, dtype=c.dtype, has_h0=c.has_h0)
        self.case = replace(probe.case, config=self.config)
        self.dtype = probe.dtype
        d = a["d_h_next"]
        self.arrays = {"params": {f"{k}_l0": v for k, v in a["params"].items()}, "x": a["x"][None],
                       "h0": None if a["h"] is None else a["h"][None], "d_output": d[None],
                       "d_h_n": np.zeros_like(d)[None]}


def _to_cell(alt: dict) -> dict:
    out = {}
    for k, v in alt.items():
        if k == "output":
            out["h_next"] = v[0]
        elif k == "dx":
            out["dx"] = v[0]
        elif k == "dh0":
            out["dh"] = v[0]
        elif k.startswith("grad "):
            out[k.removesuffix("_l0")] = v
    return out


def mutants(probe) -> list:
    view = _LayerView(probe)
    out = []
    for variant, (name, equation) in rnn_diagnosis.MUTANTS.items():
        if variant in _NOT_FOR_A_CELL:
            continue
        alt = rnn_diagnosis.mutant(view, variant)
        if alt is not None:
            out.append((rnn_diagnosis.Suspect(name, equation), _to_cell(alt)))
    return out
