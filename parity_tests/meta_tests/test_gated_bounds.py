"""The gated families' running error bounds (``reference/gated.py``) are honest:

* the per-step loop they are evaluated at is torch's own module, value for value;
* M >= |value| for every element of every compared tensor (the induction the derivation rests on);
* the strategies keep every gate's pre-activation within |a| <= weight_scale (the conditioning
  ``families/gated_common.py`` argues for), projection included;
* scratch's measured error, in float64 and float32, stays inside the budget 1000 eps * scale;
* planted perturbations (d_c_n ignored, gate blocks swapped in a weight gradient, dh0 zeroed)
  exceed it, float64 and float32, by a wide margin: the bound is not so loose that it hides bugs.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rnn_parity.scratch as scratch
from parity_tests.core.cases import Case
from parity_tests.core.runs import run_both
from parity_tests.core.strategies import cases
from parity_tests.families import FAMILIES
from parity_tests.families.gru import GRUConfig
from parity_tests.families.lstm import LSTMConfig
from parity_tests.families.lstm_cell import LSTMCellConfig
from parity_tests.families.gru_cell import GRUCellConfig
from rnn_parity.reference.gated import gated_loop
from rnn_parity.reference.torch_ref import build, vjp

GATED = ("lstm", "gru", "lstm_cell", "gru_cell")
SCRATCH = {"lstm": scratch.LSTM, "gru": scratch.GRU, "lstm_cell": scratch.LSTMCell, "gru_cell": scratch.GRUCell}


def _loop(case, a):
    c = case.config
    tm = (lambda z: z.swapaxes(0, 1)) if c.batch_first else (lambda z: z)
    kind = "LSTM" if "proj_size" in c.module_kwargs() else "GRU"
    init = (a["h0"], a["c0"]) if kind == "LSTM" else (a["h0"],)
    d_final = (a["d_h_n"], a["d_c_n"]) if kind == "LSTM" else (a["d_h_n"],)
    return kind, gated_loop(kind, c.module_kwargs(), a["params"], tm(a["x"]), init, tm(a["d_output"]), d_final), tm


@pytest.mark.parametrize("config", [
    LSTMConfig(3, 4, num_layers=2, bidirectional=True, proj_size=2, seq_len=4, batch=3),
    LSTMConfig(2, 3, bias=False, batch_first=True, has_h0=False, seq_len=3, batch=2),
    GRUConfig(3, 4, num_layers=2, bidirectional=True, seq_len=4, batch=3),
    GRUConfig(2, 2, bias=False, batch_first=True, seq_len=3, batch=2),
], ids=["lstm_proj_bidir", "lstm_nobias_bf", "gru_bidir", "gru_nobias_bf"])
def test_the_loop_is_torchs_module(config):
    case = Case(config, seed=7)
    a = case.materialize()
    kind, loop, tm = _loop(case, a)
    module = build(kind, a["params"], **config.module_kwargs())
    zeros = lambda n: np.zeros(config.array_shapes()[n])  # noqa: E731
    h0 = a["h0"] if a["h0"] is not None else zeros("h0")
    if kind == "LSTM":
        c0 = a["c0"] if a["c0"] is not None else zeros("c0")
        outs, ins, grads = vjp(module, (a["x"], (h0, c0)), (a["d_output"], (a["d_h_n"], a["d_c_n"])))
    else:
        outs, ins, grads = vjp(module, (a["x"], h0), (a["d_output"], a["d_h_n"]))
    mine = [tm(loop.output), *loop.states, tm(loop.dx), *loop.d_init, *loop.grads.values()]
    theirs = [outs[0], *outs[1:], ins[0], *ins[1:], *grads.values()]
    for m, t in zip(mine, theirs):
        np.testing.assert_allclose(m, t, rtol=0, atol=1e-13)


@pytest.mark.parametrize("family", GATED)
@given(data=st.data())
def test_bound_is_at_least_the_value_everywhere(family, data):
    fam = FAMILIES[family]
    case = data.draw(cases(fam, dtype="float64"))
    a = case.materialize()
    from parity_tests.core.runs import reference

    ref, m = reference(case, a), fam.bounds(case, a)
    assert set(ref) == set(m), set(ref) ^ set(m)
    for name, value in ref.items():
        assert m[name].shape == value.shape, name
        assert np.all(m[name] >= np.abs(value) * (1 - 1e-12)), (name, float(np.max(np.abs(value) - m[name])))


@pytest.mark.parametrize("family", ["lstm", "gru"])
@given(data=st.data())
def test_every_gate_pre_activation_is_bounded_by_the_weight_scale(family, data):
    case = data.draw(cases(FAMILIES[family]))
    c, a = case.config, case.materialize()
    _, loop, _ = _loop(case, a)
    p = {k: v.astype(np.float64) for k, v in a["params"].items()}
    for (layer, d), tr in loop.traces.items():
        sfx = f"_l{layer}" + ("_reverse" if d else "")
        pre = tr.layer_input @ p[f"weight_ih{sfx}"].T + tr.h_prev @ p[f"weight_hh{sfx}"].T
        if c.bias:
            pre = pre + p[f"bias_ih{sfx}"] + p[f"bias_hh{sfx}"]
        assert np.max(np.abs(pre)) <= case.weight_scale * (1 + 1e-6), (layer, d, float(np.max(np.abs(pre))))
        assert np.max(np.abs(tr.h)) <= 1 + 1e-12


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("family", GATED)
@settings(max_examples=10)  # the parity rows draw many more; this pins the claim here
@given(data=st.data())
def test_scratch_stays_inside_the_budget(family, dtype, data):
    case = data.draw(cases(FAMILIES[family], dtype=dtype))
    for c in run_both(SCRATCH[family], case).comparisons:
        assert c.passed, f"{c.tensor}: {c.max_abs:.3g} > allowed {c.allowed_abs:.3g} ({case.describe()})"


# ---------------------------------------------------------------------------------------
# Planted perturbations: each a classic mistake, as a thin wrapper of scratch.
# ---------------------------------------------------------------------------------------
class LSTMIgnoresDcn(scratch.LSTM):
    def backward(self, d_output, d_h_n=None, d_c_n=None):
        return super().backward(d_output, d_h_n, None)


def _swap_blocks(g, a, b, H):
    g = g.copy()
    g[a * H:(a + 1) * H], g[b * H:(b + 1) * H] = g[b * H:(b + 1) * H].copy(), g[a * H:(a + 1) * H].copy()
    return g


class LSTMGateOrderIF(scratch.LSTM):
    """The gradient of weight_ih_l0 stored with the i and f blocks read in the wrong order."""

    def backward(self, *args):
        out = super().backward(*args)
        self.grads["weight_ih_l0"] = _swap_blocks(self.grads["weight_ih_l0"], 0, 1, self.spec.hidden_size)
        return out


class GRUGateOrderRZ(scratch.GRU):
    def backward(self, *args):
        out = super().backward(*args)
        self.grads["weight_hh_l0"] = _swap_blocks(self.grads["weight_hh_l0"], 0, 1, self.spec.hidden_size)
        return out


class GRUZeroDh0(scratch.GRU):
    def backward(self, *args):
        dx, dh0 = super().backward(*args)
        return dx, np.zeros_like(dh0)


class LSTMCellIgnoresDc(scratch.LSTMCell):
    def backward(self, d_h, d_c=None):
        return super().backward(d_h, None)


class GRUCellGateOrderRZ(scratch.GRUCell):
    def backward(self, d_h):
        out = super().backward(d_h)
        self.grads["weight_ih"] = _swap_blocks(self.grads["weight_ih"], 0, 1, self.hidden_size)
        return out


PLANTED = [
    (LSTMIgnoresDcn, LSTMConfig(3, 4, num_layers=2, bidirectional=True, proj_size=2, seq_len=4, batch=3), "dx"),
    (LSTMGateOrderIF, LSTMConfig(3, 4, seq_len=4, batch=3), "grad weight_ih_l0"),
    (GRUGateOrderRZ, GRUConfig(3, 4, num_layers=2, seq_len=4, batch=3), "grad weight_hh_l0"),
    (GRUZeroDh0, GRUConfig(3, 4, batch_first=True, seq_len=4, batch=3), "dh0"),
    (LSTMCellIgnoresDc, LSTMCellConfig(3, 4, batch=3), "dx"),
    (GRUCellGateOrderRZ, GRUCellConfig(3, 4, batch=3), "grad weight_ih"),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cls, config, first", PLANTED, ids=[p[0].__name__ for p in PLANTED])
def test_planted_perturbation_exceeds_the_budget(cls, config, first, dtype):
    from dataclasses import replace

    for seed in range(3):
        case = Case(replace(config, dtype=dtype), seed=seed)
        comparisons = run_both(cls, case).comparisons
        failed = [c for c in comparisons if not c.passed]
        assert failed and failed[0].tensor == first, [c.tensor for c in failed]
        # A wide margin, not a near miss: float64 by many orders, float32 by at least 10x.
        margin = failed[0].max_abs / failed[0].allowed_abs
        assert margin > (1e6 if dtype == "float64" else 10), (seed, margin)


# ---------------------------------------------------------------------------------------
# Every promised knob is reached by the gated rows under the ci profile (the configurations
# the rows' strategies draw, plus their @example edge cases; no model is run).
# ---------------------------------------------------------------------------------------
def _features(case) -> set:
    c = case.config
    f = {f"I == H: {c.input_size == c.hidden_size}", f"B = 1: {c.batch == 1}", f"bias: {c.bias}",
         f"state given: {c.has_h0}", f"dtype: {c.dtype}", f"zero weights: {case.zero_weights}"}
    if hasattr(c, "seq_len"):
        f |= {f"T = 1: {c.seq_len == 1}", f"T >= 2: {c.seq_len >= 2}", f"batch_first: {c.batch_first}",
              f"bidirectional: {c.bidirectional}", f"stacked: {c.num_layers > 1}"}
        if c.batch_first and c.seq_len > 1:
            assert c.batch >= 2 and c.batch != c.seq_len, c
    if getattr(c, "proj_size", 0):
        assert 0 < c.proj_size < c.hidden_size, c
        f.add("projected: True")
    return f


PROMISED = {
    "layer": ["I == H: True", "T = 1: True", "T >= 2: True", "B = 1: True", "bias: False", "bias: True",
              "state given: False", "state given: True", "dtype: float32", "dtype: float64", "batch_first: True",
              "batch_first: False", "bidirectional: True", "stacked: True", "zero weights: True"],
    "cell": ["I == H: True", "B = 1: True", "bias: False", "bias: True", "state given: False", "state given: True",
             "dtype: float32", "dtype: float64", "zero weights: True"],
}


@pytest.mark.parametrize("family", GATED)
def test_every_promised_knob_is_drawn_by_the_rows_under_ci(family):
    fam = FAMILIES[family]
    seen = set()
    ci = settings(settings.get_profile("ci"), database=None)
    for row in fam.rows:
        for case in fam.edge_cases(row.pins):
            seen |= _features(case)

        @ci
        @given(case=cases(fam, **row.pins))
        def collect(case):
            seen.update(_features(case))

        collect()
    promised = PROMISED["cell" if family.endswith("_cell") else "layer"] + (["projected: True"] if family == "lstm" else [])
    missing = [p for p in promised if p not in seen]
    assert not missing, f"never drawn by the {family} rows under the ci profile: {missing}"
