"""A plug-in that breaks the contract gets a message naming what is wrong; one that
declines a configuration with NotImplementedError has it reported as skipped."""

import pytest

from parity_tests.core.contract import ContractViolation, ImplementationError, load_impl
from parity_tests.families import row_by_name
from parity_tests.meta_tests._subprocess import run_pytest
from parity_tests.planted import broken
from parity_tests.properties import run_property

VIOLATIONS = [
    (broken.ForwardReturnsNone, "tanh_basic", r"ForwardReturnsNone\.forward must return a tuple \(output, h_n\), got None"),
    (broken.OutputTransposed, "tanh_basic", r"forward output must have shape \(\d+, \d+, \d+\), got"),
    (broken.MissingGradKey, "tanh_basic", r"\.grads \(after backward\) keys must be exactly torch's parameter names; missing \['weight_hh_l0'\]"),
    (broken.BackwardReturnsNone, "tanh_basic", r"\.backward must return a tuple \(dx, dh0\), got None"),
    (broken.WritesIntoInput, "tanh_basic", r"WritesIntoInput\.forward modified its argument x in place"),
    (broken.UpcastsToFloat64, "float32", r"has dtype float64, but the inputs were float32"),
    (broken.WrongParamNames, "tanh_basic", r"\.params \(after construction\) keys .* missing \['weight_hh_l0'\], unexpected \['weight_rec_l0'\]"),
]
# A plug-in that raises (anything but NotImplementedError) fails that case with the
# exception's type, message and the line that raised it: never a crash of the harness.
RAISES = [
    (broken.RejectsBatchFirstKeyword, r"RejectsBatchFirstKeyword\(.*\) raised TypeError: .*batch_first"),
    (broken.ForwardRaises, r"ForwardRaises\.forward raised ZeroDivisionError: .* \(at broken\.py:\d+, in forward\)"),
    (broken.BackwardRaises, r"BackwardRaises\.backward raised KeyError: .* \(at broken\.py:\d+, in backward\)"),
]


@pytest.mark.parametrize("cls, row, message", VIOLATIONS, ids=[v[0].__name__ for v in VIOLATIONS])
def test_contract_violation_is_named(cls, row, message):
    with pytest.raises(ContractViolation, match=message):
        run_property(cls, row_by_name(row))


@pytest.mark.parametrize("cls, message", RAISES, ids=[v[0].__name__ for v in RAISES])
def test_an_exception_in_the_plugin_is_that_case_failing(cls, message):
    with pytest.raises(ImplementationError, match=message):
        run_property(cls, row_by_name("tanh_basic"))


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
    assert "test_parity[anything]" in out.split("declined (not tested)")[1]


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
