"""The harness tests itself: every planted bug is rejected, with the right tensor named;
correct implementations in other styles are accepted.

The planted bugs run through exactly the property the parity suite runs
(``parity_tests.properties``), on the table row whose configurations expose them.
"""

from fnmatch import fnmatch

import pytest
from hypothesis import settings

from parity_tests.meta_tests._subprocess import run_pytest
from parity_tests.core.messages import ParityMismatch
from parity_tests.families import ROWS, row_by_name
from parity_tests.planted.bugs import NO_SUSPECT, PLANTED
from parity_tests.planted.concat_rnn import ColumnCell, ConcatRNN
from parity_tests.properties import run_property

CORRECT = {"rnn": ConcatRNN, "rnn_cell": ColumnCell}


@pytest.mark.parametrize("planted", PLANTED, ids=lambda p: p.cls.__name__)
def test_planted_bug_is_rejected(planted):
    # One failure is enough here; without this hypothesis may report several at once.
    # Derandomized, so the example (and the first tensor pinned in PLANTED) is the same in
    # every profile.
    with pytest.raises(ParityMismatch) as info:
        run_property(planted.cls, row_by_name(planted.row),
                     settings=settings(report_multiple_bugs=False, derandomize=True, database=None))
    assert info.value.failed[0] == planted.first, f"{planted.cls.__name__}: first differing tensor:\n{info.value}"
    # The harness must blame only tensors the bug can reach (never the forward pass for a
    # backward bug, only dW_hh for an off-by-one in dW_hh, ...).
    outside = [t for t in info.value.failed if not any(fnmatch(t, p) for p in planted.reach)]
    assert not outside, f"{planted.cls.__name__}: blamed {outside}, outside its reach {planted.reach}:\n{info.value}"
    # The diagnosis the user reads with that failure names the planted mistake FIRST (or,
    # for a mistake no suspect models, none: a wrong suspect is worse than none).
    if planted.suspect is not None:
        suspects = [s.name for s in info.value.diagnosis.suspects]
        if planted.suspect == NO_SUSPECT:
            assert not suspects, f"{planted.cls.__name__}: a suspect for a mistake none models:\n{info.value}"
        else:
            assert suspects and suspects[0].startswith(planted.suspect), (
                f"{planted.cls.__name__}: first suspect should be {planted.suspect!r}:\n{info.value}")


def test_every_planted_bug_pins_a_suspect():
    """Section 4 of issue 11: every planted bug says which suspect (or none) its diagnosis names."""
    assert all(p.suspect is not None for p in PLANTED), [p.cls.__name__ for p in PLANTED if p.suspect is None]


# The gated families' correct classes in other styles are planted/gated.py's, checked on
# every gated row by meta_tests/test_gated_planted.py.
@pytest.mark.parametrize("row", [r for r in ROWS if r.family in CORRECT], ids=lambda r: r.name)
def test_correct_other_style_implementation_is_accepted(row):
    ran, declined = run_property(CORRECT[row.family], row)
    assert ran > 0 and not declined


def test_cli_rejects_a_planted_bug_end_to_end():
    """`pytest --rnn-impl module:Class` runs the parity suite on that class and fails it."""
    proc = run_pytest(
        "parity_tests/tests/test_parity.py", "-k", "square_I_eq_H",
        "--rnn-impl", "parity_tests.planted.bugs:SwappedDxDhPrev",
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "dx of parity_tests.planted.bugs:SwappedDxDhPrev differs from torch.nn.RNN" in proc.stdout
    assert "To reproduce:" in proc.stdout


def test_cli_accepts_a_correct_plugin_end_to_end():
    proc = run_pytest(
        "parity_tests/tests/test_parity.py",
        "--rnn-impl", "parity_tests.planted.concat_rnn:ConcatRNN",
        "--cell-impl", "parity_tests.planted.concat_rnn:ColumnCell",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " passed" in proc.stdout and "skipped" not in proc.stdout
    assert "rnn-parity: --rnn-impl parity_tests.planted.concat_rnn:ConcatRNN" in proc.stdout


@pytest.mark.parametrize("planted", PLANTED, ids=lambda p: p.cls.__name__)
def test_the_report_rejects_what_the_suite_rejects(planted):
    """The report's representative configurations agree with the suite: every planted bug
    the suite rejects (above) fails at least one configuration of `rnn-parity report`."""
    from parity_tests.tools.report import run_report

    family = row_by_name(planted.row).family
    impls = {**CORRECT, family: planted.cls}
    counts, records, _ = run_report(impls, [family], out=lambda *a: None, diagnose_failures=False)
    assert counts["failed"] >= 1, f"{planted.cls.__name__} passed every report configuration"
    # (a swapped weight with I != H is also a wrong shape: a contract failure, exit 1 too)
    assert counts["declined"] == 0
