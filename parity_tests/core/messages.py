"""The one message builder: what a failure says, and the JSON record of a checked case.

The suite (``properties.assert_parity``), the report, repro and ``--parity-json`` all build
their text and records here, so they cannot disagree.
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
import shlex

from .compare import causal_order_line, format_comparison
from .contract import impl_name, limits_note, not_returned, zero_inputs
from .dtypes import dtype_flag, dtype_line, mismatches, strict_dtype


def describe_case(cls, case) -> str:
    """``case.describe()``, plus what ``cls``'s convention leaves out of it, if anything
    (``contract.limits_note``): a failure's case line, the report's and repro's headers."""
    note = limits_note(cls)
    return case.describe() + (f"; {note}" if note else "")


def failure_message(cls, case, comparisons) -> str:
    """assert_close-style: the first tensor whose values differ, in causal order, in detail,
    the dtype line (when a tensor came back in another dtype than the case's), the other
    differing tensors, the causal-order line and how to reproduce. A strict class failing on its dtype
    alone (every value within the budget) is said as such."""
    fam = case.family
    failed = [c for c in comparisons if not c.within_tolerance]
    if failed:
        first = failed[0]
        lines = [
            f"{first.tensor} of {impl_name(cls)} differs from {fam.torch_name}",
            f"case: {describe_case(cls, case)}",
            format_comparison(first),
        ]
    else:
        first = mismatches(comparisons)[0]
        lines = [
            f"{first.tensor} of {impl_name(cls)} is {first.dtype}, but the case's inputs are "
            f"{first.requested_dtype}: only the dtype differs (every value is within {first.requested_dtype}'s "
            f"budget)",
            f"case: {describe_case(cls, case)}",
        ]
    line = dtype_line(cls, comparisons)
    if line:
        lines.append(line)
    if failed[1:]:
        lines += ["Also differing:", *[f"  {c.tensor}: normwise error {c.normwise:.3g}, greatest at ({c.abs_where})"
                                       for c in failed[1:]]]
    lines += [causal_order_line(comparisons), reproduce_note(cls, case)]
    return "\n".join(lines)


# "module::test[id]" of the running test, set by the pytest plugin (its module name, which
# works with --pyargs from any folder, unlike a node id relative to some rootdir).
CURRENT_TEST: str | None = None


def reproduce_note(cls, case) -> str:
    """Two lines that work pasted into the folder where the test ran: the pytest node as a
    ``--pyargs`` module path (not a file path relative to some rootdir) and ``rnn-parity
    repro`` with the case."""
    flag = case.family.option
    strict = f" {dtype_flag(cls)}" if dtype_flag(cls) else ""
    node = CURRENT_TEST or _pyargs(os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0])
    lines = ["To reproduce:"]
    if node and not node.startswith("::"):
        lines.append(f"  pytest --pyargs {shlex.quote(node)} {flag} {impl_name(cls)}{strict}   "
                     "(the ci profile is derandomized, dev replays .hypothesis/)")
    text = repr(case)
    quoted = f'"{text}"' if not set(text) & set('"$`\\!') else shlex.quote(text)
    lines.append(f"  rnn-parity repro {flag} {impl_name(cls)}{strict} {quoted}")
    return "\n".join(lines)


def _pyargs(node: str) -> str:
    """``parity_tests/tests/test_parity.py::test_parity[x]`` (relative to wherever pytest's
    rootdir was) -> ``parity_tests.tests.test_parity::test_parity[x]``."""
    path, sep, rest = node.partition("::")
    parts = path.replace("\\", "/").removesuffix(".py").split("/")
    if "parity_tests" in parts:
        parts = parts[len(parts) - 1 - parts[::-1].index("parity_tests"):]
        return ".".join(parts) + sep + rest
    return node


# Version 1 throughout: the dtype fields (a record's "dtype", each tensor's "dtype" and
# "within_tolerance", first_failure's "cause", the document's "dtype_mismatches") were added to
# it without changing any field that was there; a reader of the older records still reads
# these.
SCHEMA_VERSION = 1


def case_record(cls, case, comparisons=None, *, verdict: str | None = None, reason: str | None = None,
                diagnosis=None, row: str | None = None) -> dict:
    """One checked case as a JSON-able dict: the same shape from the suite (``--parity-json``)
    and the report (``rnn-parity report --json``). The README's "JSON schema" documents it."""
    if verdict is None:
        verdict = "pass" if all(c.passed for c in comparisons) else "fail"
    failed = [c for c in comparisons or [] if not c.passed]
    failed = [c for c in failed if not c.within_tolerance] or failed  # values first, then dtype
    first = failed[0] if failed else None
    return {
        "family": case.family.name,
        "name": row,
        "implementation": impl_name(cls),
        "config": dataclasses.asdict(case.config),
        "case": repr(case),
        # what a course convention cannot carry (contract.ConventionLimits), else null
        "convention_limits": ({"zero_inputs": sorted(zero_inputs(cls)), "not_compared": sorted(not_returned(cls))}
                              if zero_inputs(cls) or not_returned(cls) else None),
        "verdict": verdict,
        "reason": reason,
        "tensors": [
            {"name": c.tensor, "max_abs": c.max_abs, "max_rel": c.max_rel, "allowed": c.allowed_abs,
             "normwise": c.normwise, "mismatched": c.mismatched, "total": c.total, "ok": c.passed,
             "where": c.abs_where or None, "within_tolerance": c.within_tolerance, "dtype": c.dtype}
            for c in comparisons or []
        ],
        "dtype": None if not comparisons else {
            "requested": comparisons[0].requested_dtype, "strict": strict_dtype(cls),
            "mismatches": [{"tensor": c.tensor, "returned": c.dtype} for c in mismatches(comparisons)],
        },
        "first_failure": None if first is None else {
            "tensor": first.tensor, "index": list(first.abs_index) if first.abs_index is not None else None,
            "location": first.abs_where or None, "max_abs": first.max_abs, "allowed": first.allowed_abs,
            "cause": "values" if not first.within_tolerance else "dtype",
        },
        "suspects": [] if diagnosis is None else diagnosis.as_dict()["suspects"],
        "diagnosis": None if diagnosis is None else diagnosis.render(),
        "test": os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0] or None,
    }


def json_document(records: list, *, source: str) -> dict:
    """The whole JSON file: versions, counts by verdict, and the records (``rows``)."""
    import platform
    from importlib import metadata

    import numpy

    def version(dist):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    counts = {k: 0 for k in ("passed", "failed", "declined", "contract")}
    key = {"pass": "passed", "fail": "failed", "declined": "declined", "contract": "contract"}
    for r in records:
        counts[key[r["verdict"]]] += 1
    # Not a verdict (a mismatch passes or fails with its values), so not among the counts.
    dtype_mismatches = sum(bool((r.get("dtype") or {}).get("mismatches")) for r in records)
    return {
        "schema_version": SCHEMA_VERSION,
        "source": source,
        "versions": {"rnn_parity": version("rnn-parity"), "torch": version("torch"),
                     "numpy": numpy.__version__, "python": platform.python_version()},
        "counts": counts,
        "dtype_mismatches": dtype_mismatches,
        "rows": records,
    }


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
        """None when every value is within tolerance (a strict dtype failure alone): there is
        no numerical difference to localize."""
        if all(getattr(c, "within_tolerance", c.passed) for c in self.comparisons):
            return None
        if self._diagnosis is None and self._diagnose is not None:
            self._diagnosis = self._diagnose()
        return self._diagnosis

    def __str__(self) -> str:
        text = super().__str__()
        if self.diagnosis is None:
            return text
        note = getattr(self.diagnosis, "headline_note", lambda: None)()
        if note:  # right under the headline, which names the example's first tensor
            head, _, rest = text.partition("\n")
            text = f"{head}\n{note}\n{rest}" if rest else f"{head}\n{note}"
        return f"{text}\n{self.diagnosis.render()}"


def declined_summary(reasons: list, checked: int, *, limit: int = 6) -> str:
    """One line for a row's declined examples: "13 of 35 examples declined, 22 checked: "
    and the distinct reasons, most frequent first, each with its count. A plug-in's reasons
    usually share their start ("X declined: ...; not supported: ") and differ in the values
    at the end, so the common start is said once (cut at a ": " or "; ", never inside a
    word) and the endings follow, joined by " | "; past ``limit`` of them, how many more."""
    counts = Counter(reasons)
    head = f"{len(reasons)} of {len(reasons) + checked} examples declined, {checked} checked: "
    distinct = sorted(counts, key=lambda r: -counts[r])  # stable: first seen first among equals
    if len(distinct) == 1:
        return head + distinct[0] + (f" ({counts[distinct[0]]})" if counts[distinct[0]] > 1 else "")
    prefix = os.path.commonprefix(distinct)
    cut = max(prefix.rfind(": "), prefix.rfind("; "))
    prefix = prefix[: cut + 2] if cut >= 0 else ""
    tails = [f"{r[len(prefix):]} ({counts[r]})" for r in distinct]
    more = [f"and {len(tails) - limit} more"] if len(tails) > limit else []
    return head + prefix + " | ".join(tails[:limit] + more)
