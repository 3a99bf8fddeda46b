"""``rnn-parity report``: the side-by-side table, one block per configuration of every row.

    rnn-parity report [--rnn-impl module:Class] [--cell-impl module:Class] [--lstm-impl ...]
                      [--gru-impl ...] [--lstm-cell-impl ...] [--gru-cell-impl ...]
                      [--convention NAME] [--gate-order ORDER] [--gru-update complement]
                      [--reduction sum|mean] [--strict-dtype] [--seed N] [--json PATH] [--png PATH]
                      [--strict]
    rnn-parity report --lstm-impl my_layers --convention cs231n     # a module of a course's functions

For each configuration and each tensor (output, h_n, dx, dh0, every parameter gradient):
the greatest absolute and relative error against torch (float64), the allowed absolute
error, the dtype the implementation returned (marked when it is not the inputs'), and
pass/fail; a failing configuration gets its diagnosis. A tensor in another dtype is judged
on its values at the precision of the inputs; the mismatch is a warning (its own line under
the table, and a count), or with --strict-dtype a failure. The rows are the suite's
own (``families.ROWS``), each at its representative configuration(s): the float32 row runs
at one layer first, so a plug-in of any capability level has rows it can run; a row of long
sequences (truncated BPTT shows) and one of large upstream gradients (clipping shows).

Only the families whose plug-in you give are reported (all of them when you give none).
Counts: passed, failed (wrong numbers, or the plug-in raised), contract (broke the
contract), declined (NotImplementedError: not checked). Exit status: 0 when every checked
configuration passes; 1 when any fails or breaks the contract, when nothing at all was
checked (every configuration declined), or, with ``--strict``, when any was declined;
2 on a usage error.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path

from ..options import given, option_specs, resolve
from ..core.cases import report_cases
from ..core.threads import pin_threads

HEADER = (f"  {'tensor':<28} {'max abs err':>12} {'max rel err':>12} {'allowed abs':>12} {'normwise':>10} "
          f"{'dtype':>9}  result")


def _result(c) -> str:
    if not c.within_tolerance:
        return "FAIL"
    if c.dtype_ok:
        return "pass"
    return "FAIL (dtype)" if not c.passed else "pass (dtype warning)"


def _row_lines(comparisons, cls=None) -> list[str]:
    """The table of one configuration; the dtype column marks a dtype other than the
    inputs' with ``!``, and the dtype line (``core/dtypes.dtype_line``) follows the table."""
    from ..core.dtypes import dtype_line

    lines = [HEADER]
    for c in comparisons:
        dtype = c.dtype + ("" if c.dtype_ok else "!")
        lines.append(
            f"  {c.tensor:<28} {c.max_abs:>12.3e} {c.max_rel:>12.3e} {c.allowed_abs:>12.3e} "
            f"{c.normwise:>10.2e} {dtype:>9}  {_result(c)}"
        )
    line = dtype_line(cls, comparisons) if cls is not None else ""
    if line:
        lines.append(f"  {line}")
    return lines


def run_report(impls: dict, families=None, *, seed: int = 0, out=print, diagnose_failures: bool = True):
    """Print the table. ``impls``: family name -> class; ``families``: the names to report
    (default all). Returns ``(counts, records, first_failures)``; ``counts`` has
    passed, failed, contract and declined, and dtype: the checked configurations where a
    tensor came back in another dtype than the inputs' (pass or fail); ``records`` one JSON
    record per configuration (``core.messages.case_record``); ``first_failures`` each
    family's first failing case (family name -> Case; a family with none is absent)."""
    from ..core.contract import ContractViolation, ImplementationError, Unsupported, impl_name
    from ..core.dtypes import strict_dtype
    from ..core.messages import case_record, describe_case
    from ..core.runs import comparisons as run_comparisons
    from ..diagnosis import diagnose
    from ..families import FAMILIES, ROWS

    families = list(families or FAMILIES)
    counts, records, first_failures = Counter(), [], {}
    out("rnn-parity report: " + ", ".join(f"{impl_name(impls[f])} vs {FAMILIES[f].torch_name}" for f in families))
    out("reference: torch float64 autograd; tolerance: normwise, 1000 eps of the dtype the case asks for "
        "(parity_tests/core/tolerance.py), whatever dtype comes back (dtype column; ! = not the inputs')")
    for row in ROWS:
        if row.family not in families:
            continue
        cls = impls[row.family]
        for case in report_cases(row, seed):
            out("")
            out(f"[{row.name}] {describe_case(cls, case)}")
            try:
                comparisons = run_comparisons(cls, case, warn=False)  # the dtype column says it
            except Unsupported as exc:
                out(f"  DECLINED (not checked): {exc}")
                counts["declined"] += 1
                records.append(case_record(cls, case, verdict="declined", reason=str(exc), row=row.name))
                continue
            except ImplementationError as exc:
                out(f"  FAIL (the implementation raised): {exc}")
                counts["failed"] += 1
                records.append(case_record(cls, case, verdict="fail", reason=str(exc), row=row.name))
                continue
            except ContractViolation as exc:
                out(f"  FAIL (contract violation): {exc}")
                counts["contract"] += 1
                records.append(case_record(cls, case, verdict="contract", reason=str(exc), row=row.name))
                continue
            out("\n".join(_row_lines(comparisons, cls)))
            bad = [c.tensor for c in comparisons if not c.passed]
            differ = [c.tensor for c in comparisons if not c.within_tolerance]
            counts["dtype"] += any(not c.dtype_ok for c in comparisons)
            diagnosis = None
            if bad:
                counts["failed"] += 1
                out(f"  -> FAIL: {', '.join(differ)} differ" if differ else
                    f"  -> FAIL: {', '.join(bad)} returned in another dtype than the inputs' (values within tolerance)")
                if diagnose_failures and differ:
                    diagnosis = diagnose(cls, case, comparisons)
                    out("\n".join("  " + line for line in diagnosis.render().splitlines()))
                first_failures.setdefault(row.family, case)
            else:
                counts["passed"] += 1
            records.append(case_record(cls, case, comparisons, diagnosis=diagnosis, row=row.name))
    total = sum(counts[k] for k in ("passed", "failed", "contract", "declined"))
    out("")
    out(f"{counts['passed']} of {total} configurations pass, {counts['failed']} fail, "
        f"{counts['contract']} break the contract, {counts['declined']} declined (not checked)")
    if counts["dtype"]:
        lenient = any(not strict_dtype(impls[f]) for f in families)
        out(f"{counts['dtype']} returned a tensor in another dtype than the inputs' "
            + ("(a warning; --strict-dtype makes it a failure)" if lenient else "(each a failure: strict dtype)"))
    return counts, records, first_failures


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnn-parity report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    for flags, kwargs in option_specs():
        parser.add_argument(*flags, **kwargs)
    parser.add_argument("--seed", type=int, default=0, help="RNG seed for the dense data (default 0)")
    parser.add_argument("--png", "--plot", dest="png", metavar="PATH",
                        help="one picture per family reported, at PATH with the family's name before the "
                             "suffix (report/parity.png -> report/parity_rnn.png, report/parity_lstm.png, ...): "
                             "the family's first failing configuration, else its most capable report "
                             "configuration the plug-in accepts; errors scaled to the allowed error, parameter "
                             "gradients one panel per gate")
    parser.add_argument("--json", metavar="PATH", help="write every record as JSON (README: JSON schema)")
    parser.add_argument("--strict", action="store_true", help="declined configurations count as failures")
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.png and importlib.util.find_spec("matplotlib") is None:
        # say so before the run, not as a traceback after it
        parser.error("--png needs matplotlib, which is not installed: pip install 'rnn-parity[plots]' "
                     "(or pip install matplotlib), or leave out --png")
    pin_threads()
    values = {flags[0]: getattr(args, flags[0].lstrip("-").replace("-", "_")) for flags, _ in option_specs()}
    try:
        impls = resolve(values)
    except ValueError as exc:
        parser.error(str(exc))
    from ..families import CATALOG

    families = [e.name for e in CATALOG if values.get(e.option)] if given(values) else None
    if given(values) and not families:  # --convention / --reduction alone: they qualify --rnn-impl
        families = ["rnn"]
    counts, records, first_failures = run_report(impls, families, seed=args.seed)
    if args.json:
        from ..core.messages import json_document

        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(json_document(records, source="report"), indent=1))
        print(f"wrote {args.json}")
    if args.png:
        from .plots import plot_families

        drawn = families or [e.name for e in CATALOG]
        plot_families({f: (impls[f], first_failures.get(f)) for f in drawn}, args.png, seed=args.seed)
    if counts["failed"] or counts["contract"]:
        return 1
    if counts["passed"] == 0:
        print("nothing was checked: every configuration was declined")
        return 1
    if args.strict and counts["declined"]:
        print(f"--strict: {counts['declined']} declined configuration(s) count as failures")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
