"""The parity property: both sides on a case, compared; on a mismatch, a message and a
diagnosis. Built per (implementation, table row) for every family alike.

``assert_parity(cls, case)`` checks one case. ``run_property(cls, row)`` builds a
hypothesis test for the row's strategy, adds the family's edge-case ``@example``s first,
runs it under the active profile and returns ``(supported, declined)``: how many examples
ran, and the reasons of the configurations the implementation declined with
NotImplementedError. A mismatch raises ``ParityMismatch`` (hypothesis shrinks it first); a
broken contract raises ``ContractViolation``. The parity tests, the planted-bug meta tests
and repro all run exactly this.
"""

from __future__ import annotations

import inspect

from hypothesis import example, given

from .core.contract import ContractViolation, Unsupported, impl_name
from .core.messages import ParityMismatch, case_record, failure_message
from .core.runs import comparisons as run_comparisons
from .core.strategies import cases
from .diagnosis import diagnose
from .families import FAMILIES

# ``pytest --parity-json PATH`` sets this to a list: every checked case is appended to it
# (pass or fail) as a JSON-able record, and the plugin writes the lot at the end.
RECORD: list | None = None


def assert_parity(cls, case, row: str | None = None) -> list:
    """Both sides on ``case``; raises ParityMismatch (with its diagnosis) on a mismatch."""
    __tracebackhide__ = True
    try:
        comparisons = run_comparisons(cls, case)
    except (Unsupported, ContractViolation) as exc:
        if RECORD is not None:
            verdict = "declined" if isinstance(exc, Unsupported) else "contract"
            RECORD.append(case_record(cls, case, verdict=verdict, reason=str(exc), row=row))
        raise
    failed = any(not c.passed for c in comparisons)
    error = None
    if failed:
        error = ParityMismatch(failure_message(cls, case, comparisons), comparisons,
                               lambda: diagnose(cls, case, comparisons))
    if RECORD is not None:
        RECORD.append(case_record(cls, case, comparisons, row=row))
    if error is not None:
        raise error
    return comparisons


def run_property(cls, row, settings=None):
    family = FAMILIES[row.family]
    supported, declined = [0], []

    def parity(case):
        __tracebackhide__ = True
        try:
            assert_parity(cls, case, row.name)
        except Unsupported as exc:
            declined.append(str(exc))
            return
        supported[0] += 1

    # Every (implementation, row) pair gets its own entry in hypothesis' example database.
    # The key is a digest of the test function's source and its signature (which hypothesis
    # reads so that decorators and post-hoc __signature__ count), and the source is the same
    # for every pair: so the pair is written into the signature, as its return annotation.
    parity.__signature__ = inspect.signature(parity).replace(return_annotation=f"{impl_name(cls)}|{row.name}")
    test = given(case=cases(family, **row.pins))(parity)
    for case in reversed(family.edge_cases(row.pins)):
        test = example(case=case)(test)
    if settings is not None:
        test = settings(test)
    test()
    return supported[0], declined
