"""The parity properties, built per (implementation, table row).

``run_rnn_property(cls, row)`` builds a hypothesis test for the row's strategy, adds the
edge-case ``@example``s first, runs it under the active profile and returns
``(supported, declined)``: how many examples ran, and the reasons of the configurations the
implementation declined with NotImplementedError. A mismatch raises ``ParityMismatch``
(hypothesis shrinks it first); a broken contract raises ``ContractViolation``.
The parity tests and the planted-bug meta tests both run exactly this.
"""

from __future__ import annotations

from hypothesis import example, given

from .cases import Row
from .contract import Unsupported, impl_name
from .harness import assert_cell_parity, assert_rnn_parity
from .strategies import cell_cases, cell_edge_cases, rnn_cases, rnn_edge_cases


def _run(cls, row: Row, strategy, edge_cases, check, settings=None):
    supported, declined = [0], []

    def parity(case):
        __tracebackhide__ = True
        try:
            check(cls, case)
        except Unsupported as exc:
            declined.append(str(exc))
            return
        supported[0] += 1

    # Every (implementation, row) pair gets its own entry in hypothesis' example database
    # (the inner function's source is the same for all of them).
    parity._hypothesis_internal_add_digest = f"{impl_name(cls)}|{row.name}".encode()
    test = given(case=strategy)(parity)
    for case in reversed(edge_cases):
        test = example(case=case)(test)
    if settings is not None:
        test = settings(test)
    test()
    return supported[0], declined


def run_rnn_property(cls, row: Row, settings=None):
    return _run(cls, row, rnn_cases(**row.pins), rnn_edge_cases(row.pins), assert_rnn_parity, settings)


def run_cell_property(cls, row: Row, settings=None):
    return _run(cls, row, cell_cases(**row.pins), cell_edge_cases(row.pins), assert_cell_parity, settings)
