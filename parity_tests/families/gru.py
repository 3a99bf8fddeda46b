"""The GRU family record: ``torch.nn.GRU`` and every fact about it the harness needs.

Contract (README, "The gated family"): ``GRU(input_size, hidden_size, num_layers=1,
bias=True, batch_first=False, bidirectional=False)``; ``forward(x, h0=None) -> (output, h_n)``;
``backward(d_output, d_h_n=None) -> (dx, dh0)``; ``params`` / ``grads`` keyed exactly like
``torch.nn.GRU(...).named_parameters()`` (gates stacked r, z, n), with torch's equations
n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h' = (1 - z) * n + z * h.

Shared with the LSTM and the cells: ``gated_common.py``. The running error bound:
``reference/gated.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from rnn_parity.reference.gated import gru_bounds
from rnn_parity.reference.torch_ref import extension_call, param_shapes

from ..core.cases import Case
from ..core.family import Family, Row
from . import entry, gated_diagnosis
from .gated_common import GRU_GATES, GatedConfig, layer_configs, layer_edge_cases, layer_locate, time_major


@dataclass(frozen=True)
class GRUConfig(GatedConfig):
    def array_shapes(self) -> dict:
        H = self.hidden_size
        return {"x": self._time(self.input_size), "h0": self._state(H),
                "output": self._time(self.num_directions * H), "h_n": self._state(H)}

    def param_shapes(self) -> dict:
        return param_shapes("GRU", **self.module_kwargs())


def configs(**knobs):
    """Knobs (keyword-only; ``gated_common.py`` documents each): max_input_size,
    max_hidden_size, min_seq_len, max_seq_len, max_batch, num_layers, bias, batch_first,
    bidirectional, has_h0, dtype, square."""
    if "projected" in knobs:
        raise TypeError("configs() got an unexpected knob 'projected': a GRU has no projection")
    return layer_configs(GRUConfig, **knobs)


def edge_cases(pins: dict) -> list[Case]:
    return layer_edge_cases(GRUConfig, pins)


locate = layer_locate(GRU_GATES)


def bounds(case, arrays) -> dict:
    c = case.config
    tm = lambda a: time_major(c, a)  # noqa: E731
    m = gru_bounds(c.module_kwargs(), arrays["params"], tm(arrays["x"]), arrays["h0"], tm(arrays["d_output"]),
                   arrays["d_h_n"], lengths=case.lengths, truncate=case.truncate)
    m["output"], m["dx"] = tm(m["output"]), tm(m["dx"])
    return m


def _gc(**kw) -> GRUConfig:
    return GRUConfig(**dict(dict(input_size=3, hidden_size=4, seq_len=5, batch=3), **kw))


_MINIMAL = dict(num_layers=1, bidirectional=False, batch_first=False, bias=True, dtype="float64")

ROWS = (
    Row("gru_basic", "gru", dict(_MINIMAL), _gc()),
    Row("gru_square_I_eq_H", "gru", dict(square=True, num_layers=1, dtype="float64"), _gc(input_size=4)),
    Row("gru_no_bias", "gru", dict(bias=False, dtype="float64"), _gc(bias=False)),
    Row("gru_h0_none", "gru", dict(has_h0=False, dtype="float64"), _gc(has_h0=False)),
    Row("gru_batch_first", "gru", dict(batch_first=True, dtype="float64"), _gc(batch_first=True)),
    Row("gru_bidirectional", "gru", dict(bidirectional=True, dtype="float64"), _gc(bidirectional=True)),
    # Stacked, then stacked and bidirectional with nothing else optional (the report's only
    # other 2-layer bidirectional cases are float32 or batch_first without bias).
    Row("gru_multilayer", "gru", dict(num_layers=(2, 3), dtype="float64"),
        (_gc(num_layers=3), _gc(num_layers=2, bidirectional=True))),
    Row("gru_float32", "gru", dict(dtype="float32"),
        (_gc(dtype="float32"), _gc(dtype="float32", num_layers=2, bidirectional=True))),
    Row("gru_long_sequences", "gru", dict(_MINIMAL, min_seq_len=12, max_seq_len=16, min_weight_scale=1.0),
        Case(_gc(seq_len=16), weight_scale=2.5)),
    Row("gru_large_upstream_gradients", "gru", dict(_MINIMAL, grad_scale=100.0), Case(_gc(seq_len=8), grad_scale=100.0)),
    Row("gru_anything", "gru", dict(), _gc(num_layers=2, bidirectional=True, batch_first=True, bias=False, has_h0=False)),
)

GRU = Family(
    **entry("gru").fields(),
    config_cls=GRUConfig,
    forward_args=("x", "h0"),
    forward_returns=("output", "h_n"),
    backward_args=("d_output", "d_h_n"),
    backward_returns=("dx", "dh0"),
    torch_module="GRU",
    bounds=bounds,
    locate=locate,
    configs=configs,
    edge_cases=edge_cases,
    rows=ROWS,
    # scratch's extensions, as the RNN's and the LSTM's (families/lstm.py).
    forward_extensions=("lengths",),
    backward_extensions=("truncate",),
    torch_call=lambda case: extension_call(case.lengths, case.truncate, case.config.batch_first),
    localize=gated_diagnosis.localize,
    mutants=gated_diagnosis.mutants,
)
