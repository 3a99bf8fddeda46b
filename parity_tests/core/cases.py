"""What one parity check is about: a configuration, an RNG seed and a few scales.

A *case* is small and printable (hypothesis shows it when a test fails, the failure
message prints it for ``repro``). ``Case.materialize()`` turns it into dense arrays with
``np.random.default_rng(seed)``, so the same case always gives the same numbers, in this
order: parameters (torch's order), what forward takes (x, then the states), then the
upstream gradients of what forward returns.

A configuration is a frozen dataclass of its family (``families/rnn.py``: ``RNNConfig``).
Its fields are of two kinds, said once, in the field itself: the module's constructor
arguments (``module_field``: ``input_size``, ``hidden_size``, ``nonlinearity``, ...), which
go unchanged to the implementation and to torch; and the data's shape (``seq_len``,
``batch``, ``dtype``, ``has_h0``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import numpy as np

from .family import family_of, flat

DTYPES = {"float64": np.float64, "float32": np.float32}


def module_field(default=None, *, required: bool = False):
    """A configuration field that is a constructor argument of the module."""
    if required:
        return field(metadata={"module": True})
    return field(default=default, metadata={"module": True})


class ConfigBase:
    """Shared behaviour of every family's configuration dataclass."""

    def module_kwargs(self) -> dict:
        """The constructor arguments shared by the contract and the torch module."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.metadata.get("module")}


# ---------------------------------------------------------------------------------------
# Data scales, chosen so that the comparison stays well conditioned (core/tolerance.py).
# Inputs and initial states lie in [-1, 1]. Each row i of [W_ih | W_hh | b_ih | b_hh] of
# every layer and direction is drawn uniformly and then scaled to l1-norm ``weight_scale``:
#
#     |a_i| <= sum_j |W_ih[i,j]| |x_j| + sum_j |W_hh[i,j]| |h_j| + |b_ih[i]| + |b_hh[i]| <= weight_scale
#
# for tanh at every layer (|x|, |h| <= 1): ``weight_scale`` is a hard bound on every
# pre-activation. Why a bound: with |a| <= 3, tanh' >= 0.01 and the running error bound
# stays within about two orders of the result, so a bug still stands many orders above the
# budget. weight_scale 0.05 is the linear regime, 3 saturation. Scales are 0 or at least
# 1e-3, never subnormal: there the relative tolerance itself underflows and relu's
# derivative follows the sign of a rounding error. meta_tests/test_strategies.py checks the
# bound on every draw.
# ---------------------------------------------------------------------------------------
MAX_WEIGHT_SCALE = 3.0
MAX_INPUT_SCALE = 1.0
MIN_NONZERO_SCALE = 1e-3


@dataclass(frozen=True)
class Drawn:
    """What a strategy draws for any case: a configuration, the RNG seed that fills the dense
    arrays, and the scales of the weights and inputs."""

    config: object
    seed: int = 0
    weight_scale: float = 1.0
    input_scale: float = 1.0


@dataclass(frozen=True)
class Case(Drawn):
    zero_weights: bool = False
    zero_inputs: bool = False
    lengths: tuple | None = None  # variable-length sequences (scratch's RNN/LSTM/GRU extension)
    truncate: int | None = None  # truncated BPTT every k steps (scratch's RNN/LSTM/GRU extension)
    # Upstream gradients are standard normal times grad_scale: a row with large ones (100)
    # is where an implementation that clips its gradients shows.
    grad_scale: float = 1.0

    @property
    def family(self):
        return family_of(self.config)

    def materialize(self) -> dict:
        """Dense arrays: "params" (dict), then one entry per name of the contract's forward
        arguments (states None when the configuration has none) and backward arguments."""
        fam, c = self.family, self.config
        dtype = DTYPES[c.dtype]
        rng = np.random.default_rng(self.seed)
        shapes = fam.shapes(c)
        arrays = {"params": weights(rng, c.param_shapes(), self.weight_scale, self.zero_weights, dtype)}
        inputs = flat(fam.forward_args)
        for name in inputs:
            a = rng.uniform(-1, 1, shapes[name])
            arrays[name] = a * self.input_scale if name == "x" else a
        if self.zero_inputs:  # with zero weights too: every pre-activation is exactly 0
            arrays.update({name: np.zeros_like(arrays[name]) for name in inputs})
        for name in inputs:
            keep = name == "x" or c.has_h0  # states are drawn always, so the RNG stream is one
            arrays[name] = arrays[name].astype(dtype) if keep else None
        for name in flat(fam.backward_args):
            arrays[name] = (rng.standard_normal(shapes[name]) * self.grad_scale).astype(dtype)
        return arrays

    def describe(self) -> str:
        """The one-line description failure messages and the report print."""
        return (f"{self.config.short()}; seed={self.seed}, weight_scale={self.weight_scale:.4g}, "
                f"input_scale={self.input_scale:.4g}"
                + (", all-zero weights" if self.zero_weights else "")
                + (", all-zero inputs" if self.zero_inputs else "")
                + (f", lengths={list(self.lengths)}" if self.lengths is not None else "")
                + (f", truncate={self.truncate}" if self.truncate is not None else "")
                + (f", upstream gradients x{self.grad_scale:g}" if self.grad_scale != 1.0 else ""))


def informative(case) -> bool:
    """Can a mistake show on ``case`` at all? Not when every weight or every input is zero:
    then every gate is a constant (0.5 for a sigmoid), the states never leave 0 when there
    is no h0, and models that differ (a GRU's reset gate before or after W_hn) agree."""
    return case.weight_scale > 0 and case.input_scale > 0 and not case.zero_weights and not case.zero_inputs


def generic_variant(case, pins: dict | None = None):
    """``case``'s configuration with every weight and input drawn at scale 1 (within a row's
    scale bounds, ``pins``)."""
    pins = pins or {}
    weight = min(max(1.0, pins.get("min_weight_scale") or 0.0), pins.get("max_weight_scale", 1.0))
    return replace(case, weight_scale=weight, input_scale=min(1.0, pins.get("max_input_scale", 1.0)),
                   zero_weights=False, zero_inputs=False)


def weights(rng, shapes: dict, scale: float, zero: bool, dtype) -> dict:
    """Uniform weights, every row of [W_ih | W_hh | b_ih | b_hh] scaled to l1-norm ``scale``."""
    raw = {name: rng.uniform(-1.0, 1.0, shape) for name, shape in shapes.items()}
    params = {}
    for name in shapes:
        if not name.startswith("weight_ih"):
            continue
        group = [name] + [name.replace("weight_ih", p, 1) for p in ("weight_hh", "bias_ih", "bias_hh")]
        group = [g for g in group if g in raw]
        row_l1 = sum(np.abs(raw[g]).reshape(raw[g].shape[0], -1).sum(axis=1) for g in group)
        for g in group:
            factor = scale / row_l1
            w = raw[g] * (factor[:, None] if raw[g].ndim == 2 else factor)
            params[g] = (np.zeros_like(w) if zero else w).astype(dtype)
    for name in shapes:
        if name not in params:
            # In no pre-activation's group: the LSTM's projection W_hr (P, H), h = hf W_hr^T
            # with |hf| < 1. Rows at l1-norm min(scale, 1) keep |h| <= 1, so the bound
            # |a| <= weight_scale above holds at every step and layer of a projected LSTM.
            r = raw[name]
            w = r * (min(scale, 1.0) / np.abs(r).reshape(r.shape[0], -1).sum(axis=1))[:, None]
            params[name] = (np.zeros_like(w) if zero else w).astype(dtype)
    return {name: params[name] for name in shapes}  # torch's order


def with_pins(config, pins: dict):
    """Apply a row's fixed pins to a configuration (used for the row's @examples): a value
    pins the field, a ``(lo, hi)`` tuple takes ``lo``, ``square=True`` sets H = I."""
    fixed = {k: (v[0] if isinstance(v, tuple) else v) for k, v in pins.items() if k != "square"}
    if pins.get("square"):
        fixed["hidden_size"] = config.input_size
    fixed = {k: v for k, v in fixed.items() if hasattr(config, k)}
    return replace(config, **fixed)


def report_cases(row, seed: int) -> list:
    """The row's representative cases for ``rnn-parity report`` and the pictures (a row may
    hold one configuration, one case, or a tuple of them, simplest first), each with the
    report's seed."""
    items = row.report if isinstance(row.report, tuple) else (row.report,)
    return [replace(item, seed=seed) if isinstance(item, Case) else Case(item, seed=seed) for item in items]
