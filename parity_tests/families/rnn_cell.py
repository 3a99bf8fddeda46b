"""The RNNCell family record: ``torch.nn.RNNCell``, one step of the RNN.

Contract: ``RNNCell(input_size, hidden_size, bias=True, nonlinearity="tanh")``;
``forward(x, h=None) -> h_next``; ``backward(d_h_next) -> (dx, dh)``; ``params`` / ``grads``
keyed ``weight_ih, weight_hh, bias_ih, bias_hh`` like ``torch.nn.RNNCell``.

Its running error bound is the RNN's for one step of one layer (``bounds``): one rule.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from rnn_parity.reference.elman import rnn_bounds
from rnn_parity.reference.torch_ref import param_shapes

from ..core.cases import Case, ConfigBase, module_field, with_pins
from ..core.family import Family, Row
from . import entry, rnn_cell_diagnosis
from .rnn import configs as rnn_configs


@dataclass(frozen=True)
class CellConfig(ConfigBase):
    input_size: int = module_field(required=True)
    hidden_size: int = module_field(required=True)
    bias: bool = module_field(True)
    nonlinearity: str = module_field("tanh")
    batch: int = 2
    dtype: str = "float64"
    has_h0: bool = True

    def array_shapes(self) -> dict:
        B, H = self.batch, self.hidden_size
        return {"x": (B, self.input_size), "h": (B, H), "h_next": (B, H)}

    def param_shapes(self) -> dict:
        return param_shapes("RNNCell", **self.module_kwargs())

    def short(self) -> str:
        return (
            f"I={self.input_size} H={self.hidden_size} B={self.batch}, {self.nonlinearity}, "
            f"{'bias' if self.bias else 'no bias'}, {'h given' if self.has_h0 else 'h=None'}, {self.dtype}"
        )


CELL_KNOBS = ("max_input_size", "max_hidden_size", "nonlinearity", "bias", "has_h0", "dtype", "square")


def configs(*, max_input_size: int = 6, max_hidden_size: int = 6, max_batch: int = 4, **knobs):
    """A cell is one step of one layer in one direction, so its configurations are the RNN's
    (``families/rnn.py`` documents each knob) at T = 1, one layer, unidirectional, time-major.
    Knobs: the bounds above and ``nonlinearity``, ``bias``, ``has_h0``, ``dtype``, ``square``."""
    unknown = sorted(set(knobs) - set(CELL_KNOBS))
    if unknown:
        raise TypeError(f"configs() got unexpected knobs {unknown}; the RNNCell's are {list(CELL_KNOBS)}")
    layer = rnn_configs(
        max_input_size=max_input_size, max_hidden_size=max_hidden_size, max_seq_len=1, max_batch=max_batch,
        num_layers=1, bidirectional=False, batch_first=False, **knobs,
    )
    return layer.map(
        lambda c: CellConfig(
            input_size=c.input_size, hidden_size=c.hidden_size, bias=c.bias, nonlinearity=c.nonlinearity,
            batch=c.batch, dtype=c.dtype, has_h0=c.has_h0,
        )
    )


def edge_cases(pins: dict) -> list[Case]:
    base = CellConfig(input_size=2, hidden_size=3, batch=2)
    cases = []
    for nl in ("relu", "tanh"):
        cfg = with_pins(replace(base, nonlinearity=nl), pins)
        cases.append(Case(cfg, seed=1, weight_scale=0.0, zero_weights=True, zero_inputs=True))
    cases.append(Case(with_pins(replace(base, batch=1), pins), seed=3))
    cases.append(Case(with_pins(replace(base, input_size=3, hidden_size=3), pins), seed=4))
    return cases


def locate(c: CellConfig, tensor: str, index: tuple) -> str:
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


def bounds(case, arrays) -> dict:
    """The RNN's bound for T = 1, one layer, one direction: h_next is the output at the one
    step, dh is dh0, and nothing arrives on h_n but what d_h_next brings."""
    c = case.config
    kw = dict(input_size=c.input_size, hidden_size=c.hidden_size, num_layers=1, nonlinearity=c.nonlinearity,
              bias=c.bias, bidirectional=False)
    params = {f"{k}_l0": v for k, v in arrays["params"].items()}
    h = None if arrays["h"] is None else arrays["h"][None]
    d = arrays["d_h_next"][None]
    m = rnn_bounds(kw, params, arrays["x"][None], h, d, np.zeros_like(d))
    out = {"h_next": m["output"][0], "dx": m["dx"][0], "dh": m["dh0"][0]}
    out.update({k.removesuffix("_l0"): v for k, v in m.items() if k.startswith("grad ")})
    return out


def _cc(**kw) -> CellConfig:
    return CellConfig(**dict(dict(input_size=3, hidden_size=4), **kw))


ROWS = (
    Row("cell_tanh", "rnn_cell", dict(nonlinearity="tanh", dtype="float64"), _cc()),
    Row("cell_relu", "rnn_cell", dict(nonlinearity="relu", dtype="float64"), _cc(nonlinearity="relu")),
    Row("cell_square_I_eq_H", "rnn_cell", dict(square=True, dtype="float64"), _cc(input_size=4)),
    Row("cell_no_bias", "rnn_cell", dict(bias=False, dtype="float64"), _cc(bias=False)),
    Row("cell_h_none", "rnn_cell", dict(has_h0=False, dtype="float64"), _cc(has_h0=False)),
    Row("cell_float32", "rnn_cell", dict(dtype="float32"), _cc(dtype="float32")),
    Row("cell_anything", "rnn_cell", dict(), CellConfig(2, 5, nonlinearity="relu", batch=1)),
)

RNN_CELL = Family(
    **entry("rnn_cell").fields(),
    config_cls=CellConfig,
    forward_args=("x", "h"),
    forward_returns="h_next",
    backward_args=("d_h_next",),
    backward_returns=("dx", "dh"),
    torch_module="RNNCell",
    bounds=bounds,
    locate=locate,
    configs=configs,
    edge_cases=edge_cases,
    rows=ROWS,
    localize=rnn_cell_diagnosis.localize,
    mutants=rnn_cell_diagnosis.mutants,
)
