"""The RNN family record: ``torch.nn.RNN`` and every fact about it the harness needs.

Contract (README, "The contract"): ``RNN(input_size, hidden_size, num_layers=1,
nonlinearity="tanh", bias=True, batch_first=False, bidirectional=False)``;
``forward(x, h0=None) -> (output, h_n)``; ``backward(d_output, d_h_n) -> (dx, dh0)``;
``params`` / ``grads`` keyed exactly like ``torch.nn.RNN(...).named_parameters()``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from hypothesis import strategies as st

from rnn_parity.reference.elman import rnn_bounds
from rnn_parity.reference.torch_ref import extension_call, param_shapes

from ..core.cases import Case, ConfigBase, module_field, with_pins
from ..core.family import Family, Row
from . import entry
from ..core.strategies import draw_flags, draw_sizes
from . import rnn_diagnosis


@dataclass(frozen=True)
class RNNConfig(ConfigBase):
    input_size: int = module_field(required=True)
    hidden_size: int = module_field(required=True)
    num_layers: int = module_field(1)
    nonlinearity: str = module_field("tanh")
    bias: bool = module_field(True)
    batch_first: bool = module_field(False)
    bidirectional: bool = module_field(False)
    seq_len: int = 3
    batch: int = 2
    dtype: str = "float64"
    has_h0: bool = True

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def x_shape(self) -> tuple:
        T, B, I = self.seq_len, self.batch, self.input_size
        return (B, T, I) if self.batch_first else (T, B, I)

    def out_shape(self) -> tuple:
        T, B, DH = self.seq_len, self.batch, self.num_directions * self.hidden_size
        return (B, T, DH) if self.batch_first else (T, B, DH)

    def state_shape(self) -> tuple:
        return (self.num_layers * self.num_directions, self.batch, self.hidden_size)

    def array_shapes(self) -> dict:
        return {"x": self.x_shape(), "h0": self.state_shape(), "output": self.out_shape(), "h_n": self.state_shape()}

    def param_shapes(self) -> dict:
        """Names and shapes asked of torch itself (the oracle), not of scratch. The identity
        recurrence (scratch's extension, used by the sequence model) is shaped like tanh."""
        kw = self.module_kwargs()
        if kw["nonlinearity"] == "identity":
            kw["nonlinearity"] = "tanh"
        return param_shapes("RNN", **kw)

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


# ---------------------------------------------------------------------------------------
# Strategy knobs. A knob left as None is drawn; a value pins it; for num_layers a (lo, hi)
# tuple bounds the draw. square=True forces input_size == hidden_size, the shape
# coincidence under which swapped or transposed matrices no longer fail with a shape error.
# ---------------------------------------------------------------------------------------
@st.composite
def configs(
    draw,
    *,
    max_input_size: int = 5,
    max_hidden_size: int = 5,
    min_seq_len: int = 1,
    max_seq_len: int = 7,
    max_batch: int = 3,
    num_layers=None,
    nonlinearity=None,
    bias=None,
    batch_first=None,
    bidirectional=None,
    has_h0=None,
    dtype=None,
    square: bool = False,
) -> RNNConfig:
    layers_lo, layers_hi = num_layers if isinstance(num_layers, tuple) else (1, 3)
    input_size, hidden_size = draw_sizes(
        draw, max_input_size=max_input_size, max_hidden_size=max_hidden_size, square=square
    )
    layers = num_layers if isinstance(num_layers, int) else draw(st.integers(layers_lo, layers_hi))
    flags = draw_flags(
        draw, nonlinearity=nonlinearity, bias=bias, batch_first=batch_first, bidirectional=bidirectional
    )
    seq_len, batch = draw(st.integers(min_seq_len, max_seq_len)), draw(st.integers(1, max_batch))
    return RNNConfig(
        input_size=input_size, hidden_size=hidden_size, num_layers=layers, seq_len=seq_len, batch=batch,
        **flags, **draw_flags(draw, dtype=dtype, has_h0=has_h0),
    )


def edge_cases(pins: dict) -> list[Case]:
    """Run first as @example on every row (adjusted to the row's pins)."""
    base = RNNConfig(input_size=2, hidden_size=3, num_layers=1, seq_len=3, batch=2)
    cases = []
    for nl in ("relu", "tanh"):
        # All-zero weights and inputs: every pre-activation is exactly 0, so relu'(0)
        # decides every gradient (torch: relu'(0) = 0).
        cfg = with_pins(replace(base, nonlinearity=nl), pins)
        cases.append(Case(cfg, seed=1, weight_scale=0.0, zero_weights=True, zero_inputs=True))
    # Zero weights, non-zero inputs: h stays 0 but dW_ih and d(bias) are not zero.
    cases.append(Case(with_pins(base, pins), seed=2, weight_scale=0.0, zero_weights=True))
    # T = 1 and B = 1: no recurrence at all and no batch sum.
    cases.append(Case(with_pins(replace(base, seq_len=1, batch=1), pins), seed=3))
    # I == H: swapped W_ih / W_hh no longer trips a shape error.
    cases.append(Case(with_pins(replace(base, input_size=3, hidden_size=3, seq_len=4), pins), seed=4))
    return cases


# ---------------------------------------------------------------------------------------
# Where a flat index is: (layer, direction, time step, batch, unit).
# ---------------------------------------------------------------------------------------
def direction_name(d: int) -> str:
    return "reverse" if d == 1 else "forward"


def locate(c: RNNConfig, tensor: str, index: tuple) -> str:
    H, D = c.hidden_size, c.num_directions
    if tensor in ("output", "d_output"):
        t, b = (index[1], index[0]) if c.batch_first else (index[0], index[1])
        d, unit = divmod(index[2], H)
        return f"layer {c.num_layers - 1} (last), {direction_name(d)} direction, time step {t}, batch {b}, unit {unit}"
    if tensor in ("h_n", "dh0"):
        layer, d = divmod(index[0], D)
        return f"layer {layer}, {direction_name(d)} direction, batch {index[1]}, unit {index[2]}"
    if tensor == "dx":
        t, b = (index[1], index[0]) if c.batch_first else (index[0], index[1])
        return f"time step {t}, batch {b}, input feature {index[2]}"
    p = rnn_diagnosis.parse_param(tensor.removeprefix("grad "))
    if p is None:
        return str(index)
    kind, which, layer, d = p
    where = f"layer {layer}, {direction_name(d)} direction, unit {index[0]}"
    if kind == "bias":
        return where
    if which == "hh":
        return where + f", from hidden unit {index[1]}"
    if layer == 0:
        return where + f", from input feature {index[1]}"
    d_in, unit = divmod(index[1], H)
    return where + f", from layer {layer - 1} {direction_name(d_in)} unit {unit}"


# ---------------------------------------------------------------------------------------
# Running error bounds (reference/elman.py), on time-major arrays.
# ---------------------------------------------------------------------------------------
def time_major(config, a):
    return a.swapaxes(0, 1) if config.batch_first else a


def bounds(case, arrays) -> dict:
    c = case.config
    tm = lambda a: time_major(c, a)  # noqa: E731
    m = rnn_bounds(c.module_kwargs(), arrays["params"], tm(arrays["x"]), arrays["h0"], tm(arrays["d_output"]),
                   arrays["d_h_n"], lengths=case.lengths, truncate=case.truncate)
    m["output"], m["dx"] = tm(m["output"]), tm(m["dx"])
    return m


# ---------------------------------------------------------------------------------------
# The rows of the table.
# ---------------------------------------------------------------------------------------
def _rc(**kw) -> RNNConfig:
    base = dict(input_size=3, hidden_size=4, seq_len=5, batch=3)
    base.update(kw)
    return RNNConfig(**base)


_MINIMAL = dict(nonlinearity="tanh", num_layers=1, bidirectional=False, batch_first=False, bias=True, dtype="float64")

ROWS = (
    Row("tanh_basic", "rnn", dict(nonlinearity="tanh", num_layers=1, bidirectional=False, batch_first=False, dtype="float64"), _rc()),
    Row("relu_basic", "rnn", dict(nonlinearity="relu", num_layers=1, bidirectional=False, batch_first=False, dtype="float64"), 
        # and relu at exactly 0 (all-zero weights and inputs): torch's relu'(0) = 0
        (_rc(nonlinearity="relu"), Case(_rc(nonlinearity="relu"), weight_scale=0.0, zero_weights=True, zero_inputs=True))),
    Row("square_I_eq_H", "rnn", dict(square=True, num_layers=1, dtype="float64"), _rc(input_size=4)),
    Row("no_bias", "rnn", dict(bias=False, dtype="float64"), _rc(bias=False)),
    Row("h0_none", "rnn", dict(has_h0=False, dtype="float64"), _rc(has_h0=False)),
    Row("batch_first", "rnn", dict(batch_first=True, dtype="float64"), _rc(batch_first=True)),
    Row("bidirectional", "rnn", dict(bidirectional=True, dtype="float64"), _rc(bidirectional=True)),
    Row("multilayer", "rnn", dict(num_layers=(2, 3), dtype="float64"), _rc(num_layers=3)),
    Row("deep_bidir_batch_first", "rnn", dict(num_layers=(2, 3), bidirectional=True, batch_first=True, dtype="float64"),
        _rc(num_layers=2, bidirectional=True, batch_first=True, nonlinearity="relu")),
    # The report runs the float32 row at the smallest capability first, so a single-layer
    # plug-in is checked in float32 too, then the deep bidirectional one.
    Row("float32", "rnn", dict(dtype="float32"), (_rc(dtype="float32"), _rc(dtype="float32", num_layers=2, bidirectional=True))),
    # Long sequences with weights that carry gradients back (weight scale >= 1: a window of 4
    # steps drops a term far above the budget): truncated BPTT shows here. The simplest
    # capability (one layer, tanh, time-major) so every plug-in can run it.
    Row("long_sequences", "rnn", dict(_MINIMAL, min_seq_len=16, max_seq_len=20, min_weight_scale=1.0),
        Case(_rc(seq_len=20, hidden_size=6), weight_scale=2.5)),
    # Upstream gradients 100x: an implementation that clips its gradients (to 1, 5, ...) shows.
    Row("large_upstream_gradients", "rnn", dict(_MINIMAL, grad_scale=100.0), Case(_rc(seq_len=8), grad_scale=100.0)),
    Row("anything", "rnn", dict(), _rc(num_layers=2, bidirectional=True, batch_first=True, bias=False, has_h0=False)),
)


RNN = Family(
    **entry("rnn").fields(),
    config_cls=RNNConfig,
    forward_args=("x", "h0"),
    forward_returns=("output", "h_n"),
    backward_args=("d_output", "d_h_n"),
    backward_returns=("dx", "dh0"),
    torch_module="RNN",
    bounds=bounds,
    locate=locate,
    configs=configs,
    edge_cases=edge_cases,
    rows=ROWS,
    forward_extensions=("lengths",),
    backward_extensions=("truncate",),
    torch_call=lambda case: extension_call(case.lengths, case.truncate, case.config.batch_first),
    localize=rnn_diagnosis.localize,
    mutants=rnn_diagnosis.mutants,
)

