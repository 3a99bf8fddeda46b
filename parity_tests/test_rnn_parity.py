"""Parity of the RNN under test (``--rnn-impl``, default scratch:RNN) with torch.nn.RNN.

One parametrized property per row of ``RNN_ROWS`` (parity_tests/cases.py): hypothesis
draws the row's unpinned knobs, the edge cases run first as @examples, and every tensor
(output, h_n, dx, dh0, each parameter gradient) is compared in causal order.
"""

import pytest

from parity_tests.cases import CELL_ROWS, RNN_ROWS
from parity_tests.properties import run_cell_property, run_rnn_property


def _params(rows):
    return [
        pytest.param(
            row,
            id=row.name,
            marks=[pytest.mark.xfail(reason=row.known_deviation, strict=True)] if row.known_deviation else [],
        )
        for row in rows
    ]


def _finish(ran, declined, record_declined):
    record_declined(declined)
    if declined and not ran:
        pytest.skip(f"all {len(declined)} examples declined: " + "; ".join(dict.fromkeys(declined)))


@pytest.mark.parametrize("row", _params(RNN_ROWS))
def test_rnn_parity(rnn_impl, row, record_declined):
    _finish(*run_rnn_property(rnn_impl, row), record_declined)


@pytest.mark.parametrize("row", _params(CELL_ROWS))
def test_cell_parity(cell_impl, row, record_declined):
    _finish(*run_cell_property(cell_impl, row), record_declined)
