"""What one parity check is about, and the table of named configurations.

A *case* is small and printable (hypothesis shows it when a test fails): a configuration
plus an RNG seed and a few scales. ``materialize()`` turns it into dense arrays with
``np.random.default_rng(seed)``, so the same case always gives the same numbers.

``RNN_ROWS`` / ``CELL_ROWS`` are the one table that drives the parametrized parity tests
and ``make report`` (PyTorch ``module_db`` style): a new configuration family is a new
row; a known deviation lives in its row (``known_deviation``) with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from reference import torch_cell_param_shapes, torch_param_shapes

DTYPES = {"float64": np.float64, "float32": np.float32}


@dataclass(frozen=True)
class RNNConfig:
    input_size: int
    hidden_size: int
    num_layers: int = 1
    nonlinearity: str = "tanh"
    bias: bool = True
    batch_first: bool = False
    bidirectional: bool = False
    seq_len: int = 3
    batch: int = 2
    dtype: str = "float64"
    has_h0: bool = True

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def module_kwargs(self) -> dict:
        """The constructor arguments shared by the contract and ``torch.nn.RNN``."""
        return dict(
            input_size=self.input_size,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            nonlinearity=self.nonlinearity,
            bias=self.bias,
            batch_first=self.batch_first,
            bidirectional=self.bidirectional,
        )

    def x_shape(self) -> tuple:
        T, B, I = self.seq_len, self.batch, self.input_size
        return (B, T, I) if self.batch_first else (T, B, I)

    def out_shape(self) -> tuple:
        T, B, DH = self.seq_len, self.batch, self.num_directions * self.hidden_size
        return (B, T, DH) if self.batch_first else (T, B, DH)

    def state_shape(self) -> tuple:
        return (self.num_layers * self.num_directions, self.batch, self.hidden_size)

    def param_shapes(self) -> dict:
        """Parameter names and shapes, asked of torch itself (the oracle), not of scratch."""
        return torch_param_shapes(**self.module_kwargs())

    def short(self) -> str:
        flags = [
            self.nonlinearity,
            f"{self.num_layers} layer{'s' if self.num_layers > 1 else ''}",
            "bidirectional" if self.bidirectional else "unidirectional",
            "batch_first" if self.batch_first else "time-major",
            "bias" if self.bias else "no bias",
            "h0 given" if self.has_h0 else "h0=None",
            self.dtype,
        ]
        return (
            f"I={self.input_size} H={self.hidden_size} T={self.seq_len} B={self.batch}, "
            + ", ".join(flags)
        )


@dataclass(frozen=True)
class CellConfig:
    input_size: int
    hidden_size: int
    nonlinearity: str = "tanh"
    bias: bool = True
    batch: int = 2
    dtype: str = "float64"
    has_h0: bool = True

    def module_kwargs(self) -> dict:
        return dict(
            input_size=self.input_size,
            hidden_size=self.hidden_size,
            bias=self.bias,
            nonlinearity=self.nonlinearity,
        )

    def param_shapes(self) -> dict:
        return torch_cell_param_shapes(**self.module_kwargs())

    def short(self) -> str:
        return (
            f"I={self.input_size} H={self.hidden_size} B={self.batch}, {self.nonlinearity}, "
            f"{'bias' if self.bias else 'no bias'}, {'h given' if self.has_h0 else 'h=None'}, {self.dtype}"
        )


# ---------------------------------------------------------------------------------------
# Data scales, chosen so that the comparison stays well conditioned (README, "Tolerance
# policy"). Inputs, initial states and (for tanh) hidden states lie in [-1, 1]. Each row i
# of [W_ih | W_hh | b_ih | b_hh] of every layer and direction is drawn uniformly and then
# scaled to l1-norm ``weight_scale``, so
#
#     |a_i| <= sum_j |W_ih[i,j]| |x_j| + sum_j |W_hh[i,j]| |h_j| + |b_ih[i]| + |b_hh[i]| <= weight_scale
#
# for tanh at every layer: ``weight_scale`` is a hard bound on every pre-activation.
# Why a bound: the tolerance scale is a running error bound M (compare.py), which grows
# above the result where tanh saturates (tanh' = 1 - h^2 from a rounded h errs by about
# eps * cosh(a)^2 relative). Deep saturation would make the budget large relative to the
# gradients and weaken the test; with |a| <= 3, tanh' >= 0.01 and M stays within about two
# orders of the result, so a bug still stands many orders above the budget.
# weight_scale 0.05 is the linear regime, 3 saturation (tanh' down to 0.01).
# Scales are 0 or at least 1e-3, never subnormal: there the relative tolerance itself
# underflows and relu's derivative follows the sign of a rounding error.
# ---------------------------------------------------------------------------------------
MAX_WEIGHT_SCALE = 3.0
MAX_INPUT_SCALE = 1.0
MIN_NONZERO_SCALE = 1e-3


@dataclass(frozen=True)
class RNNCase:
    config: RNNConfig
    seed: int = 0
    weight_scale: float = 1.0
    input_scale: float = 1.0
    zero_weights: bool = False
    zero_inputs: bool = False
    lengths: tuple | None = None  # variable-length sequences (scratch's extension)
    truncate: int | None = None  # truncated BPTT every k steps (scratch's extension)

    def materialize(self) -> dict:
        """Dense arrays for this case: params, x, h0 (or None), d_output, d_h_n."""
        c = self.config
        dtype = DTYPES[c.dtype]
        rng = np.random.default_rng(self.seed)
        params = _weights(rng, c.param_shapes(), self.weight_scale, self.zero_weights, dtype)
        x = rng.uniform(-1, 1, c.x_shape()) * self.input_scale
        h0 = rng.uniform(-1, 1, c.state_shape())
        if self.zero_inputs:  # with zero weights too: every pre-activation is exactly 0
            x, h0 = np.zeros_like(x), np.zeros_like(h0)
        d_output = rng.standard_normal(c.out_shape())
        d_h_n = rng.standard_normal(c.state_shape())
        return dict(
            params=params,
            x=x.astype(dtype),
            h0=h0.astype(dtype) if c.has_h0 else None,
            d_output=d_output.astype(dtype),
            d_h_n=d_h_n.astype(dtype),
        )


@dataclass(frozen=True)
class CellCase:
    config: CellConfig
    seed: int = 0
    weight_scale: float = 1.0
    input_scale: float = 1.0
    zero_weights: bool = False
    zero_inputs: bool = False

    def materialize(self) -> dict:
        c = self.config
        dtype = DTYPES[c.dtype]
        rng = np.random.default_rng(self.seed)
        params = _weights(rng, c.param_shapes(), self.weight_scale, self.zero_weights, dtype)
        x = rng.uniform(-1, 1, (c.batch, c.input_size)) * self.input_scale
        h = rng.uniform(-1, 1, (c.batch, c.hidden_size))
        if self.zero_inputs:
            x, h = np.zeros_like(x), np.zeros_like(h)
        d_h_next = rng.standard_normal((c.batch, c.hidden_size))
        return dict(
            params=params,
            x=x.astype(dtype),
            h=h.astype(dtype) if c.has_h0 else None,
            d_h_next=d_h_next.astype(dtype),
        )


@dataclass(frozen=True)
class ModelConfig:
    """RNN + optional Linear head + loss (scratch.model.SequenceModel)."""

    input_size: int
    hidden_size: int
    output_size: int = 1
    nonlinearity: str = "tanh"
    num_layers: int = 1
    bidirectional: bool = False
    bias: bool = True
    batch_first: bool = True
    head: str | None = "last"
    loss: str = "mse"
    seq_len: int = 4
    batch: int = 3
    dtype: str = "float64"

    def model_kwargs(self) -> dict:
        return dict(
            input_size=self.input_size, hidden_size=self.hidden_size,
            output_size=self.output_size if self.head is not None else None,
            nonlinearity=self.nonlinearity, num_layers=self.num_layers, bias=self.bias,
            bidirectional=self.bidirectional, batch_first=self.batch_first, head=self.head, loss=self.loss,
        )

    def rnn_config(self) -> RNNConfig:
        return RNNConfig(self.input_size, self.hidden_size, self.num_layers, self.nonlinearity, self.bias,
                         self.batch_first, self.bidirectional, self.seq_len, self.batch, self.dtype, has_h0=False)

    def short(self) -> str:
        return (f"{self.rnn_config().short()}; head={self.head}, loss={self.loss}, O={self.output_size}")


@dataclass(frozen=True)
class ModelCase:
    config: ModelConfig
    seed: int = 0
    weight_scale: float = 1.0
    input_scale: float = 1.0

    def materialize(self) -> dict:
        c = self.config
        dtype = DTYPES[c.dtype]
        rng = np.random.default_rng(self.seed)
        rc = c.rnn_config()
        shapes = _rnn_shapes(rc)
        params = {f"rnn.{k}": v for k, v in _weights(rng, shapes, self.weight_scale, False, dtype).items()}
        if c.head is not None:
            fan = rc.num_directions * c.hidden_size
            params["head.weight"] = (rng.uniform(-1, 1, (c.output_size, fan)) / np.sqrt(fan)).astype(dtype)
            params["head.bias"] = (rng.uniform(-1, 1, c.output_size) / np.sqrt(fan)).astype(dtype)
        x = (rng.uniform(-1, 1, rc.x_shape()) * self.input_scale).astype(dtype)
        y_shape = {"last": (c.batch, c.output_size), None: (c.batch, c.hidden_size * rc.num_directions)}.get(
            c.head, rc.out_shape()[:2] + (c.output_size,))
        if c.loss == "cross_entropy":
            target = rng.integers(0, y_shape[-1], y_shape[:-1])
        else:
            target = rng.standard_normal(y_shape).astype(dtype)
        return dict(params=params, x=x, target=target)


def _rnn_shapes(rc: RNNConfig) -> dict:
    """Parameter shapes of the RNN, also for the identity recurrence torch.nn.RNN lacks."""
    if rc.nonlinearity == "identity":
        return torch_param_shapes(**dict(rc.module_kwargs(), nonlinearity="tanh"))
    return rc.param_shapes()


def _weights(rng, shapes: dict, scale: float, zero: bool, dtype) -> dict:
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
    return {name: params[name] for name in shapes}  # torch's order


# ---------------------------------------------------------------------------------------
# The table. ``pins`` fixes strategy knobs for the row (``None`` = hypothesis draws it);
# ``report`` is the representative configuration ``make report`` prints for the row.
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    name: str
    pins: dict = field(default_factory=dict)
    report: RNNConfig | CellConfig | None = None
    known_deviation: str | None = None  # reason, if this row is expected to differ

    def __repr__(self) -> str:  # shows up in test ids and failure headers
        return f"Row({self.name})"


def _rc(**kw) -> RNNConfig:
    base = dict(input_size=3, hidden_size=4, seq_len=5, batch=3)
    base.update(kw)
    return RNNConfig(**base)


RNN_ROWS: list[Row] = [
    Row("tanh_basic", dict(nonlinearity="tanh", num_layers=1, bidirectional=False, batch_first=False, dtype="float64"), _rc()),
    Row("relu_basic", dict(nonlinearity="relu", num_layers=1, bidirectional=False, batch_first=False, dtype="float64"), _rc(nonlinearity="relu")),
    Row("square_I_eq_H", dict(square=True, num_layers=1, dtype="float64"), _rc(input_size=4)),
    Row("no_bias", dict(bias=False, dtype="float64"), _rc(bias=False)),
    Row("h0_none", dict(has_h0=False, dtype="float64"), _rc(has_h0=False)),
    Row("batch_first", dict(batch_first=True, dtype="float64"), _rc(batch_first=True)),
    Row("bidirectional", dict(bidirectional=True, dtype="float64"), _rc(bidirectional=True)),
    Row("multilayer", dict(num_layers=(2, 3), dtype="float64"), _rc(num_layers=3)),
    Row("deep_bidir_batch_first", dict(num_layers=(2, 3), bidirectional=True, batch_first=True, dtype="float64"),
        _rc(num_layers=2, bidirectional=True, batch_first=True, nonlinearity="relu")),
    Row("float32", dict(dtype="float32"), _rc(dtype="float32", num_layers=2, bidirectional=True)),
    Row("anything", dict(), _rc(num_layers=2, bidirectional=True, batch_first=True, bias=False, has_h0=False)),
]

CELL_ROWS: list[Row] = [
    Row("cell_tanh", dict(nonlinearity="tanh", dtype="float64"), CellConfig(3, 4)),
    Row("cell_relu", dict(nonlinearity="relu", dtype="float64"), CellConfig(3, 4, nonlinearity="relu")),
    Row("cell_square_I_eq_H", dict(square=True, dtype="float64"), CellConfig(4, 4)),
    Row("cell_no_bias", dict(bias=False, dtype="float64"), CellConfig(3, 4, bias=False)),
    Row("cell_h_none", dict(has_h0=False, dtype="float64"), CellConfig(3, 4, has_h0=False)),
    Row("cell_float32", dict(dtype="float32"), CellConfig(3, 4, dtype="float32")),
    Row("cell_anything", dict(), CellConfig(2, 5, nonlinearity="relu", batch=1)),
]


def row_by_name(name: str) -> Row:
    for row in RNN_ROWS + CELL_ROWS:
        if row.name == name:
            return row
    raise KeyError(name)


def with_pins(config, pins: dict):
    """Apply a row's fixed pins to a configuration (used for the row's @examples)."""
    fixed = {k: v for k, v in pins.items() if k != "square" and not isinstance(v, tuple)}
    if "num_layers" in pins and isinstance(pins["num_layers"], tuple):
        fixed["num_layers"] = pins["num_layers"][0]
    if pins.get("square"):
        fixed["hidden_size"] = config.input_size
    fixed = {k: v for k, v in fixed.items() if hasattr(config, k)}
    return replace(config, **fixed)
