"""``make report``: a side-by-side table for the representative configuration of every row.

    python -m parity_tests.tools.report [--rnn-impl module:Class] [--cell-impl module:Class] [--seed N]

For each configuration and each tensor (output, h_n, dx, dh0, every parameter gradient):
the greatest absolute and relative error against torch (float64), the allowed absolute
error, and pass/fail; a failing configuration gets its diagnosis. ``--plot PNG`` draws one
RNN check (per-time-step errors, hidden trajectories), ``--json PATH`` writes every record.
Exits 1 if anything fails, 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from ..core.threads import pin_threads

pin_threads()

from ..core.cases import Case  # noqa: E402
from ..core.contract import ContractViolation, Unsupported, impl_name, load_impl  # noqa: E402
from ..core.messages import case_record  # noqa: E402
from ..core.runs import comparisons as run_comparisons  # noqa: E402
from ..diagnosis import diagnose  # noqa: E402
from ..families import FAMILIES, ROWS, row_by_name  # noqa: E402
from ..families.conventions import CONVENTIONS, adapt  # noqa: E402

HEADER = f"  {'tensor':<28} {'max abs err':>12} {'max rel err':>12} {'allowed abs':>12} {'normwise':>10}  result"


def _row_lines(comparisons) -> list[str]:
    lines = [HEADER]
    for c in comparisons:
        lines.append(
            f"  {c.tensor:<28} {c.max_abs:>12.3e} {c.max_rel:>12.3e} {c.allowed_abs:>12.3e} "
            f"{c.normwise:>10.2e}  {'pass' if c.passed else 'FAIL'}"
        )
    return lines


def run_report(impls: dict, seed: int = 0, out=print, records=None, first_failure=None) -> int:
    """Print the table; return the number of failed configurations.

    ``impls``: family name -> class. ``records`` (a list) receives one record per
    configuration (``core.messages.case_record``); ``first_failure`` (a list) receives the
    first failing RNN case."""
    counts = Counter()
    out("rnn-parity report: " + ", ".join(f"{impl_name(impls[f.name])} vs {f.torch_name}" for f in FAMILIES.values()))
    out("reference: torch float64 autograd; tolerance: normwise, 1000 eps of the compared dtype")
    for row in ROWS:
        cls, case = impls[row.family], Case(row.report, seed=seed)
        out("")
        out(f"[{row.name}] {case.config.short()}, seed={case.seed}, weight_scale={case.weight_scale}")
        try:
            comparisons = run_comparisons(cls, case)
        except Unsupported as exc:
            out(f"  DECLINED: {exc}")
            counts["declined"] += 1
            record = case_record(cls, case, verdict="declined", reason=str(exc))
        except ContractViolation as exc:
            out(f"  FAIL (contract violation): {exc}")
            counts["contract"] += 1
            record = case_record(cls, case, verdict="contract", reason=str(exc))
        else:
            out("\n".join(_row_lines(comparisons)))
            bad = [c.tensor for c in comparisons if not c.passed]
            diagnosis = None
            if bad:
                counts["failed"] += 1
                out(f"  -> FAIL: {', '.join(bad)} differ")
                diagnosis = diagnose(cls, case, comparisons)
                out("\n".join("  " + line for line in diagnosis.render().splitlines()))
                if first_failure is not None and not first_failure and row.family == "rnn":
                    first_failure.append(case)
            else:
                counts["passed"] += 1
            record = case_record(cls, case, comparisons, diagnosis=diagnosis)
        record["row"] = row.name
        if records is not None:
            records.append(record)
    out("")
    failures = counts["failed"] + counts["contract"]
    out(f"{counts['passed']} of {len(ROWS)} configurations pass"
        + (f", {counts['failed']} FAIL" if counts["failed"] else "")
        + (f", {counts['contract']} break the contract" if counts["contract"] else "")
        + (f", {counts['declined']} declined (not checked)" if counts["declined"] else ""))
    return failures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for fam in FAMILIES.values():
        parser.add_argument(fam.option, default=fam.default_impl, help=f"module:Class (default {fam.default_impl})")
    parser.add_argument("--convention", choices=CONVENTIONS, help="wrap --rnn-impl with this adapter")
    parser.add_argument("--seed", type=int, default=0, help="RNG seed for the dense data (default 0)")
    parser.add_argument("--plot", metavar="PNG", help="draw the first failing RNN configuration (or, if all "
                        "pass, the deep bidirectional one): per-step errors and hidden-state trajectories")
    parser.add_argument("--json", metavar="PATH", help="write every record as JSON (for CI dashboards)")
    args = parser.parse_args(argv)
    try:
        impls = {f.name: load_impl(getattr(args, f.option.lstrip("-").replace("-", "_"))) for f in FAMILIES.values()}
    except ValueError as exc:
        parser.error(str(exc))
    if args.convention:
        impls["rnn"] = adapt(impls["rnn"], args.convention)
    records, first_failure = [], []
    failures = run_report(impls, seed=args.seed, records=records, first_failure=first_failure)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"failed_configurations": failures, "records": records}, indent=1))
        print(f"wrote {args.json}")
    if args.plot:
        from .plots import plot_parity

        case = first_failure[0] if first_failure else Case(row_by_name("deep_bidir_batch_first").report, seed=args.seed)
        try:
            plot_parity(impls["rnn"], case, args.plot)
            print(f"wrote {args.plot}")
        except (Unsupported, ContractViolation) as exc:
            print(f"no plot: {exc}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
