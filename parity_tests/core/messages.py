"""The one message builder: what a failure says, and the JSON record of a checked case.

The suite (``properties.assert_parity``), the report, repro and ``--parity-json`` all build
their text and records here, so they cannot disagree.
"""

from __future__ import annotations

import os
import shlex

from .compare import causal_order_line, format_comparison
from .contract import impl_name


def failure_message(cls, case, comparisons) -> str:
    """assert_close-style: the first differing tensor in causal order in detail, then the
    others, the causal-order line and how to reproduce."""
    fam = case.family
    failed = [c for c in comparisons if not c.passed]
    first = failed[0]
    lines = [
        f"{first.tensor} of {impl_name(cls)} differs from {fam.torch_name}",
        f"case: {case.describe()}",
        format_comparison(first),
    ]
    if failed[1:]:
        lines += ["Also differing:", *[f"  {c.tensor}: normwise error {c.normwise:.3g}, greatest at ({c.abs_where})"
                                       for c in failed[1:]]]
    lines += [causal_order_line(comparisons), reproduce_note(cls, case)]
    return "\n".join(lines)


def reproduce_note(cls, case) -> str:
    flag = case.family.option
    node = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]
    lines = ["To reproduce:"]
    if node:
        lines.append(f"  pytest {shlex.quote(node)} {flag} {impl_name(cls)}   (the ci profile is derandomized, dev replays .hypothesis/)")
    text = repr(case)
    quoted = f'"{text}"' if not set(text) & set('"$`\\!') else shlex.quote(text)
    lines.append(f"  python -m parity_tests.tools.repro {flag} {impl_name(cls)} {quoted}")
    return "\n".join(lines)


def case_record(cls, case, comparisons=None, *, verdict: str | None = None, reason: str | None = None,
                diagnosis=None) -> dict:
    """One checked case as a JSON-able dict (the same shape from the suite and the report)."""
    if verdict is None:
        verdict = "pass" if all(c.passed for c in comparisons) else "fail"
    record = {
        "test": os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0],
        "family": case.family.name,
        "implementation": impl_name(cls),
        "case": repr(case),
        "verdict": verdict,
        "comparisons": [c.as_dict() for c in comparisons or []],
    }
    if reason is not None:
        record["reason"] = reason
    if diagnosis is not None:
        record["diagnosis"] = diagnosis.render()
        record["suspects"] = diagnosis.as_dict()["suspects"]
    return record


class ParityMismatch(AssertionError):
    """The implementation's numbers differ from torch's beyond the tolerance.

    The message ends with a diagnosis (``parity_tests/diagnosis``). It is computed when the
    message is first read, not when the exception is raised: hypothesis raises many while
    it shrinks, and only the final one is shown.
    """

    def __init__(self, message: str, comparisons: list, diagnose=None):
        super().__init__(message)
        self.comparisons = comparisons
        self._diagnose, self._diagnosis = diagnose, None

    @property
    def failed(self) -> list[str]:
        return [c.tensor for c in self.comparisons if not c.passed]

    @property
    def diagnosis(self):
        if self._diagnosis is None and self._diagnose is not None:
            self._diagnosis = self._diagnose()
        return self._diagnosis

    def __str__(self) -> str:
        text = super().__str__()
        return text if self.diagnosis is None else f"{text}\n{self.diagnosis.render()}"
