"""The GRUCell family record: ``torch.nn.GRUCell``, one step of the GRU.

Contract: ``GRUCell(input_size, hidden_size, bias=True)``; ``forward(x, h=None) -> h'``;
``backward(d_h) -> (dx, dh)``; ``params`` / ``grads`` keyed ``weight_ih, weight_hh, bias_ih,
bias_hh`` (gates r, z, n).

Its running error bound is the GRU's for one step of one layer: one rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnn_parity.reference.gated import gru_bounds
from rnn_parity.reference.torch_ref import param_shapes

from ..core.cases import Case
from ..core.family import Family, Row
from . import entry, gated_diagnosis
from .gated_common import (GRU_GATES, GatedCellConfig, cell_configs, cell_edge_cases, cell_locate,
                           cell_params_as_layer, layer_grads_as_cell)
from .gru import GRUConfig


@dataclass(frozen=True)
class GRUCellConfig(GatedCellConfig):
    def array_shapes(self) -> dict:
        B, H = self.batch, self.hidden_size
        return {"x": (B, self.input_size), "h": (B, H), "h_next": (B, H)}

    def param_shapes(self) -> dict:
        return param_shapes("GRUCell", **self.module_kwargs())


def configs(**knobs):
    """The GRU's configurations at T = 1 (``gated_common.cell_configs``): max_input_size,
    max_hidden_size, max_batch, bias, has_h0, dtype, square."""
    return cell_configs(GRUCellConfig, GRUConfig, **knobs)


def edge_cases(pins: dict) -> list[Case]:
    return cell_edge_cases(GRUCellConfig, pins)


locate = cell_locate(GRU_GATES)


def bounds(case, arrays) -> dict:
    """The GRU's bound at T = 1, one layer, one direction."""
    c = case.config
    kw = dict(input_size=c.input_size, hidden_size=c.hidden_size, num_layers=1, bias=c.bias, bidirectional=False)
    h = None if arrays["h"] is None else arrays["h"][None]
    d = arrays["d_h_next"][None]
    m = gru_bounds(kw, cell_params_as_layer(arrays["params"]), arrays["x"][None], h, d, np.zeros_like(d))
    return {"h_next": m["output"][0], "dx": m["dx"][0], "dh": m["dh0"][0], **layer_grads_as_cell(m)}


def _cc(**kw) -> GRUCellConfig:
    return GRUCellConfig(**dict(dict(input_size=3, hidden_size=4), **kw))


ROWS = (
    Row("gru_cell_basic", "gru_cell", dict(dtype="float64"), _cc()),
    Row("gru_cell_square_I_eq_H", "gru_cell", dict(square=True, dtype="float64"), _cc(input_size=4)),
    Row("gru_cell_no_bias", "gru_cell", dict(bias=False, dtype="float64"), _cc(bias=False)),
    Row("gru_cell_h_none", "gru_cell", dict(has_h0=False, dtype="float64"), _cc(has_h0=False)),
    Row("gru_cell_float32", "gru_cell", dict(dtype="float32"), _cc(dtype="float32")),
)

GRU_CELL = Family(
    **entry("gru_cell").fields(),
    config_cls=GRUCellConfig,
    forward_args=("x", "h"),
    forward_returns="h_next",
    backward_args=("d_h_next",),
    backward_returns=("dx", "dh"),
    torch_module="GRUCell",
    bounds=bounds,
    locate=locate,
    configs=configs,
    edge_cases=edge_cases,
    rows=ROWS,
    localize=gated_diagnosis.localize,
    mutants=gated_diagnosis.mutants,
)
