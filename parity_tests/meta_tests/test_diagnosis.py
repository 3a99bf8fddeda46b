"""The diagnosis names the planted mistake, first; says where it goes wrong; and names no
suspect for a correct implementation.

Diagnosed on a fixed, generic case of the bug's configuration (random weights, T = 5,
B = 3), the way ``diagnose`` itself re-probes a shrunk failure.
"""

import numpy as np
import pytest

from parity_tests.core.cases import Case
from parity_tests.core.messages import ParityMismatch
from parity_tests.core.runs import comparisons
from parity_tests.core.runs import run_both
from parity_tests.diagnosis import Probe, diagnose, suspects
from parity_tests.families.conventions import adapt
from parity_tests.families.rnn import RNNConfig
from parity_tests.families.rnn_cell import CellConfig
from parity_tests.learners import cs231n_rnn_not_carried, cs231n_rnn_prev_h, dlai_rnn_buggy
from parity_tests.planted.concat_rnn import ColumnCell
from parity_tests.planted.variants import VARIANTS
from parity_tests.properties import assert_parity
from parity_tests.planted import bugs

SQUARE = RNNConfig(3, 3, seq_len=5, batch=3)

SUSPECT_CASES = [
    (bugs.TransposedWeightHHGrad, SQUARE, "transposed gradient (grad weight_hh_l0)"),
    (bugs.SwappedWeightGrads, SQUARE, "two gradients swapped (grad weight_ih_l0 <-> grad weight_hh_l0)"),
    (bugs.MeanOverBatch, SQUARE, "weight gradients averaged over the batch (divided by the batch size B = 3)"),
    (bugs.SignFlippedDx, SQUARE, "sign flip (dx)"),
    (bugs.NotCarriedThroughTime, SQUARE, "missing contribution from later time steps"),
    (bugs.TanhDerivativeOfH, SQUARE, "wrong activation derivative (taken at the output"),
    (bugs.ReluGradOneAtZero, RNNConfig(3, 3, nonlinearity="relu", seq_len=5, batch=3), "wrong activation derivative (relu'(0)"),
    (bugs.HiddenStateOffByOne, SQUARE, "previous hidden state off by one step"),
    (bugs.ReverseNotReReversed, RNNConfig(3, 3, bidirectional=True, seq_len=5, batch=3), "reverse direction not re-reversed"),
    (bugs.MissingBiasHHGrad, SQUARE, "a bias missing (grad bias_hh_l0)"),
    (bugs.IgnoresDhN, SQUARE, "upstream gradient on h_n ignored"),
    (bugs.NoGradToLowerLayer, RNNConfig(3, 3, num_layers=2, seq_len=5, batch=3), "gradient not passed to the layer below"),
    (bugs.MultipliedOverTime, SQUARE, "gradients combined over time with *="),
    (bugs.SwappedDxDhPrev, SQUARE, "dx and dh_prev computed with each other's weight"),
]

# Issue 11, section 4: the mistakes real code makes, each on a fixed case (kw: the Case's
# scales) where it shows; the suspect that names it must come first.
LONG = RNNConfig(3, 6, seq_len=12, batch=3)
REAL_CODE_CASES = [
    (bugs.ClippedGradients, RNNConfig(3, 4, seq_len=8, batch=3), dict(grad_scale=100.0), "gradients clipped to [-5, 5] (parameter gradients)"),
    (bugs.ClippedGradients1, RNNConfig(3, 4, seq_len=8, batch=3), dict(grad_scale=100.0), "gradients clipped to [-1, 1] (parameter gradients)"),
    (bugs.TruncatedWindow4, LONG, dict(weight_scale=2.5), "backprop through time truncated every k = 4 steps"),
    (bugs.SlidingWindow3, LONG, dict(weight_scale=2.5), "backprop through time truncated to a window of k = 3 steps"),
    (bugs.SlidingWindow3, RNNConfig(4, 4, num_layers=2, bidirectional=True, batch_first=True, seq_len=9, batch=3),
     dict(weight_scale=2.0), "backprop through time truncated to a window of k = 3 steps"),
    (bugs.NotCarriedThroughTime, SQUARE, {}, "missing contribution from later time steps (no carry back, dh0 = 0)"),
    (bugs.NotCarriedCS231n, SQUARE, {}, "missing contribution from later time steps (dh0 from step 0 alone, the CS231n form)"),
    (bugs.Dh0Zeroed, SQUARE, {}, "dh0 not propagated to the initial state (returned as zero)"),
    (bugs.Dh0OneStepLate, SQUARE, {}, "dh0 not propagated to the initial state (the gradient of h_0 returned instead)"),
    (bugs.LastOutputOnly, SQUARE, {}, "only the last time step's output gradient used"),
    (bugs.LastOutputOnly, RNNConfig(3, 3, num_layers=2, bidirectional=True, seq_len=5, batch=3), {},
     "only the last time step's output gradient used"),
    (bugs.IgnoresDhN, SQUARE, {}, "upstream gradient on h_n ignored"),
    (bugs.DxWithWhh, SQUARE, {}, "dx computed with W_hh instead of W_ih"),
    (bugs.ForwardOneBias, SQUARE, {}, "forward with one bias (bias_ih only, not bias_ih + bias_hh)"),
    (bugs.MissingBiasHHGrad, SQUARE, {}, "a bias missing (grad bias_hh_l0)"),
    (bugs.BatchFirstReshape, RNNConfig(3, 3, batch_first=True, seq_len=5, batch=3), {},
     "batch_first handled with reshape instead of a transpose"),
    (bugs.BatchFirstReshape, RNNConfig(2, 3, batch_first=True, num_layers=2, bidirectional=True, seq_len=4, batch=3), {},
     "batch_first handled with reshape instead of a transpose"),
    (bugs.ReverseOutputNotReReversed, RNNConfig(3, 3, bidirectional=True, seq_len=5, batch=3), {},
     "reverse direction's output not put back in time order"),
    (bugs.MeanOverBatch, SQUARE, {}, "weight gradients averaged over the batch (divided by the batch size B = 3)"),
]


def _diagnose(cls, cfg, **kw):
    case = Case(cfg, seed=11, **kw)
    return diagnose(cls, case, comparisons(cls, case))


@pytest.mark.parametrize("cls, cfg, suspect", SUSPECT_CASES, ids=[c[0].__name__ for c in SUSPECT_CASES])
def test_planted_bug_is_named_first(cls, cfg, suspect):
    # relu'(0) only matters where a pre-activation is exactly 0: all-zero weights and inputs.
    kw = dict(weight_scale=0.0, zero_weights=True, zero_inputs=True) if "relu" in suspect else {}
    d = _diagnose(cls, cfg, **kw)
    assert d.suspects, d.render()
    assert d.suspects[0].name.startswith(suspect), d.render()


@pytest.mark.parametrize("cls, cfg, kw, suspect", REAL_CODE_CASES,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(REAL_CODE_CASES)])
def test_real_code_mistake_is_named_first(cls, cfg, kw, suspect):
    d = _diagnose(cls, cfg, **kw)
    assert d.suspects and d.suspects[0].name == suspect, d.render()


def test_averaged_gradients_point_to_reduction_mean():
    d = _diagnose(bugs.MeanOverBatch, SQUARE)
    assert "--reduction mean" in d.suspects[0].equation and "divided every parameter gradient by 3" in d.suspects[0].equation
    # ... and the same implementation declared with --reduction mean passes; the opposite
    # mistake (sums under --reduction mean) is named with its factor.
    from parity_tests.core.contract import with_reduction
    from parity_tests.planted.concat_rnn import ConcatRNN

    assert not _diagnose(with_reduction(bugs.MeanOverBatch, "mean"), SQUARE).bad
    d = _diagnose(with_reduction(ConcatRNN, "mean"), SQUARE)
    assert d.suspects[0].name.startswith("weight gradients summed over the batch though --reduction mean"), d.render()


# -- the cell (issue 11, section 3): the same localization and suspects as a layer ----------
CELL = CellConfig(3, 3, batch=3)
CELL_CASES = [
    (bugs.SwappedCell, {}, "dx and dh_prev computed with each other's weight",
     "dx = da W_ih and dh = da W_hh both differ (and the bias gradient sum_b da matches)"),
    (bugs.CellTanhDerivativeOfH, {}, "wrong activation derivative (taken at the output, not the pre-activation)",
     "the bias gradient sum_b da differs too: da = d_h_next * phi'(a), which they share, is wrong"),
    (bugs.CellTransposedWeightIH, {}, "transposed gradient (grad weight_ih)", "dx and dh match, so da is right"),
    (bugs.CellDxWithWhh, {}, "dx computed with W_hh instead of W_ih",
     "dh = da W_hh matches, so da = d_h_next * phi'(a) is right"),
    (bugs.CellDhZeroed, {}, "dh not propagated to the initial state (returned as zero)",
     "dx = da W_ih matches, so da = d_h_next * phi'(a) is right"),
    (bugs.CellMeanOverBatch, {}, "weight gradients averaged over the batch (divided by the batch size B = 3)",
     "yet the bias gradient, sum_b da, differs"),
    (bugs.CellClipped, dict(grad_scale=100.0), "gradients clipped to [-5, 5] (parameter gradients)",
     "dx and dh match, so da is right"),
]


@pytest.mark.parametrize("cls, kw, suspect, where", CELL_CASES, ids=[c[0].__name__ for c in CELL_CASES])
def test_cell_bug_is_localized_and_named_first(cls, kw, suspect, where):
    d = _diagnose(cls, CELL, **kw)
    assert d.suspects and d.suspects[0].name == suspect, d.render()
    assert where in d.backward, d.render()
    assert d.forward is None


@pytest.mark.parametrize("cls, words", [
    (bugs.CellForwardOneBias, "with x = 0 and h = 0, h_next = phi(b_ih + b_hh) already differs"),
    (type("CellInputTermTransposed", (ColumnCell,), {"forward": lambda self, x, h=None: ColumnCell.forward(
        self, x @ np.eye(x.shape[1])[::-1], h)}), "with h = 0 it differs; with x = 0 it matches: the input term"),
], ids=["one_bias", "input_term"])
def test_cell_forward_is_localized_to_a_term(cls, words):
    d = _diagnose(cls, CELL)
    assert words in d.forward, d.render()
    assert d.backward.startswith("not localized: the forward pass already differs")


def test_cell_forward_bias_suspect_and_cell_failure_message():
    d = _diagnose(bugs.CellForwardOneBias, CELL)
    assert d.suspects[0].name == "forward with one bias (bias_ih only, not bias_ih + bias_hh)", d.render()
    with pytest.raises(ParityMismatch) as info:
        assert_parity(bugs.CellDxWithWhh, Case(CELL, seed=11))
    text = str(info.value)
    assert "backward: dh = da W_hh matches" in text and "dx computed with W_hh instead of W_ih" in text


# -- a wrong suspect is worse than none ----------------------------------------------------
@pytest.mark.parametrize("cls", VARIANTS, ids=lambda c: c.__name__)
def test_correct_variants_get_no_suspect(cls):
    """Correct implementations with other arithmetic: the suspects' alternatives all differ
    from torch, so none may match numbers that agree with torch (here forced through the
    suspects on a generic case, as if the case had failed)."""
    for cfg in (RNNConfig(3, 3, seq_len=5, batch=3), RNNConfig(2, 3, num_layers=2, bidirectional=True,
                                                              batch_first=True, seq_len=4, batch=3)):
        probe = Probe(cls, run_both(cls, Case(cfg, seed=5)))
        assert not [s.name for s in suspects(probe)]


LEARNERS = [
    # dnext_h * (1 - prev_h**2): no modeled mistake, so none
    (cs231n_rnn_prev_h, "cs231n", None),
    # rnn_step_backward(dh[:, t], ...): not carried back, dh0 from step 0 (issue 10's open point)
    (cs231n_rnn_not_carried, "cs231n", "missing contribution from later time steps (dh0 from step 0 alone, the CS231n form)"),
    # dWaa paired with a_next
    (dlai_rnn_buggy, "columns", "previous hidden state off by one step"),
]


@pytest.mark.parametrize("module, convention, suspect", LEARNERS, ids=["cs231n_prev_h", "cs231n_not_carried", "dlai_dWaa_a_next"])
def test_learners_bugs_get_the_right_suspect_or_none(module, convention, suspect):
    """The learners' buggy modules (public code's mistakes, in their own conventions)."""
    d = _diagnose(adapt(module, convention), RNNConfig(3, 3, seq_len=5, batch=3))
    assert d.bad and [s.name for s in d.suspects] == ([suspect] if suspect else []), d.render()


class TwoMistakes(bugs.TanhDerivativeOfH, bugs.MultipliedOverTime):
    """Two planted mistakes at once (like seed 003's posted backward): no single suspect
    explains them, so none may be named."""


class TruncatedAndClipped(bugs.TruncatedWindow4, bugs.ClippedGradients1):
    """Truncated every 4 steps AND clipped to [-1, 1]: each suspect alone explains neither."""


@pytest.mark.parametrize("cls, cfg", [
    (TwoMistakes, SQUARE),
    (bugs.LowerLayersShareH0, RNNConfig(3, 3, num_layers=2, seq_len=5, batch=3)),  # a forward mistake
    # a mistake in a lower layer's reverse output: the suspect models the last layer's only
    (bugs.ReverseOutputNotReReversed, RNNConfig(3, 3, num_layers=2, bidirectional=True, seq_len=5, batch=3)),
    (TruncatedAndClipped, RNNConfig(3, 6, seq_len=12, batch=3)),
], ids=["two_mistakes", "forward_mistake", "lower_reverse_output", "truncated_and_clipped"])
def test_a_mistake_no_suspect_models_gets_none(cls, cfg):
    """A wrong suspect is worse than none: the suspects' matching rule must not be loose
    enough to pin a mistake on the nearest classic."""
    d = _diagnose(cls, cfg, **(dict(weight_scale=2.5, grad_scale=100.0) if cls is TruncatedAndClipped else {}))
    assert d.bad and not d.suspects, d.render()
    assert "suspects: none of the known single mistakes" in d.render()


def test_forward_divergence_is_located_in_a_lower_layer():
    d = _diagnose(bugs.LowerLayersShareH0, RNNConfig(3, 3, num_layers=3, seq_len=5, batch=3))
    assert d.forward.startswith("hidden states first diverge at layer 1, forward direction, time step 0"), d.render()
    assert d.backward.startswith("not localized: the forward pass already differs")


def test_forward_divergence_is_located_in_the_reverse_direction():
    d = _diagnose(bugs.ReverseOutputNotReReversed, RNNConfig(3, 3, bidirectional=True, seq_len=5, batch=3))
    assert "reverse direction first diverges at time step 4 (its processing step 0" in d.forward, d.render()
    assert d.bad == ["output"]


def test_backward_says_the_gradient_is_not_carried_back():
    d = _diagnose(bugs.NotCarriedThroughTime, SQUARE)
    assert "dx matches for the last step only: the gradient is not carried back through time" in d.backward


def test_backward_says_weight_gradients_are_wrong_while_the_flow_is_right():
    d = _diagnose(bugs.HiddenStateOffByOne, SQUARE)
    assert "dx is right at every step" in d.backward and "grad weight_hh_l0 differs" in d.backward


def test_failure_message_carries_the_diagnosis():
    with pytest.raises(ParityMismatch) as info:
        assert_parity(bugs.TanhDerivativeOfH, Case(SQUARE, seed=11))
    text = str(info.value)
    assert "Diagnosis:" in text and "wrong activation derivative (taken at the output" in text


def test_plot_is_produced_headless(tmp_path):
    from parity_tests.tools.plots import plot_parity

    path = tmp_path / "parity.png"
    comparisons = plot_parity(bugs.NotCarriedThroughTime, Case(SQUARE, seed=11), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000
    assert any(not c.passed for c in comparisons)


def test_report_writes_json_with_diagnosis_and_plot(tmp_path, capsys):
    import json

    from parity_tests.tools.report import main

    js, png = tmp_path / "r.json", tmp_path / "r.png"
    rc = main(["--rnn-impl", "parity_tests.planted.bugs:HiddenStateOffByOne", "--json", str(js), "--plot", str(png)])
    assert rc == 1 and (tmp_path / "r_rnn.png").stat().st_size > 20_000 and not png.exists()
    data = json.loads(js.read_text())
    first = data["rows"][0]
    assert first["verdict"] == "fail" and "previous hidden state off by one step" in first["diagnosis"]
    assert first["suspects"][0]["name"] == "previous hidden state off by one step"
    assert {t["name"] for t in first["tensors"] if not t["ok"]} == {"grad weight_hh_l0"}
    assert first["first_failure"]["tensor"] == "grad weight_hh_l0"
    assert "Diagnosis:" in capsys.readouterr().out


def test_parity_json_option_records_every_case(tmp_path):
    import json

    from parity_tests.meta_tests._subprocess import run_pytest

    path = tmp_path / "parity.json"
    proc = run_pytest("parity_tests/tests/test_parity.py", "-k", "tanh_basic", "--parity-json", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(path.read_text())
    assert data["counts"]["passed"] >= 30 and data["counts"]["failed"] == 0
    assert data["rows"][0]["tensors"][0]["name"] == "output" and data["rows"][0]["name"] == "tanh_basic"
