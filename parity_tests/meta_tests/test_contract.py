"""A plug-in that breaks the contract gets a message naming what is wrong; one that
declines a configuration with NotImplementedError has it reported as skipped. Hostile
plug-ins (a call that never returns, NaN, gradients that add up, returned views that change,
lists, a stale forward) get a message saying exactly that, not a confusing failure."""

import os
import re
import subprocess
import sys
import time

import pytest

from parity_tests.core.cases import Case
from parity_tests.core.contract import ContractViolation, ImplementationError, load_impl, time_limit
from parity_tests.families import row_by_name
from parity_tests.families.rnn import RNNConfig
from parity_tests.meta_tests._subprocess import ROOT, run_pytest
from parity_tests.planted import broken
from parity_tests.properties import assert_parity, run_property

VIOLATIONS = [
    (broken.ForwardReturnsNone, "tanh_basic", r"ForwardReturnsNone\.forward must return a tuple \(output, h_n\), got None"),
    (broken.OutputTransposed, "tanh_basic", r"forward output must have shape \(\d+, \d+, \d+\), got"),
    (broken.MissingGradKey, "tanh_basic", r"\.grads \(after backward\) keys must be exactly torch's parameter names; missing \['weight_hh_l0'\]"),
    (broken.BackwardReturnsNone, "tanh_basic", r"\.backward must return a tuple \(dx, dh0\), got None"),
    (broken.WritesIntoInput, "tanh_basic", r"WritesIntoInput\.forward modified its argument x in place"),
    (broken.WrongParamNames, "tanh_basic", r"\.params \(after construction\) keys .* missing \['weight_hh_l0'\], unexpected \['weight_rec_l0'\]"),
    # Hostile: what one forward and one backward would miss or misreport.
    (broken.AccumulatesGrads, "tanh_basic",
     r"AccumulatesGrads: grads accumulate across backward calls: after a second backward with the same upstream "
     r"gradients, \.grads\['\w+'\] is twice what the first backward left \(\d+ of \d+ elements differ"),
    (broken.OutputOverwrittenByBackward, "tanh_basic",
     r"OutputOverwrittenByBackward: the output returned by forward changed during backward \(\d+ of \d+ elements "
     r"differ, the greatest by .* at index \(\d+, \d+, \d+\) \(layer 0 \(last\), .*\)\): it is a view of state the "
     r"implementation writes to later; return a copy"),
    (broken.WritesIntoKeptInput, "tanh_basic",
     r"WritesIntoKeptInput\.backward modified the x given to an earlier forward call \(it kept a reference to it\) "
     r"in place \(\d+ of \d+ elements differ"),
    (broken.ReturnsLists, "tanh_basic",
     r"ReturnsLists: forward output must be a numpy array, got a list of \d+ lists; return one numpy array of "
     r"shape \(\d+, \d+, \d+\) \(np\.asarray\(\.\.\.\)\), not Python lists"),
    (broken.ReturnsTupleOfSteps, "tanh_basic",
     r"ReturnsTupleOfSteps: backward dx must be a numpy array, got a tuple of \d+ ndarrays; return one numpy array"),
    (broken.BackwardUsesFirstForward, "tanh_basic",
     r"BackwardUsesFirstForward\.backward does not use the most recent forward: after forward on other inputs and "
     r"then forward\(x, h0\), backward gave a different .* than after forward\(x, h0\) alone"),
    (broken.CarriesHiddenState, "h0_none",
     r"CarriesHiddenState\.forward depends on an earlier call: after forward on other inputs, forward\(x, h0\) "
     r"returned a different output than on a fresh instance .*\(h0=None means zeros, not the last call's h_n\)"),
]
# A plug-in that raises (anything but NotImplementedError) fails that case with the
# exception's type, message and the line that raised it: never a crash of the harness.
RAISES = [
    (broken.RejectsBatchFirstKeyword, r"RejectsBatchFirstKeyword\(.*\) raised TypeError: .*batch_first"),
    (broken.ForwardRaises, r"ForwardRaises\.forward raised ZeroDivisionError: .* \(at broken\.py:\d+, in forward\)"),
    (broken.BackwardRaises, r"BackwardRaises\.backward raised KeyError: .* \(at broken\.py:\d+, in backward\)"),
    # NaN or inf is said as such, with where it is, never as a tolerance miss.
    (broken.NaNInOutput, r"NaNInOutput: forward output contains NaN at index \(\d+, \d+, \d+\) \(layer 0 \(last\), "
                         r"forward direction, time step \d+, batch \d+, unit \d+\): 1 of \d+ elements are not finite "
                         r"\(1 NaN, 0 inf\), which no tolerance accepts"),
    (broken.InfInGrad, r"InfInGrad: \.grads\['weight_hh_l0'\] \(after backward\) contains inf at index \(0, \d+\) "
                       r"\(layer 0, forward direction, unit 0, from hidden unit \d+\): 1 of \d+ elements are not finite"),
]


@pytest.mark.parametrize("cls, row, message", VIOLATIONS, ids=[v[0].__name__ for v in VIOLATIONS])
def test_contract_violation_is_named(cls, row, message):
    with pytest.raises(ContractViolation, match=message):
        run_property(cls, row_by_name(row))


@pytest.mark.parametrize("cls, message", RAISES, ids=[v[0].__name__ for v in RAISES])
def test_an_exception_in_the_plugin_is_that_case_failing(cls, message):
    with pytest.raises(ImplementationError, match=message):
        run_property(cls, row_by_name("tanh_basic"))


# A call that does not return: stopped at the time limit (short here), naming the call, where
# it was interrupted and the configuration.
HANGS = [
    (broken.HangsInForward, r"HangsInForward\.forward did not return within 0\.3 s \(interrupted at broken\.py:\d+, "
                            r"in forward\) \(configuration: I=3 H=4 T=5 B=2, tanh, .*seed=7"),
    (broken.HangsInBackward, r"HangsInBackward\.backward did not return within 0\.3 s \(interrupted at broken\.py:\d+, "
                             r"in backward\) \(configuration: I=3 H=4 T=5 B=2, tanh, .*seed=7"),
]


@pytest.mark.parametrize("cls, message", HANGS, ids=[v[0].__name__ for v in HANGS])
def test_a_call_that_does_not_return_is_stopped_and_named(cls, message):
    case = Case(RNNConfig(3, 4, seq_len=5, batch=2), seed=7)
    start = time.monotonic()
    with time_limit(0.3), pytest.raises(ImplementationError, match=message):
        assert_parity(cls, case)
    assert time.monotonic() - start < 5


def test_the_time_limit_leaves_an_outer_alarm_armed():
    """pytest-timeout's signal method (or anyone's SIGALRM timer) keeps working around ours:
    its handler is put back and its timer re-armed with the time it has left."""
    import signal

    fired = []

    def outer(signum, frame):
        fired.append(True)

    saved_handler = signal.signal(signal.SIGALRM, outer)
    saved_timer = signal.setitimer(signal.ITIMER_REAL, 30)  # pytest-timeout's, if it is on
    try:
        with time_limit(5):
            assert_parity(broken.NoBidirectional, Case(RNNConfig(3, 4), seed=1))
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 20 < left <= 30 and not fired
        assert signal.getsignal(signal.SIGALRM) is outer
        with time_limit(60):  # the outer alarm is due first: ours is not set at all
            assert_parity(broken.NoBidirectional, Case(RNNConfig(3, 4), seed=1))
        assert signal.getsignal(signal.SIGALRM) is outer and not fired
    finally:
        signal.signal(signal.SIGALRM, saved_handler)
        signal.setitimer(signal.ITIMER_REAL, *saved_timer)


def test_a_hang_is_a_failure_under_xdist_and_in_the_report():
    """The limit comes from RNN_PARITY_CALL_TIMEOUT in every pytest-xdist worker (they inherit
    the environment) and in `rnn-parity report`; the failure names the call."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), HYPOTHESIS_PROFILE="ci", RNN_PARITY_CALL_TIMEOUT="0.3")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2", "parity_tests/tests/test_parity.py",
         "-k", "tanh_basic or h0_none", "--rnn-impl", "parity_tests.planted.broken:HangsInForward"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "2 failed" in out, out
    assert "HangsInForward.forward did not return within 0.3 s (interrupted at broken.py:" in out, out
    proc = subprocess.run(
        [sys.executable, "-m", "parity_tests.cli", "report", "--rnn-impl", "parity_tests.planted.broken:HangsInBackward"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "FAIL (the implementation raised): parity_tests.planted.broken:HangsInBackward.backward did not return " \
           "within 0.3 s (interrupted at broken.py:" in out, out
    assert re.search(r"^0 of (\d+) configurations pass, \1 fail", out, re.M), out


def test_declined_configuration_is_not_run_and_not_failed():
    ran, declined = run_property(broken.NoBidirectional, row_by_name("bidirectional"))
    assert ran == 0 and declined
    assert "bidirectional RNNs are not implemented yet" in declined[0]
    ran, declined = run_property(broken.NoBidirectional, row_by_name("anything"))
    assert ran > 0 and declined  # the unidirectional draws still run


def test_declined_configuration_is_reported_as_skipped_with_reason():
    proc = run_pytest(
        "parity_tests/tests/test_parity.py", "-rs", "-k", "bidirectional or tanh_basic or anything",
        "--rnn-impl", "parity_tests.planted.broken:NoBidirectional",
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "SKIPPED" in out and "bidirectional RNNs are not implemented yet" in out
    assert "configurations the implementation declined (not tested)" in out
    summary = out.split("declined (not tested)")[1]
    # the row that ran some examples says how many beside those it declined
    anything = next(ln for ln in summary.splitlines() if ln.startswith("parity_tests.tests.test_parity::test_parity[anything]"))
    n, total, checked = re.search(r": (\d+) of (\d+) examples declined, (\d+) checked: .*bidirectional", anything).groups()
    assert int(n) > 0 and int(checked) > 0 and int(n) + int(checked) == int(total), anything


@pytest.mark.parametrize(
    "spec, message",
    [
        ("scratch.RNN", r"must be given as 'module:Class'"),
        ("no_such_module_xyz:RNN", r"cannot import module 'no_such_module_xyz'"),
        ("rnn_parity.scratch:NoSuchClass", r"module 'rnn_parity.scratch' has no attribute 'NoSuchClass'"),
    ],
)
def test_load_impl_errors_are_clear(spec, message):
    with pytest.raises(ValueError, match=message):
        load_impl(spec)


def test_bad_impl_option_is_a_usage_error():
    proc = run_pytest("parity_tests/tests/test_parity.py", "--rnn-impl", "nope_module:X")
    assert proc.returncode == 4, proc.stdout + proc.stderr  # pytest's usage-error exit code
    assert "cannot import module 'nope_module'" in proc.stderr + proc.stdout


def test_convention_option_wraps_a_learner_end_to_end():
    proc = run_pytest(
        "parity_tests/tests/test_parity.py", "-k", "tanh_basic",
        "--rnn-impl", "parity_tests.learners.rows_rnn:RowsRNN003", "--convention", "rows",
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "RowsRNN003 --convention rows differs from torch.nn.RNN" in proc.stdout


def test_plugin_module_is_found_in_the_current_directory(tmp_path):
    """A user's module next to where they run pytest is found, with the `pytest` script
    (which, unlike `python -m pytest`, does not put the current directory on sys.path)."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from parity_tests.meta_tests._subprocess import ROOT

    (tmp_path / "my_rnn.py").write_text("from parity_tests.planted.concat_rnn import ConcatRNN as MyRNN\n")
    pytest_script = shutil.which("pytest", path=str(Path(sys.executable).parent)) or "pytest"
    env = dict(os.environ, PYTHONPATH=str(ROOT), HYPOTHESIS_PROFILE="ci")
    proc = subprocess.run(
        [pytest_script, "-p", "no:cacheprovider", "-p", "no:xdist", "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"),
         str(ROOT / "parity_tests" / "tests" / "test_parity.py"), "-k", "tanh_basic", "--rnn-impl", "my_rnn:MyRNN"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "rnn-parity: --rnn-impl my_rnn:MyRNN" in proc.stdout


# OpenBLAS's float32 sgemv_t warns "invalid value encountered in matmul" after some correct
# products (core/contract._SPURIOUS_FLOAT32): under filterwarnings = error it failed a correct
# column-major variant on a fresh clone. In float32 the values are judged, not that warning; a
# real invalid product still fails, on its NaN; in float64 the warning is still a finding.
@pytest.mark.parametrize("cls", [broken.SpuriousMatmulWarning, broken.SpuriousDotWarning], ids=["matmul", "dot"])
def test_openblas_spurious_matmul_warning_does_not_fail_a_correct_float32_plugin(cls):
    assert_parity(cls, Case(RNNConfig(3, 4, seq_len=5, batch=2, dtype="float32"), seed=7))


def test_a_real_invalid_product_still_fails_on_its_nan_and_float64_keeps_the_warning():
    with pytest.raises(ImplementationError, match=r"forward output contains NaN at index \(0, 0, 0\)"):
        assert_parity(broken.InvalidMatmulNaN, Case(RNNConfig(3, 4, seq_len=5, batch=2, dtype="float32"), seed=7))
    with pytest.raises(ImplementationError, match=r"raised RuntimeWarning: invalid value encountered in matmul"):
        assert_parity(broken.SpuriousMatmulWarning, Case(RNNConfig(3, 4, seq_len=5, batch=2), seed=7))
    with pytest.raises(ImplementationError, match=r"raised RuntimeWarning: invalid value encountered in dot"):
        assert_parity(broken.SpuriousDotWarning, Case(RNNConfig(3, 4, seq_len=5, batch=2), seed=7))


def test_declined_summary_says_the_shared_start_once_and_counts_each_ending():
    from parity_tests.core.messages import declined_summary

    reasons = ["X declined: single-layer; not supported: num_layers=2"] * 3 + \
              ["X declined: single-layer; not supported: bidirectional=True"] * 5
    line = declined_summary(reasons, 4)
    assert line == ("8 of 12 examples declined, 4 checked: X declined: single-layer; not supported: "
                    "bidirectional=True (5) | num_layers=2 (3)")
    assert declined_summary(["only one"], 0) == "1 of 1 examples declined, 0 checked: only one"
    many = [f"X declined: not supported: n={k}" for k in range(9)]
    assert declined_summary(many, 0, limit=2).endswith("n=0 (1) | n=1 (1) | and 7 more")


def test_a_constructor_without_the_contracts_arguments_is_pointed_at_the_conventions():
    from parity_tests.core.contract import ImplementationError, construct

    class BookLayer:  # ゼロから作るDeep Learning ❷'s shape of constructor
        def __init__(self, Wx, Wh, b, stateful=False):
            pass

    with pytest.raises(ImplementationError) as info:
        construct(BookLayer, dict(input_size=2, hidden_size=3))
    msg = str(info.value)
    assert "its constructor takes (Wx, Wh, b, stateful), not the contract's arguments" in msg
    assert "--convention dlfs2" in msg and "raise NotImplementedError" not in msg

    class Broken:  # takes the contract's arguments: an ordinary error keeps the usual advice
        def __init__(self, input_size, hidden_size):
            raise TypeError("oops")

    with pytest.raises(ImplementationError) as info:
        construct(Broken, dict(input_size=2, hidden_size=3))
    assert "raise NotImplementedError to declare" in str(info.value)
