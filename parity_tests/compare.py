"""Comparing one tensor of the implementation with the reference, and saying where it differs.

Tolerance policy (derivation in the README, "Tolerance policy"):

    pass  iff  max|actual - expected|  <=  rtol(dtype) * scale                  (normwise, inf-norm)
    scale = max( max|expected|, max(magnitude) )
    rtol(float64) = 1000 * eps(float64) ~ 2.2e-13     against torch in float64
    rtol(float32) = 1000 * eps(float32) ~ 1.2e-4      against torch in float64 on the same
                                                       (float32-rounded) inputs

``magnitude`` is the tensor's first-order running error bound M (``reference.torch_loop.
magnitudes``): rounding error is bounded by the size of the terms, not of their sum, so
where terms cancel the budget follows the terms. The budget is for the whole tensor, not
per element: an element that is tiny by cancellation carries the absolute rounding error of
its neighbours, and an elementwise relative test would flag it falsely. A tensor whose
reference and magnitude are both exactly zero (structural zeros: zero weights, zero
inputs) requires an exactly-zero actual.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import numpy as np

ULPS_BUDGET = 1000


def rtol_for(dtype) -> float:
    """The normwise relative tolerance for results computed in ``dtype``."""
    return ULPS_BUDGET * float(np.finfo(np.dtype(dtype)).eps)


@dataclass
class Comparison:
    tensor: str  # "output", "h_n", "dx", "dh0", "grad weight_hh_l1_reverse", ...
    passed: bool
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

    def as_dict(self) -> dict:
        d = asdict(self)
        d["abs_index"] = list(self.abs_index) if self.abs_index is not None else None
        d["rel_index"] = list(self.rel_index) if self.rel_index is not None else None
        return d


def compare(
    tensor: str, actual: np.ndarray, expected: np.ndarray, *, rtol: float, magnitude=None, locate=None
) -> Comparison:
    """Compare two arrays of the same shape (shapes are checked earlier, by the contract).

    ``magnitude``: array or number, the size of the terms ``expected`` is a sum of (None:
    only ``expected`` sets the scale). ``locate(tensor, index) -> str`` decodes an index
    into words; see ``Locator``.
    """
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        raise ValueError(f"compare({tensor}): actual shape {a.shape} != expected shape {e.shape}")
    diff = np.abs(a - e)
    # NaN or inf in the actual is a mismatch of infinite size, never a pass.
    diff = np.where(np.isfinite(diff), diff, np.inf)
    scale = float(np.max(np.abs(e))) if e.size else 0.0
    if magnitude is not None and np.size(magnitude):
        scale = max(scale, float(np.max(np.abs(magnitude))))
    allowed = rtol * scale
    max_abs = float(diff.max()) if diff.size else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(e != 0, diff / np.abs(e), np.where(diff > 0, np.inf, 0.0))
    max_rel = float(rel.max()) if rel.size else 0.0
    normwise = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else np.inf)
    abs_index = tuple(int(i) for i in np.unravel_index(np.argmax(diff), diff.shape)) if diff.size else None
    rel_index = tuple(int(i) for i in np.unravel_index(np.argmax(rel), rel.shape)) if rel.size else None
    passed = bool(max_abs <= allowed)
    c = Comparison(
        tensor=tensor,
        passed=passed,
        max_abs=max_abs,
        max_rel=max_rel,
        normwise=float(normwise),
        rtol=rtol,
        allowed_abs=allowed,
        scale=scale,
        mismatched=int(np.count_nonzero(diff > allowed)),
        total=int(diff.size),
        abs_index=abs_index,
        rel_index=rel_index,
    )
    if locate is not None:
        c.abs_where = locate(tensor, abs_index) if abs_index is not None else ""
        c.rel_where = locate(tensor, rel_index) if rel_index is not None else ""
    return c


# ---------------------------------------------------------------------------------------
# Decoding an index into (layer, direction, time step, batch, unit).
# ---------------------------------------------------------------------------------------
_PARAM = re.compile(r"(weight|bias)_(ih|hh)_l(\d+)(_reverse)?$")


class Locator:
    """Turns (tensor, index) into words for an RNN configuration (``RNNConfig``)."""

    def __init__(self, config):
        self.c = config

    def __call__(self, tensor: str, index: tuple) -> str:
        c = self.c
        H, D = c.hidden_size, c.num_directions
        if tensor in ("output", "d_output"):
            t, b = (index[1], index[0]) if c.batch_first else (index[0], index[1])
            d, unit = divmod(index[2], H)
            return (
                f"layer {c.num_layers - 1} (last), {_dir(d)} direction, time step {t}, "
                f"batch {b}, unit {unit}"
            )
        if tensor in ("h_n", "dh0"):
            layer, d = divmod(index[0], D)
            return f"layer {layer}, {_dir(d)} direction, batch {index[1]}, unit {index[2]}"
        if tensor == "dx":
            t, b = (index[1], index[0]) if c.batch_first else (index[0], index[1])
            return f"time step {t}, batch {b}, input feature {index[2]}"
        m = _PARAM.match(tensor.removeprefix("grad "))
        if m:
            kind, which, layer, rev = m.groups()
            where = f"layer {layer}, {'reverse' if rev else 'forward'} direction, unit {index[0]}"
            if kind == "weight":
                if which == "hh":
                    return where + f", from hidden unit {index[1]}"
                if int(layer) == 0:
                    return where + f", from input feature {index[1]}"
                d, unit = divmod(index[1], H)
                return where + f", from layer {int(layer) - 1} {_dir(d)} unit {unit}"
            return where
        return str(index)


class CellLocator:
    def __init__(self, config):
        self.c = config

    def __call__(self, tensor: str, index: tuple) -> str:
        if tensor in ("h_next", "dh"):
            return f"batch {index[0]}, unit {index[1]}"
        if tensor == "dx":
            return f"batch {index[0]}, input feature {index[1]}"
        name = tensor.removeprefix("grad ")
        if name == "weight_ih":
            return f"unit {index[0]}, from input feature {index[1]}"
        if name == "weight_hh":
            return f"unit {index[0]}, from hidden unit {index[1]}"
        return f"unit {index[0]}"


def _dir(d: int) -> str:
    return "reverse" if d == 1 else "forward"


def format_comparison(c: Comparison) -> str:
    """assert_close-style lines for one failed tensor."""
    pct = 100.0 * c.mismatched / c.total if c.total else 0.0
    return "\n".join(
        [
            f"Mismatched elements: {c.mismatched} / {c.total} ({pct:.1f}%)",
            f"Greatest absolute difference: {c.max_abs:.6g} at index {c.abs_index} "
            f"= ({c.abs_where}) (up to {c.allowed_abs:.3g} allowed)",
            f"Greatest relative difference: {c.max_rel:.6g} at index {c.rel_index} = ({c.rel_where})",
            f"Normwise relative error: {c.normwise:.3g} (allowed {c.rtol:.3g} = {ULPS_BUDGET} eps, "
            f"relative to scale {c.scale:.3g} = max(|expected|, error bound M))",
        ]
    )
