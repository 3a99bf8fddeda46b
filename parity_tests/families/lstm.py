"""The LSTM family record: ``torch.nn.LSTM`` and every fact about it the harness needs.

Contract (README, "The gated family"): ``LSTM(input_size, hidden_size, num_layers=1,
bias=True, batch_first=False, bidirectional=False, proj_size=0)``;
``forward(x, hx=None) -> (output, (h_n, c_n))`` with ``hx = (h0, c0)`` or None for zeros;
``backward(d_output, d_h_n=None, d_c_n=None) -> (dx, (dh0, dc0))``; ``params`` / ``grads``
keyed exactly like ``torch.nn.LSTM(...).named_parameters()`` (gates stacked i, f, g, o; with
``proj_size = P > 0`` also ``weight_hr_l{k}`` (P, H), and h is (L*D, B, P)).

Shared with the GRU and the cells: ``gated_common.py`` (configuration, knobs and why the
weight scale keeps the gates well conditioned, locate with the gate). The running error
bound: ``reference/gated.py`` (its docstring is the derivation).
"""

from __future__ import annotations

from dataclasses import dataclass

from rnn_parity.reference.gated import lstm_bounds
from rnn_parity.reference.torch_ref import extension_call, param_shapes

from ..core.cases import Case, module_field
from ..core.family import Family, Row
from . import entry, gated_diagnosis
from .gated_common import LSTM_GATES, GatedConfig, layer_configs, layer_edge_cases, layer_locate, time_major


@dataclass(frozen=True)
class LSTMConfig(GatedConfig):
    proj_size: int = module_field(0)

    def array_shapes(self) -> dict:
        R, H = self.out_size, self.hidden_size
        return {"x": self._time(self.input_size), "h0": self._state(R), "c0": self._state(H),
                "output": self._time(self.num_directions * R), "h_n": self._state(R), "c_n": self._state(H)}

    def param_shapes(self) -> dict:
        return param_shapes("LSTM", **self.module_kwargs())


def configs(**knobs):
    """Knobs (keyword-only; ``gated_common.py`` documents each): max_input_size,
    max_hidden_size, min_seq_len, max_seq_len, max_batch, num_layers, bias, batch_first,
    bidirectional, has_h0, dtype, square, projected."""
    return layer_configs(LSTMConfig, **knobs)


def edge_cases(pins: dict) -> list[Case]:
    return layer_edge_cases(LSTMConfig, pins)


locate = layer_locate(LSTM_GATES)


def bounds(case, arrays) -> dict:
    c = case.config
    tm = lambda a: time_major(c, a)  # noqa: E731
    m = lstm_bounds(c.module_kwargs(), arrays["params"], tm(arrays["x"]), arrays["h0"], arrays["c0"],
                    tm(arrays["d_output"]), arrays["d_h_n"], arrays["d_c_n"], lengths=case.lengths,
                    truncate=case.truncate)
    m["output"], m["dx"] = tm(m["output"]), tm(m["dx"])
    return m


def _lc(**kw) -> LSTMConfig:
    return LSTMConfig(**dict(dict(input_size=3, hidden_size=4, seq_len=5, batch=3), **kw))


_MINIMAL = dict(num_layers=1, bidirectional=False, batch_first=False, bias=True, projected=False, dtype="float64")

ROWS = (
    Row("lstm_basic", "lstm", dict(_MINIMAL), _lc()),
    Row("lstm_square_I_eq_H", "lstm", dict(square=True, num_layers=1, dtype="float64"), _lc(input_size=4)),
    Row("lstm_proj", "lstm", dict(projected=True, dtype="float64"), _lc(proj_size=2)),
    Row("lstm_no_bias", "lstm", dict(bias=False, dtype="float64"), _lc(bias=False)),
    Row("lstm_h0_none", "lstm", dict(has_h0=False, dtype="float64"), _lc(has_h0=False)),
    Row("lstm_batch_first", "lstm", dict(batch_first=True, dtype="float64"), _lc(batch_first=True)),
    Row("lstm_bidirectional", "lstm", dict(bidirectional=True, dtype="float64"), _lc(bidirectional=True)),
    # Stacked, then stacked and bidirectional with nothing else optional (the report's only
    # other 2-layer bidirectional cases are float32 and projected, or batch_first without bias).
    Row("lstm_multilayer", "lstm", dict(num_layers=(2, 3), dtype="float64"),
        (_lc(num_layers=3), _lc(num_layers=2, bidirectional=True))),
    # float32 at the smallest capability first (the report), then deep, bidirectional, projected.
    Row("lstm_float32", "lstm", dict(dtype="float32"),
        (_lc(dtype="float32"), _lc(dtype="float32", num_layers=2, bidirectional=True, proj_size=3))),
    # Long sequences with weights that carry gradients back (weight scale >= 1): a truncated
    # backward, or a cell state not carried back through time, shows here.
    Row("lstm_long_sequences", "lstm", dict(_MINIMAL, min_seq_len=12, max_seq_len=16, min_weight_scale=1.0),
        Case(_lc(seq_len=16), weight_scale=2.5)),
    # Upstream gradients 100x (d_output, d_h_n and d_c_n): clipping shows.
    Row("lstm_large_upstream_gradients", "lstm", dict(_MINIMAL, grad_scale=100.0), Case(_lc(seq_len=8), grad_scale=100.0)),
    Row("lstm_anything", "lstm", dict(),
        _lc(num_layers=2, bidirectional=True, batch_first=True, bias=False, has_h0=False, proj_size=3)),
)

LSTM = Family(
    **entry("lstm").fields(),
    config_cls=LSTMConfig,
    forward_args=("x", ("h0", "c0")),
    forward_returns=("output", ("h_n", "c_n")),
    backward_args=("d_output", "d_h_n", "d_c_n"),
    backward_returns=("dx", ("dh0", "dc0")),
    torch_module="LSTM",
    bounds=bounds,
    locate=locate,
    configs=configs,
    edge_cases=edge_cases,
    rows=ROWS,
    # scratch's extensions, as the RNN's: passed only when a case carries them (only
    # tests/test_gated_lengths_truncation.py's cases do), so a plug-in without them runs
    # every row as before.
    forward_extensions=("lengths",),
    backward_extensions=("truncate",),
    torch_call=lambda case: extension_call(case.lengths, case.truncate, case.config.batch_first),
    localize=gated_diagnosis.localize,
    mutants=gated_diagnosis.mutants,
)
