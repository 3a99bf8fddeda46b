"""Comparing the implementation's tensors with the reference's, one flat dict per side.

Each side is one flat dict of named tensors in causal order::

    {"output": ..., "h_n": ..., "dx": ..., "dh0": ..., "grad weight_ih_l0": ..., ...}

``compare_all`` walks the reference's dict in its order and judges every tensor by the one
tolerance rule (``core/tolerance.py``); ``compare`` judges one tensor. A family's
``locate(config, tensor, index)`` turns the index of the greatest difference into words
(layer, direction, time step, batch, unit).

The dtype the implementation returned is recorded beside the numbers (``dtype``,
``requested_dtype``, ``dtype_ok``) and never stops them being compared: the values are
judged against the budget of the requested precision whatever dtype came back
(``core/dtypes.py`` says why and how a mismatch is reported).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .tolerance import ULPS_BUDGET, allowed_error, rtol_for


@dataclass
class Comparison:
    tensor: str  # "output", "h_n", "dx", "dh0", "grad weight_hh_l1_reverse", ...
    passed: bool  # within tolerance, and (when the dtype policy is strict) the dtype matches
    max_abs: float  # greatest |actual - expected|
    max_rel: float  # greatest |actual - expected| / |expected| over elements with expected != 0
    normwise: float  # max_abs / scale (the quantity the tolerance bounds)
    rtol: float
    allowed_abs: float  # rtol * scale
    scale: float  # max(max|expected|, max running error bound M)
    mismatched: int  # elements with |actual - expected| > allowed_abs
    total: int
    abs_index: tuple | None  # where the greatest absolute difference is
    rel_index: tuple | None
    abs_where: str = ""  # abs_index decoded (layer, direction, time step, batch, unit)
    rel_where: str = ""
    within_tolerance: bool = True  # the values alone: max_abs <= allowed_abs
    dtype: str = ""  # the dtype the implementation returned ("float64")
    requested_dtype: str = ""  # the precision the case asked for (its inputs' dtype)

    @property
    def dtype_ok(self) -> bool:
        return not self.dtype or not self.requested_dtype or self.dtype == self.requested_dtype

    def as_dict(self) -> dict:
        d = asdict(self)
        d["abs_index"] = list(self.abs_index) if self.abs_index is not None else None
        d["rel_index"] = list(self.rel_index) if self.rel_index is not None else None
        return d


def compare(tensor: str, actual, expected, *, dtype, bound=None, locate=None,
            strict_dtype: bool = False) -> Comparison:
    """Judge one tensor by the tolerance rule (``core/tolerance.allowed_error``).

    ``dtype``: the precision the case asked for (the budget is 1000 eps of it, whatever
    dtype ``actual`` has). ``bound``: the tensor's running error bound M (array, number or
    None: then only ``expected`` sets the scale). ``locate(tensor, index) -> str`` decodes
    an index into words. Shapes are checked earlier, by the contract.
    ``strict_dtype``: a returned dtype other than ``dtype`` fails the tensor too (its values
    are compared all the same); otherwise ``passed`` is the values' verdict alone.
    """
    returned = np.asarray(actual).dtype
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        raise ValueError(f"compare({tensor}): actual shape {a.shape} != expected shape {e.shape}")
    diff = np.abs(a - e)
    # NaN or inf in the actual is a mismatch of infinite size, never a pass.
    diff = np.where(np.isfinite(diff), diff, np.inf)
    allowed, scale = allowed_error(e, bound, dtype)
    max_abs = float(diff.max()) if diff.size else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(e != 0, diff / np.abs(e), np.where(diff > 0, np.inf, 0.0))
    max_rel = float(rel.max()) if rel.size else 0.0
    normwise = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else np.inf)
    abs_index = tuple(int(i) for i in np.unravel_index(np.argmax(diff), diff.shape)) if diff.size else None
    rel_index = tuple(int(i) for i in np.unravel_index(np.argmax(rel), rel.shape)) if rel.size else None
    within = bool(max_abs <= allowed)
    requested = np.dtype(dtype)
    c = Comparison(
        tensor=tensor,
        passed=within and (returned == requested or not strict_dtype),
        max_abs=max_abs,
        max_rel=max_rel,
        normwise=float(normwise),
        rtol=rtol_for(dtype),
        allowed_abs=allowed,
        scale=scale,
        mismatched=int(np.count_nonzero(diff > allowed)),
        total=int(diff.size),
        abs_index=abs_index,
        rel_index=rel_index,
        within_tolerance=within,
        dtype=str(returned),
        requested_dtype=str(requested),
    )
    if locate is not None:
        c.abs_where = locate(tensor, abs_index) if abs_index is not None else ""
        c.rel_where = locate(tensor, rel_index) if rel_index is not None else ""
    return c


def compare_all(mine: dict, ref: dict, bounds: dict, *, dtype, locate=None,
                strict_dtype: bool = False) -> list[Comparison]:
    """One Comparison per tensor of ``ref`` (the reference's flat dict), in its order, which
    is the causal order: forward results, then input gradients, then parameter gradients."""
    return [compare(name, mine[name], ref[name], dtype=dtype, bound=bounds.get(name), locate=locate,
                    strict_dtype=strict_dtype)
            for name in ref]


def causal_order_line(comparisons) -> str:
    """``Causal order: output ok, h_n ok, dx DIFFERS, ...``; a tensor returned in another
    dtype than the case's carries it: ``output ok (float64)``."""
    return "Causal order: " + ", ".join(
        f"{c.tensor} {'ok' if c.within_tolerance else 'DIFFERS'}{'' if c.dtype_ok else f' ({c.dtype})'}"
        for c in comparisons)


def precision_note(c: Comparison) -> str:
    """For a tensor returned in a coarser dtype than the case asked for (float64 in, float32
    out): its precision is the returned dtype's, which the requested budget cannot meet.
    "" otherwise."""
    if c.dtype_ok:
        return ""
    try:
        got, want = np.finfo(c.dtype), np.finfo(c.requested_dtype)
    except ValueError:
        return ""
    if got.eps <= want.eps:
        return ""
    size = (f"; this error is {c.normwise / float(got.eps):.3g} {c.dtype} eps (normwise), "
            f"the size of {c.dtype} rounding" if c.normwise <= ULPS_BUDGET * float(got.eps) else "")
    return (f"Precision: {c.tensor} came back as {c.dtype}, so its precision is {c.dtype}'s "
            f"(eps {float(got.eps):.3g}), not the {c.requested_dtype} the case asked for "
            f"(eps {float(want.eps):.3g}, the budget's unit){size}: compute in the dtype you are given")


def format_comparison(c: Comparison) -> str:
    """assert_close-style lines for one failed tensor."""
    pct = 100.0 * c.mismatched / c.total if c.total else 0.0
    note = precision_note(c)
    return "\n".join(
        [
            f"Mismatched elements: {c.mismatched} / {c.total} ({pct:.1f}%)",
            f"Greatest absolute difference: {c.max_abs:.6g} at index {c.abs_index} "
            f"= ({c.abs_where}) (up to {c.allowed_abs:.3g} allowed)",
            f"Greatest relative difference: {c.max_rel:.6g} at index {c.rel_index} = ({c.rel_where})",
            f"Normwise relative error: {c.normwise:.3g} (allowed {c.rtol:.3g} = {ULPS_BUDGET} eps, "
            f"relative to scale {c.scale:.3g} = max(|expected|, error bound M))",
            *([note] if note else []),
        ]
    )
