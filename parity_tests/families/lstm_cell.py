"""The LSTMCell family record: ``torch.nn.LSTMCell``, one step of the LSTM.

Contract: ``LSTMCell(input_size, hidden_size, bias=True)``; ``forward(x, hx=None) -> (h, c)``
with ``hx = (h, c)`` or None for zeros; ``backward(d_h, d_c=None) -> (dx, (dh, dc))``;
``params`` / ``grads`` keyed ``weight_ih, weight_hh, bias_ih, bias_hh`` (gates i, f, g, o).

Its running error bound is the LSTM's for one step of one layer: one rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnn_parity.reference.gated import lstm_bounds
from rnn_parity.reference.torch_ref import param_shapes

from ..core.cases import Case
from ..core.family import Family, Row
from . import entry, gated_diagnosis
from .gated_common import (LSTM_GATES, GatedCellConfig, cell_configs, cell_edge_cases, cell_locate,
                           cell_params_as_layer, layer_grads_as_cell)
from .lstm import LSTMConfig


@dataclass(frozen=True)
class LSTMCellConfig(GatedCellConfig):
    def array_shapes(self) -> dict:
        B, H = self.batch, self.hidden_size
        return {"x": (B, self.input_size), "h": (B, H), "c": (B, H), "h_next": (B, H), "c_next": (B, H)}

    def param_shapes(self) -> dict:
        return param_shapes("LSTMCell", **self.module_kwargs())


def configs(**knobs):
    """The LSTM's configurations at T = 1 (``gated_common.cell_configs``): max_input_size,
    max_hidden_size, max_batch, bias, has_h0, dtype, square."""
    return cell_configs(LSTMCellConfig, LSTMConfig, **knobs)


def edge_cases(pins: dict) -> list[Case]:
    return cell_edge_cases(LSTMCellConfig, pins)


locate = cell_locate(LSTM_GATES)


def bounds(case, arrays) -> dict:
    """The LSTM's bound at T = 1, one layer, one direction: h_next is the output of the one
    step, c_next is c_n; nothing arrives on h_n but what d_h_next brings."""
    c = case.config
    kw = dict(input_size=c.input_size, hidden_size=c.hidden_size, num_layers=1, bias=c.bias, bidirectional=False)
    state = lambda name: None if arrays[name] is None else arrays[name][None]  # noqa: E731
    d = arrays["d_h_next"][None]
    m = lstm_bounds(kw, cell_params_as_layer(arrays["params"]), arrays["x"][None], state("h"), state("c"), d,
                    np.zeros_like(d), arrays["d_c_next"][None])
    return {"h_next": m["output"][0], "c_next": m["c_n"][0], "dx": m["dx"][0], "dh": m["dh0"][0], "dc": m["dc0"][0],
            **layer_grads_as_cell(m)}


def _cc(**kw) -> LSTMCellConfig:
    return LSTMCellConfig(**dict(dict(input_size=3, hidden_size=4), **kw))


ROWS = (
    Row("lstm_cell_basic", "lstm_cell", dict(dtype="float64"), _cc()),
    Row("lstm_cell_square_I_eq_H", "lstm_cell", dict(square=True, dtype="float64"), _cc(input_size=4)),
    Row("lstm_cell_no_bias", "lstm_cell", dict(bias=False, dtype="float64"), _cc(bias=False)),
    Row("lstm_cell_state_none", "lstm_cell", dict(has_h0=False, dtype="float64"), _cc(has_h0=False)),
    Row("lstm_cell_float32", "lstm_cell", dict(dtype="float32"), _cc(dtype="float32")),
)

LSTM_CELL = Family(
    **entry("lstm_cell").fields(),
    config_cls=LSTMCellConfig,
    forward_args=("x", ("h", "c")),
    forward_returns=("h_next", "c_next"),
    backward_args=("d_h_next", "d_c_next"),
    backward_returns=("dx", ("dh", "dc")),
    torch_module="LSTMCell",
    bounds=bounds,
    locate=locate,
    configs=configs,
    edge_cases=edge_cases,
    rows=ROWS,
    localize=gated_diagnosis.localize,
    mutants=gated_diagnosis.mutants,
)
