"""Both sides run on one case, and their flat dicts are compared in causal order.

    output -> h_n -> dx -> dh0 -> grad <every parameter, torch's order>      (the RNN)

``reference`` is torch's answer for any family (its module, called with the contract's
structure, one VJP); ``run_both`` adds the implementation's answer (through the
contract-checked ``core.contract.run_impl``) and the running error bounds; ``comparisons``
judges every tensor. A forward mismatch explains any backward one, so the first failing
tensor in that order is the one a message reports in detail.

The dtype each tensor came back in is compared too, apart from its values
(``core/dtypes.py``): with a strict class a mismatch fails the tensor; with a lenient one
(a plug-in without ``--strict-dtype``) ``comparisons`` emits a ``DtypeWarning``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from rnn_parity.reference.torch_ref import build, vjp

from .compare import Comparison, compare_all
from .contract import impl_name, not_returned, run_impl, zero_inputs
from .dtypes import DtypeWarning, mismatches, strict_dtype, warning_text
from .family import flat


def with_zero_inputs(cls, arrays: dict) -> dict:
    names = zero_inputs(cls)
    if not names:
        return arrays
    return {k: (np.zeros_like(v) if k in names and v is not None else v) for k, v in arrays.items()}


def returned(cls, named: dict) -> dict:
    """``named`` without the tensors ``cls`` does not return (a reference's flat dict, bounds)."""
    absent = not_returned(cls)
    return {k: v for k, v in named.items() if k not in absent} if absent else named


def reference(case, arrays: dict) -> dict:
    """torch's float64 answer for ``case``, as a flat dict in causal order. A state the case
    leaves out (None) is zeros, which still get a gradient (so dh0 for h0=None is checked)."""
    fam, config = case.family, case.config
    module = build(fam.torch_module, arrays["params"], **config.module_kwargs())
    shapes = fam.shapes(config)

    def arg(structure):
        if isinstance(structure, str):
            a = arrays[structure]
            return np.zeros(shapes[structure]) if a is None else a
        return tuple(arg(s) for s in structure)

    call = fam.torch_call(case) if fam.torch_call is not None else None
    outs, in_grads, param_grads = vjp(module, tuple(arg(s) for s in fam.forward_args),
                                      tuple(arg(s) for s in fam.backward_args), call)
    ref = dict(zip(flat(fam.forward_returns), outs))
    ref.update(zip(flat(fam.backward_returns), in_grads))
    ref.update({f"grad {k}": v for k, v in param_grads.items()})
    return ref


@dataclass
class Run:
    """One case run on both sides: the implementation's and torch's flat dicts, the
    running error bounds, and the comparisons in causal order."""

    case: object
    arrays: dict
    mine: dict
    ref: dict
    bounds: dict
    comparisons: list[Comparison]


def run_both(cls, case) -> Run:
    fam = case.family
    arrays = with_zero_inputs(cls, case.materialize())
    mine = run_impl(cls, case, arrays)
    ref = returned(cls, reference(case, arrays))
    bounds = returned(cls, fam.bounds(case, arrays))
    if getattr(cls, "reduction", "sum") == "mean":  # --reduction mean (contract.with_reduction)
        B = case.config.batch
        for name in [n for n in ref if n.startswith("grad ")]:
            ref[name], bounds[name] = ref[name] / B, bounds[name] / B
    locate = lambda tensor, index: fam.locate(case.config, tensor, index)  # noqa: E731
    comparisons = compare_all(mine, ref, bounds, dtype=arrays["x"].dtype, locate=locate,
                              strict_dtype=strict_dtype(cls))
    return Run(case, arrays, mine, ref, bounds, comparisons)


def comparisons(cls, case, *, warn: bool = True) -> list[Comparison]:
    """Run ``cls`` and torch on ``case``; one Comparison per tensor, in causal order. A dtype
    mismatch of a lenient plug-in is a ``DtypeWarning`` (``warn``; the report shows it in a
    column instead); of a strict class, its tensors fail."""
    result = run_both(cls, case).comparisons
    if warn and not strict_dtype(cls) and mismatches(result):
        warnings.warn(DtypeWarning(warning_text(impl_name(cls), result)), stacklevel=2)
    return result
