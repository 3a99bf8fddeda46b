"""The diagnosis names the planted mistake, first; says where it goes wrong; and names no
suspect for a correct implementation.

Diagnosed on a fixed, generic case of the bug's configuration (random weights, T = 5,
B = 3), the way ``diagnose`` itself re-probes a shrunk failure.
"""

import pytest

from parity_tests.core.cases import Case
from parity_tests.core.messages import ParityMismatch
from parity_tests.core.runs import comparisons
from parity_tests.diagnosis import diagnose
from parity_tests.families.rnn import RNNConfig
from parity_tests.properties import assert_parity
from parity_tests.planted import bugs

SQUARE = RNNConfig(3, 3, seq_len=5, batch=3)

SUSPECT_CASES = [
    (bugs.TransposedWeightHHGrad, SQUARE, "transposed gradient (grad weight_hh_l0)"),
    (bugs.SwappedWeightGrads, SQUARE, "two gradients swapped (grad weight_ih_l0 <-> grad weight_hh_l0)"),
    (bugs.MeanOverBatch, SQUARE, "gradient scaled by the batch size"),
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


class TwoMistakes(bugs.TanhDerivativeOfH, bugs.MultipliedOverTime):
    """Two planted mistakes at once (like seed 003's posted backward): no single suspect
    explains them, so none may be named."""


@pytest.mark.parametrize("cls, cfg", [
    (TwoMistakes, SQUARE),
    (bugs.LowerLayersShareH0, RNNConfig(3, 3, num_layers=2, seq_len=5, batch=3)),  # a forward mistake
], ids=["two_mistakes", "forward_mistake"])
def test_a_mistake_no_suspect_models_gets_none(cls, cfg):
    """A wrong suspect is worse than none: the suspects' matching rule must not be loose
    enough to pin a mistake on the nearest classic."""
    d = _diagnose(cls, cfg)
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
    assert rc == 1 and png.stat().st_size > 20_000
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
