"""dtype is reported, and never hides the numerics (issue 11, section 1).

A plug-in that returns another dtype than its inputs' still has its values compared, each
against the budget of the precision the case asked for:

* upcast (``np.zeros`` buffers: float32 in, float64 out, correct math): passes, with a
  ``DtypeWarning`` naming the tensor and both dtypes; fails with ``--strict-dtype``;
* downcast (``dtype='f'`` hard-coded: float64 in, float32 arithmetic): fails on its values,
  the message saying the precision is float32's;
* the harness's own classes, and a class the library is called with directly, run strict.

The mismatch has its own line in the failure message, its own column in the report and its
own field in the JSON. End to end: a user project whose pytest configuration says
``filterwarnings = error`` shows the warning and passes (the plugin's filter), and fails
with ``--strict-dtype``, through pytest and ``rnn-parity check``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from parity_tests.core.cases import Case
from parity_tests.core.compare import causal_order_line, compare
from parity_tests.core.contract import ContractViolation, impl_name, load_impl
from parity_tests.core.dtypes import (DtypeWarning, STRICT_FLAG, WARNING_FILTER, dtype_flag, strict_dtype,
                                      with_dtype_policy)
from parity_tests.core.messages import ParityMismatch, case_record, json_document
from parity_tests.core.runs import comparisons as run_comparisons
from parity_tests.families import CATALOG, row_by_name
from parity_tests.options import option_specs, resolve
from parity_tests.planted import dtype_impls
from parity_tests.planted.dtype_impls import Float32Cell, Float32RNN, ZerosCell, ZerosRNN
from parity_tests.properties import assert_parity, run_property
from parity_tests.tools.report import report_cases, run_report

BIN = Path(sys.executable).parent
ZEROS = "parity_tests.planted.dtype_impls:ZerosRNN"


def lenient(cls):
    """``cls`` as a plug-in given without --strict-dtype."""
    return with_dtype_policy(cls, False)


def strict(cls):
    """``cls`` as a plug-in given with --strict-dtype."""
    return with_dtype_policy(cls, True)


def first_case(row: str, **changes) -> Case:
    from dataclasses import replace

    case = report_cases(row_by_name(row), 0)[0]
    return replace(case, config=replace(case.config, **changes)) if changes else case


# ---------------------------------------------------------------------------------------
# Upcast: right values in float64 for a float32 case pass, with a warning.
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls, rows", [(ZerosRNN, ["float32", "anything"]), (ZerosCell, ["cell_float32", "cell_anything"])],
                         ids=["rnn", "cell"])
def test_an_upcast_with_right_values_passes_with_a_warning(cls, rows):
    """Every example of the float32 row (and of the row that draws everything, float64
    cases included) passes; the warning names the implementation, the tensor and both
    dtypes."""
    first = "output" if cls is ZerosRNN else "h_next"
    for row in rows:
        with pytest.warns(DtypeWarning) as caught:
            ran, declined = run_property(lenient(cls), row_by_name(row))
        assert ran > 0 and not declined
        texts = {str(w.message) for w in caught if issubclass(w.category, DtypeWarning)}
        assert texts == {
            f"{impl_name(cls)}: every tensor ({first} first) returned as float64, but its inputs were float32; "
            f"the values were compared against float32's budget. Return arrays of the input's dtype (the "
            f"contract), or pass --strict-dtype to make a dtype mismatch a failure"
        }


def test_an_upcast_is_judged_against_the_float32_budget():
    """The values of the float64 result are compared at float32's budget (1000 eps of
    float32), not float64's: the budget follows what was asked for."""
    cs = run_comparisons(lenient(ZerosRNN), first_case("float32"), warn=False)
    assert all(c.within_tolerance and c.passed for c in cs)
    assert {(c.dtype, c.requested_dtype) for c in cs} == {("float64", "float32")}
    assert all(c.rtol == 1000 * float(np.finfo(np.float32).eps) for c in cs)
    assert all(not c.dtype_ok for c in cs)


def test_a_float64_case_of_the_upcasting_class_has_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning here fails the test
        cs = assert_parity(lenient(ZerosRNN), first_case("bidirectional"))
    assert all(c.dtype_ok for c in cs)


# ---------------------------------------------------------------------------------------
# --strict-dtype, and the harness's own classes: a dtype mismatch fails.
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [strict(ZerosRNN), ZerosRNN], ids=["--strict-dtype", "called directly"])
def test_strict_dtype_fails_the_upcast_with_its_own_line(cls):
    with pytest.raises(ParityMismatch) as info:
        assert_parity(cls, first_case("float32"))
    text = str(info.value)
    name = impl_name(ZerosRNN)
    assert text.splitlines()[0] == (f"output of {name} is float64, but the case's inputs are float32: only the "
                                    f"dtype differs (every value is within float32's budget)")
    assert ("Dtype mismatch: every tensor (output first) returned as float64, but the case's inputs are float32 "
            "(values judged against float32's budget; the mismatch is a failure under the strict dtype policy "
            "(--strict-dtype; always for the harness's own classes))") in text.splitlines()
    assert "Causal order: output ok (float64), h_n ok (float64), dx ok (float64)" in text
    assert "Diagnosis" not in text  # nothing numerical to localize
    # The repro line reproduces the same verdict: it carries --strict-dtype when that was given.
    repro = next(line for line in text.splitlines() if "rnn-parity repro" in line)
    assert (f"--rnn-impl {name} --strict-dtype " in repro) == (cls is not ZerosRNN)


def test_strict_dtype_fails_a_whole_row():
    with pytest.raises(ParityMismatch, match="only the dtype differs"):
        run_property(strict(ZerosCell), row_by_name("cell_float32"))


def test_the_default_classes_run_strict_and_plugins_warn():
    """No plug-in option: the project's own classes, strict. A plug-in: lenient, strict with
    --strict-dtype. The user's class itself is never modified."""
    values = {flags[0]: kwargs.get("default") for flags, kwargs in option_specs()}
    assert values["--strict-dtype"] is False
    defaults = resolve(values)
    assert all(strict_dtype(cls) and dtype_flag(cls) == "" for cls in defaults.values())
    plugin = resolve({**values, "--rnn-impl": ZEROS})["rnn"]
    assert not strict_dtype(plugin) and impl_name(plugin) == ZEROS and issubclass(plugin, ZerosRNN)
    assert strict_dtype(resolve({**values, "--rnn-impl": ZEROS, "--strict-dtype": True})["rnn"])
    assert dtype_flag(resolve({**values, "--rnn-impl": ZEROS, "--strict-dtype": True})["rnn"]) == STRICT_FLAG
    assert strict_dtype(resolve({**values, "--rnn-impl": ZEROS})["rnn_cell"])  # the default cell
    assert strict_dtype(ZerosRNN) and not hasattr(ZerosRNN, "_rnn_parity_strict_dtype")


# ---------------------------------------------------------------------------------------
# Downcast: float32 arithmetic for a float64 case fails on its values, said as precision.
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls, row, first", [(Float32RNN, "tanh_basic", "output"), (Float32Cell, "cell_tanh", "h_next")],
                         ids=["rnn", "cell"])
def test_a_downcast_fails_on_its_values_and_says_float32_precision(cls, row, first):
    with pytest.warns(DtypeWarning, match=f"{first} first\\) returned as float32, but its inputs were float64"):
        with pytest.raises(ParityMismatch) as info:
            run_property(lenient(cls), row_by_name(row))
    exc = info.value
    # Shrunk by hypothesis, the first tensor that differs need not be the first returned (a
    # shrunk forward may be exact in float32): whichever it is, it is float32 and said so.
    bad = [c for c in exc.comparisons if not c.within_tolerance]
    assert bad and all(c.dtype == "float32" and c.requested_dtype == "float64" for c in exc.comparisons)
    lines = str(exc).splitlines()
    torch_name = "torch.nn.RNN" if cls is Float32RNN else "torch.nn.RNNCell"
    assert lines[0] == f"{bad[0].tensor} of {impl_name(cls)} differs from {torch_name}"
    precision = next(line for line in lines if line.startswith("Precision:"))
    assert precision.startswith(f"Precision: {bad[0].tensor} came back as float32, so its precision is float32's "
                                "(eps 1.19e-07), not the float64 the case asked for (eps 2.22e-16, the budget's unit)")
    assert precision.endswith("the size of float32 rounding: compute in the dtype you are given")
    assert any(line.startswith("Dtype mismatch: every tensor") and "returned as float32" in line for line in lines)


def test_a_downcast_of_a_float32_case_is_the_contract():
    """dtype='f' on float32 input is exactly what was asked for: no warning, a pass."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ran, _ = run_property(lenient(Float32RNN), row_by_name("float32"))
    assert ran > 0


def test_the_precision_note_only_for_a_coarser_dtype():
    e = np.linspace(-1, 1, 12)
    coarse = compare("output", e.astype(np.float32), e, dtype=np.float64)
    assert not coarse.passed and "precision is float32's" in __import__(
        "parity_tests.core.compare", fromlist=["x"]).format_comparison(coarse)
    finer = compare("output", e, e.astype(np.float32), dtype=np.float32)
    assert finer.passed and not finer.dtype_ok
    from parity_tests.core.compare import format_comparison, precision_note

    assert precision_note(finer) == "" and "Precision" not in format_comparison(finer)
    # strict_dtype: the dtype fails the tensor, its values are still judged and recorded.
    e32 = e.astype(np.float32)
    s = compare("output", e32.astype(np.float64), e32, dtype=np.float32, strict_dtype=True)
    assert not s.passed and s.within_tolerance and s.max_abs == 0
    assert causal_order_line([s, coarse]) == "Causal order: output ok (float64), output DIFFERS (float32)"


# ---------------------------------------------------------------------------------------
# Report column, JSON field.
# ---------------------------------------------------------------------------------------
def _report(impls, family):
    printed: list[str] = []
    counts, records, _ = run_report(impls, [family], out=printed.append, diagnose_failures=False)
    return counts, records, "\n".join(printed).splitlines()


def test_the_report_has_a_dtype_column_and_counts_the_mismatch():
    counts, records, lines = _report({"rnn_cell": lenient(ZerosCell)}, "rnn_cell")
    assert counts["failed"] == counts["contract"] == 0 and counts["passed"] > 0 and counts["dtype"] == 1
    header = next(line for line in lines if "max abs err" in line)
    assert header.split()[-2:] == ["dtype", "result"]
    h_next = [line for line in lines if line.strip().startswith("h_next")]
    assert any(line.endswith(" float64!  pass (dtype warning)") for line in h_next)  # the float32 case
    assert any(line.endswith(" float64  pass") for line in h_next)  # a float64 case: no mark
    assert any(line.strip().startswith("Dtype mismatch: every tensor (h_next first) returned as float64") for line in lines)
    assert "1 returned a tensor in another dtype than the inputs' (a warning; --strict-dtype makes it a failure)" in lines
    record = next(r for r in records if r["dtype"]["mismatches"])
    assert record["verdict"] == "pass" and record["dtype"]["requested"] == "float32" and not record["dtype"]["strict"]

    counts, records, lines = _report({"rnn_cell": strict(ZerosCell)}, "rnn_cell")
    assert counts["failed"] == 1 and counts["dtype"] == 1
    assert any(line.endswith("float64!  FAIL (dtype)") for line in lines)
    assert any("returned in another dtype than the inputs' (values within tolerance)" in line for line in lines)


def test_the_json_record_has_the_dtype_field():
    case = first_case("float32")
    cs = run_comparisons(lenient(ZerosRNN), case, warn=False)
    record = case_record(lenient(ZerosRNN), case, cs, row="float32")
    json.dumps(record)  # JSON-able
    assert record["verdict"] == "pass" and record["first_failure"] is None
    assert record["dtype"] == {"requested": "float32", "strict": False,
                               "mismatches": [{"tensor": c.tensor, "returned": "float64"} for c in cs]}
    assert all(t["dtype"] == "float64" and t["within_tolerance"] and t["ok"] for t in record["tensors"])

    strict_record = case_record(strict(ZerosRNN), case, run_comparisons(strict(ZerosRNN), case))
    assert strict_record["verdict"] == "fail" and strict_record["dtype"]["strict"]
    assert strict_record["first_failure"]["tensor"] == "output" and strict_record["first_failure"]["cause"] == "dtype"

    down = first_case("tanh_basic")
    down_record = case_record(lenient(Float32RNN), down, run_comparisons(lenient(Float32RNN), down, warn=False))
    assert down_record["verdict"] == "fail" and down_record["first_failure"]["cause"] == "values"
    assert down_record["dtype"]["requested"] == "float64" and down_record["dtype"]["mismatches"][0] == {
        "tensor": "output", "returned": "float32"}

    same = case_record(ZerosRNN, down, run_comparisons(ZerosRNN, down))
    assert same["dtype"] == {"requested": "float64", "strict": True, "mismatches": []}
    declined = case_record(ZerosRNN, down, verdict="declined", reason="no")
    assert declined["dtype"] is None
    doc = json_document([record, strict_record, same, declined], source="pytest")
    assert doc["schema_version"] == 1
    assert doc["counts"] == {"passed": 2, "failed": 1, "declined": 1, "contract": 0}  # verdicts, as before
    assert doc["dtype_mismatches"] == 2


# ---------------------------------------------------------------------------------------
# The contract around it still holds.
# ---------------------------------------------------------------------------------------
class IntegerOutput(ZerosRNN):
    def forward(self, x, h0=None):
        out, h_n = super().forward(x, h0)
        return np.rint(out).astype(np.int64), h_n


class ZerosRNNWritesIntoInput(ZerosRNN):
    def forward(self, x, h0=None):
        result = super().forward(x, h0)
        x *= 2.0
        return result


def test_an_array_that_is_not_floating_point_is_a_contract_violation():
    with pytest.raises(ContractViolation, match=r"IntegerOutput: forward output has dtype int64, but the inputs were "
                                                r"float32: return floating-point arrays"):
        assert_parity(lenient(IntegerOutput), first_case("float32"))


def test_the_other_contract_checks_still_apply_to_another_dtype():
    with pytest.raises(ContractViolation, match=r"ZerosRNNWritesIntoInput\.forward modified its argument x in place"):
        assert_parity(lenient(ZerosRNNWritesIntoInput), first_case("float32"))


def test_the_planted_module_is_importable_by_name():
    assert load_impl(ZEROS) is dtype_impls.ZerosRNN


# ---------------------------------------------------------------------------------------
# The option, the warning filter, the command line.
# ---------------------------------------------------------------------------------------
def test_the_plugin_shows_the_warning_even_under_filterwarnings_error(pytestconfig):
    """This repository's own configuration says "error"; the plugin's entry comes after it,
    so it wins for DtypeWarning only."""
    lines = pytestconfig.getini("filterwarnings")
    assert "error" in lines and WARNING_FILTER in lines
    assert lines.index(WARNING_FILTER) > lines.index("error")
    assert WARNING_FILTER == "default::parity_tests.core.dtypes.DtypeWarning"
    with pytest.warns(DtypeWarning):  # emitted, and not raised as an error
        run_comparisons(lenient(ZerosCell), first_case("cell_float32"))


def test_the_option_is_declared_for_pytest_and_every_command(pytestconfig):
    assert pytestconfig.getoption("--strict-dtype") is False
    from parity_tests.cli import check_parser
    from parity_tests.tools import report, repro

    for parser in (check_parser(), report.build_parser()):
        assert parser.parse_args(["--strict-dtype"]).strict_dtype is True
        assert parser.parse_args([]).strict_dtype is False
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        repro.main(["--help"])
    assert "--strict-dtype" in out.getvalue()


def test_rnn_parity_check_passes_the_switch_to_pytest(monkeypatch):
    from parity_tests import cli

    seen = []
    monkeypatch.setattr(pytest, "main", lambda args: seen.append(args) or 0)
    assert cli.check(["--rnn-impl", ZEROS, "--strict-dtype"]) == 0
    assert cli.check(["--rnn-impl", ZEROS]) == 0
    strict_args, lenient_args = seen
    assert "--strict-dtype" in strict_args and False not in strict_args and True not in strict_args
    assert "--strict-dtype" not in lenient_args and False not in lenient_args


def test_repro_follows_the_policy(capsys):
    from parity_tests.tools import repro

    case = repr(first_case("float32"))
    with pytest.warns(DtypeWarning):
        assert repro.main(["--rnn-impl", ZEROS, case]) == 0
    out = capsys.readouterr().out
    assert "parity: every tensor within tolerance" in out and "Dtype mismatch:" in out and "float64!" in out
    assert repro.main(["--rnn-impl", ZEROS, "--strict-dtype", case]) == 1
    out = capsys.readouterr().out
    assert "only the dtype differs" in out and "--strict-dtype" in out


# ---------------------------------------------------------------------------------------
# End to end: a user's project that turns warnings into errors.
# ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def user_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("dtype_user_project")
    (d / "pytest.ini").write_text("[pytest]\nfilterwarnings =\n    error\n")
    (d / "my_rnn.py").write_text("from parity_tests.planted.dtype_impls import ZerosRNN\n\n\n"
                                 "class MyRNN(ZerosRNN):\n    \"\"\"np.zeros buffers: float64 whatever the input.\"\"\"\n")
    return d


def _run(cmd, cwd):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST")}
    env.update(HYPOTHESIS_PROFILE="ci", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_end_to_end_a_warning_by_default_a_failure_with_strict_dtype(user_dir):
    base = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "--pyargs",
            "parity_tests.tests.test_parity", "--rnn-impl", "my_rnn:MyRNN", "-k", "float32"]
    proc = _run([*base, "--parity-json", str(user_dir / "out.json")], user_dir)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "1 passed" in out and "DtypeWarning: my_rnn:MyRNN: every tensor (output first) returned as float64, " \
                                 "but its inputs were float32" in out
    data = json.loads((user_dir / "out.json").read_text())
    assert data["counts"]["failed"] == 0 and data["dtype_mismatches"] == data["counts"]["passed"] > 0
    assert {r["dtype"]["requested"] for r in data["rows"]} == {"float32"}

    proc = _run([*base, "--strict-dtype"], user_dir)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "1 failed" in out and "output of my_rnn:MyRNN is float64, but the case's inputs are float32: only the " \
                                 "dtype differs" in out
    assert "rnn-parity repro --rnn-impl my_rnn:MyRNN --strict-dtype" in out
    assert "rnn-parity: --rnn-impl my_rnn:MyRNN" in out and ", --strict-dtype" in out  # the report header

    check = _run([str(BIN / "rnn-parity"), "check", "--rnn-impl", "my_rnn:MyRNN", "--strict-dtype", "--",
                  "-p", "no:xdist", "-k", "float32"], user_dir)
    assert check.returncode == 1, check.stdout + check.stderr
    assert "only the dtype differs" in check.stdout
