"""The harness rejects every planted gated bug, naming the right tensor first, and accepts
the correct gated classes written differently from scratch (``planted/gated.py``).

Each ``GATED_PLANTED`` entry runs through exactly what the parity suite runs on one case
(``properties.assert_parity``: contract-checked plug-in, torch float64, the tolerance rule,
causal order) on a fixed case: its family's base configuration (``GATED_BASE``: T = 3,
B = 2, I = 3 != H = 4, bias, states given, float64) with what the bug needs. The same
entries are checked against torch directly, without the harness, in
``test_gated_impl.py``; here the harness must agree.
"""

from __future__ import annotations

import pytest
from hypothesis import settings

from parity_tests.core.cases import Case
from parity_tests.core.family import flat
from parity_tests.core.messages import ParityMismatch
from parity_tests.families import FAMILIES, ROWS
from parity_tests.planted.gated import GATED_BASE, GATED_PLANTED, GRU, LSTM, GRUCell, LSTMCell
from parity_tests.properties import assert_parity, run_property
from parity_tests.meta_tests._subprocess import run_pytest

CORRECT = {"lstm": LSTM, "gru": GRU, "lstm_cell": LSTMCell, "gru_cell": GRUCell}


def _case(entry, seed=0):
    config = FAMILIES[entry.family].config_cls(**dict(GATED_BASE[entry.family], **entry.config))
    return Case(config, seed=seed)


@pytest.mark.parametrize("entry", GATED_PLANTED, ids=lambda e: e.name)
def test_planted_gated_bug_is_rejected_with_the_pinned_first_tensor(entry):
    for seed in (0, 1):
        case = _case(entry, seed)
        assert_parity(CORRECT[entry.family], case)  # the correct class passes the same case
        with pytest.raises(ParityMismatch) as info:
            assert_parity(entry.cls, case)
        assert info.value.failed[0] == entry.first, (
            f"{entry.name} ({entry.reason}): first differing tensor {info.value.failed[0]}, "
            f"pinned {entry.first}:\n{info.value}")
        # A backward bug must never be blamed on the forward pass.
        forward = flat(FAMILIES[entry.family].forward_returns)
        if entry.first not in forward:
            blamed = [t for t in info.value.failed if t in forward]
            assert not blamed, f"{entry.name}: a backward bug blamed on {blamed}:\n{info.value}"


GATED_ROWS = [row for row in ROWS if row.family in CORRECT]


@pytest.mark.parametrize("row", GATED_ROWS, ids=lambda r: r.name)
def test_correct_gated_class_written_differently_passes_every_row(row):
    ran, declined = run_property(CORRECT[row.family], row,
                                 settings=settings(max_examples=5, derandomize=True, database=None))
    assert ran > 0 and not declined


def test_the_report_header_names_the_labelings_the_plug_ins_are_checked_under():
    """--gate-order and --gru-update change what the class is compared as: the header says so
    (a newcomer could not tell from it whether they were applied)."""
    proc = run_pytest("parity_tests/tests/test_parity.py", "--co", "--gru-impl",
                      "parity_tests.planted.gated:GRUKerasComplement", "--gate-order", "zrh", "--gru-update", "complement")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    header = next(ln for ln in proc.stdout.splitlines() if ln.startswith("rnn-parity: "))
    assert header.startswith("rnn-parity: --gru-impl parity_tests.planted.gated:GRUKerasComplement, --gate-order zrh, "
                             "--gru-update complement, hypothesis profile ci"), header


def test_the_header_says_which_plug_ins_one_labeling_reaches():
    """One --gate-order / --gru-update serves every plug-in of its kind: checked together, a GRU
    layer and a GRUCell are both relabeled (a newcomer's torch-style cell failed every row
    beside a Keras-style layer, and nothing said the options reached it)."""
    proc = run_pytest("parity_tests/tests/test_parity.py", "--co", "--gru-impl",
                      "parity_tests.planted.gated:GRUKerasComplement", "--gru-cell-impl",
                      "parity_tests.planted.gated:GRUCell", "--gate-order", "keras", "--gru-update", "complement")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    header = next(ln for ln in proc.stdout.splitlines() if ln.startswith("rnn-parity: "))
    assert ("--gate-order keras (for --gru-impl and --gru-cell-impl), --gru-update complement (for --gru-impl and "
            "--gru-cell-impl), hypothesis profile ci") in header, header
