"""Parity of the implementations under test (``--rnn-impl``, ``--cell-impl``; defaults
scratch:RNN, scratch:RNNCell) with torch.

One parametrized property per row of the table (``families.ROWS``, every family's rows):
hypothesis draws the row's unpinned knobs, the family's edge cases run first as @examples,
and every tensor (forward results, input gradients, each parameter gradient) is compared in
causal order.
"""

import pytest

from parity_tests.core.messages import declined_summary
from parity_tests.families import ROWS
from parity_tests.properties import run_property


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.name)
def test_parity(parity_impls, row, record_declined):
    ran, declined = run_property(parity_impls[row.family], row)
    record_declined(declined, checked=ran)
    if declined and not ran:
        pytest.skip(declined_summary(declined, 0))
