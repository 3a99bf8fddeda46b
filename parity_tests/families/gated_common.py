"""What the gated families (LSTM, GRU and their cells) share: the configuration, the strategy
knobs, the words for a flat index (with the gate), and the bounds adapters.

Conditioning (why the generic weight scale, <= 3, suits the gates too). ``core/cases.py``
scales every row of [W_ih | W_hh | b_ih | b_hh] to l1-norm ``weight_scale`` and draws x and
the states in [-1, 1]; every gate's pre-activation is a row of that product, so
|a| <= weight_scale <= 3 as long as every h fed back or passed up stays in [-1, 1]. It does:
the LSTM's h = o tanh(c) is in (-1, 1), and projected (h = hf W_hr^T) it is too because W_hr's
rows are scaled to l1-norm min(weight_scale, 1) (``core/cases.weights``); the GRU's
h' = (1 - z) n + z h is a convex combination of n in (-1, 1) and h in [-1, 1]. So at every
gate sigmoid'(a) >= sigmoid(3)(1 - sigmoid(3)) = 0.045 and tanh'(a) >= 0.0099: the gates
saturate at most that far, where a running error bound (``reference/gated.py``) stays within
about two orders of the result and a mistake (O(1) relative) stands far above 1000 eps of it.
The one quantity not bounded by the weight scale is the LSTM's cell state, |c_t| <= |c_0| + t
(each step adds |i g| < 1, and f < 1 forgets): tanh(c) may saturate for long sequences; the
bound's absolute rounding term keeps that honest, and a bug in the c path (the tanh(c)
derivative, the forget gate's gradient) still shows at ordinary c, which most draws have.
``meta_tests/test_gated_bounds.py`` checks |a| <= weight_scale at every gate of every draw.

Knobs (keyword-only, bounded; None draws, a value pins, ``num_layers`` also takes a (lo, hi)
tuple): sizes up to 4 (the cost of a gated example is about 4x an Elman one), T in
[min_seq_len, max_seq_len] with T >= 2 by default (T = 1, where there is no recurrence, is an
@example), B in [1, max_batch], but B in [2, max_batch] and B != T with batch_first, so a
transposed layout can never pass by shape coincidence; ``square`` I == H; ``projected``
(LSTM only) 0 < proj_size < hidden_size (True), proj_size = 0 (False) or either (None).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from hypothesis import strategies as st

from ..core.cases import Case, ConfigBase, module_field, with_pins
from ..core.strategies import draw_flags

LSTM_GATES = ("i", "f", "g", "o")
GRU_GATES = ("r", "z", "n")


@dataclass(frozen=True)
class GatedConfig(ConfigBase):
    """LSTM / GRU layer configuration (torch's constructor arguments and the data's shape)."""

    input_size: int = module_field(required=True)
    hidden_size: int = module_field(required=True)
    num_layers: int = module_field(1)
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

    @property
    def out_size(self) -> int:
        """R: the size of h (proj_size when the LSTM projects, else hidden_size)."""
        return getattr(self, "proj_size", 0) or self.hidden_size

    def _time(self, features: int) -> tuple:
        T, B = self.seq_len, self.batch
        return (B, T, features) if self.batch_first else (T, B, features)

    def _state(self, features: int) -> tuple:
        return (self.num_layers * self.num_directions, self.batch, features)

    def short(self) -> str:
        P = getattr(self, "proj_size", 0)
        flags = [
            f"{self.num_layers} layer{'s' if self.num_layers > 1 else ''}",
            "bidirectional" if self.bidirectional else "unidirectional",
            "batch_first" if self.batch_first else "time-major",
            "bias" if self.bias else "no bias",
            "h0 given" if self.has_h0 else "h0=None",
            self.dtype,
        ]
        return (f"I={self.input_size} H={self.hidden_size}{f' P={P}' if P else ''} T={self.seq_len} "
                f"B={self.batch}, " + ", ".join(flags))


@dataclass(frozen=True)
class GatedCellConfig(ConfigBase):
    input_size: int = module_field(required=True)
    hidden_size: int = module_field(required=True)
    bias: bool = module_field(True)
    batch: int = 2
    dtype: str = "float64"
    has_h0: bool = True

    def short(self) -> str:
        return (f"I={self.input_size} H={self.hidden_size} B={self.batch}, {'bias' if self.bias else 'no bias'}, "
                f"{'state given' if self.has_h0 else 'state None'}, {self.dtype}")


# ---------------------------------------------------------------------------------------
# The strategy (the knobs are documented in the module docstring).
# ---------------------------------------------------------------------------------------
def layer_configs(config_cls, *, max_input_size: int = 4, max_hidden_size: int = 4, min_seq_len: int = 2,
                  max_seq_len: int = 5, max_batch: int = 3, num_layers=None, bias=None, batch_first=None,
                  bidirectional=None, has_h0=None, dtype=None, square: bool = False, projected=None):
    for name, value, lo, hi in (("max_input_size", max_input_size, 1, 16), ("max_hidden_size", max_hidden_size, 1, 16),
                                ("min_seq_len", min_seq_len, 1, 64), ("max_seq_len", max_seq_len, min_seq_len, 64),
                                ("max_batch", max_batch, 3, 16)):
        if not (isinstance(value, int) and lo <= value <= hi):
            raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")
    if projected and max_hidden_size < 2:
        raise ValueError("projected=True needs max_hidden_size >= 2 (0 < proj_size < hidden_size)")
    layers_lo, layers_hi = num_layers if isinstance(num_layers, tuple) else (1, 3)
    can_project = "proj_size" in {f for f in config_cls.__dataclass_fields__}

    @st.composite
    def draw_config(draw):
        proj = draw(st.booleans()) if projected is None and can_project and max_hidden_size >= 2 else bool(projected)
        hidden = draw(st.integers(2 if proj else 1, max_hidden_size))
        inp = hidden if square else draw(st.one_of(st.just(hidden), st.integers(1, max_input_size)))
        layers = num_layers if isinstance(num_layers, int) else draw(st.integers(layers_lo, layers_hi))
        flags = draw_flags(draw, bias=bias, batch_first=batch_first, bidirectional=bidirectional,
                           has_h0=has_h0, dtype=dtype)
        T = draw(st.integers(min_seq_len, max_seq_len))
        if flags["batch_first"]:  # B >= 2 and B != T: a transposed layout cannot pass by shape
            B = draw(st.sampled_from([b for b in range(2, max_batch + 1) if b != T]))
        else:
            B = draw(st.integers(1, max_batch))
        extra = dict(proj_size=draw(st.integers(1, hidden - 1)) if proj else 0) if can_project else {}
        return config_cls(input_size=inp, hidden_size=hidden, num_layers=layers, seq_len=T, batch=B, **flags, **extra)

    return draw_config()


def cell_configs(cell_cls, layer_cls, *, max_input_size: int = 5, max_hidden_size: int = 5, max_batch: int = 4,
                 **knobs):
    """A cell is one step of one layer in one direction: the layer's configurations at T = 1,
    one layer, unidirectional, time-major, no projection. Knobs: the bounds above and
    ``bias``, ``has_h0``, ``dtype``, ``square``."""
    unknown = sorted(set(knobs) - {"bias", "has_h0", "dtype", "square"})
    if unknown:
        raise TypeError(f"configs() got unexpected knobs {unknown}; a gated cell's are bias, has_h0, dtype, square")
    layer = layer_configs(layer_cls, max_input_size=max_input_size, max_hidden_size=max_hidden_size, min_seq_len=1,
                          max_seq_len=1, max_batch=max_batch, num_layers=1, bidirectional=False, batch_first=False,
                          projected=False, **knobs)
    return layer.map(lambda c: cell_cls(input_size=c.input_size, hidden_size=c.hidden_size, bias=c.bias,
                                        batch=c.batch, dtype=c.dtype, has_h0=c.has_h0))


def layer_edge_cases(config_cls, pins: dict) -> list[Case]:
    """Run first as @example on every row (adjusted to the row's pins)."""
    can_project = "proj_size" in config_cls.__dataclass_fields__
    proj = dict(proj_size=2) if can_project and pins.get("projected") else {}
    base = config_cls(input_size=2, hidden_size=3, seq_len=3, batch=2, **proj)
    cases = [
        # All-zero weights and inputs: every pre-activation is exactly 0, every sigmoid gate
        # exactly 1/2, g = n = 0: c, h stay 0 and only the structure of the gradients remains.
        Case(with_pins(base, pins), seed=1, weight_scale=0.0, zero_weights=True, zero_inputs=True),
        # Zero weights, non-zero inputs and states: h, c decay by the gates' 1/2; dW_ih, the
        # biases' gradients and dh0/dc0 are not zero.
        Case(with_pins(base, pins), seed=2, weight_scale=0.0, zero_weights=True),
        # T = 1 and B = 1: no recurrence at all and no batch sum.
        Case(with_pins(replace(base, seq_len=1, batch=1), pins), seed=3),
        # I == H: swapped W_ih / W_hh no longer trips a shape error.
        Case(with_pins(replace(base, input_size=3, hidden_size=3, seq_len=4), pins), seed=4),
    ]
    if can_project and pins.get("projected") is None:  # I == H == 3 projected to P = 1
        cases.append(Case(with_pins(replace(base, input_size=3, hidden_size=3, proj_size=1), pins), seed=5))
    return cases


def cell_edge_cases(cell_cls, pins: dict) -> list[Case]:
    base = cell_cls(input_size=2, hidden_size=3, batch=2)
    return [
        Case(with_pins(base, pins), seed=1, weight_scale=0.0, zero_weights=True, zero_inputs=True),
        Case(with_pins(base, pins), seed=2, weight_scale=0.0, zero_weights=True),
        Case(with_pins(replace(base, batch=1), pins), seed=3),
        Case(with_pins(replace(base, input_size=3, hidden_size=3), pins), seed=4),
    ]


# ---------------------------------------------------------------------------------------
# Where a flat index is, with the gate.
# ---------------------------------------------------------------------------------------
_PARAM = re.compile(r"^(weight|bias)_(ih|hh|hr)(?:_l(\d+))?(_reverse)?$")


def parse_param(name: str):
    """"weight_hh_l1_reverse" -> ("weight", "hh", 1, 1); a cell's "bias_ih" -> ("bias", "ih", 0, 0)."""
    m = _PARAM.match(name)
    if not m:
        return None
    kind, which, layer, rev = m.groups()
    return kind, which, int(layer or 0), 1 if rev else 0


def direction_name(d: int) -> str:
    return "reverse" if d == 1 else "forward"


def gate_row(gates: tuple, H: int, row: int) -> str:
    """Row ``row`` of a stacked (len(gates) * H, ...) matrix: "gate f, unit 2"."""
    g, unit = divmod(row, H)
    return f"gate {gates[g]}, unit {unit}"


def param_words(c, gates: tuple, tensor: str, index: tuple, layered: bool) -> str:
    """Words for an index of a parameter gradient: layer, direction, gate, unit, and where the
    column reads from."""
    p = parse_param(tensor.removeprefix("grad "))
    if p is None:
        return str(index)
    kind, which, layer, d = p
    H = c.hidden_size
    R = getattr(c, "out_size", H)
    where = f"layer {layer}, {direction_name(d)} direction, " if layered else ""
    if which == "hr":
        return where + f"projected unit {index[0]}, from unit {index[1]} of o * tanh(c)"
    where += gate_row(gates, H, index[0])
    if kind == "bias":
        return where
    if which == "hh":
        return where + (f", from projected unit {index[1]}" if R != H else f", from hidden unit {index[1]}")
    if layer == 0:
        return where + f", from input feature {index[1]}"
    d_in, unit = divmod(index[1], R)
    return where + f", from layer {layer - 1} {direction_name(d_in)} unit {unit}"


def layer_locate(gates: tuple):
    def locate(c, tensor: str, index: tuple) -> str:
        R, D = c.out_size, c.num_directions
        unit = "projected unit" if R != c.hidden_size else "unit"
        if tensor in ("output", "d_output"):
            t, b = (index[1], index[0]) if c.batch_first else (index[0], index[1])
            d, u = divmod(index[2], R)
            return f"layer {c.num_layers - 1} (last), {direction_name(d)} direction, time step {t}, batch {b}, {unit} {u}"
        if tensor in ("h_n", "dh0", "c_n", "dc0", "d_h_n", "d_c_n"):
            layer, d = divmod(index[0], D)
            what = "cell unit" if tensor in ("c_n", "dc0", "d_c_n") else unit
            return f"layer {layer}, {direction_name(d)} direction, batch {index[1]}, {what} {index[2]}"
        if tensor == "dx":
            t, b = (index[1], index[0]) if c.batch_first else (index[0], index[1])
            return f"time step {t}, batch {b}, input feature {index[2]}"
        return param_words(c, gates, tensor, index, layered=True)

    return locate


def cell_locate(gates: tuple):
    def locate(c, tensor: str, index: tuple) -> str:
        if tensor in ("h_next", "dh", "h", "d_h_next"):
            return f"batch {index[0]}, unit {index[1]}"
        if tensor in ("c_next", "dc", "c", "d_c_next"):
            return f"batch {index[0]}, cell unit {index[1]}"
        if tensor in ("dx", "x"):
            return f"batch {index[0]}, input feature {index[1]}"
        return param_words(c, gates, tensor, index, layered=False)

    return locate


# ---------------------------------------------------------------------------------------
# Bounds adapters: the layer bound on time-major arrays; a cell is the layer at T = 1.
# ---------------------------------------------------------------------------------------
def time_major(config, a):
    return a.swapaxes(0, 1) if config.batch_first else a


def cell_params_as_layer(params: dict) -> dict:
    return {f"{k}_l0": v for k, v in params.items()}


def layer_grads_as_cell(m: dict) -> dict:
    return {k.removesuffix("_l0"): v for k, v in m.items() if k.startswith("grad ")}
