"""``make report``: a side-by-side table for the representative configuration of every row.

    python -m parity_tests.report [--rnn-impl module:Class] [--cell-impl module:Class] [--seed N]

For each configuration and each tensor (output, h_n, dx, dh0, every parameter gradient):
the greatest absolute and relative error against torch (float64), the allowed absolute
error, and pass/fail; a failing RNN configuration gets its diagnosis. ``--plot PNG`` draws
one check (per-time-step errors, hidden trajectories), ``--json PATH`` writes every
comparison. Exits 1 if anything fails, 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from .adapters import adapt  # noqa: E402
from .cases import CELL_ROWS, RNN_ROWS, CellCase, RNNCase, row_by_name  # noqa: E402
from .contract import ContractViolation, Unsupported, impl_name, load_impl  # noqa: E402
from .diagnosis import diagnose  # noqa: E402
from .harness import cell_comparisons, rnn_comparisons  # noqa: E402
from .plots import plot_parity  # noqa: E402

HEADER = f"  {'tensor':<28} {'max abs err':>12} {'max rel err':>12} {'allowed abs':>12} {'normwise':>10}  result"


def _row_lines(comparisons) -> list[str]:
    lines = [HEADER]
    for c in comparisons:
        lines.append(
            f"  {c.tensor:<28} {c.max_abs:>12.3e} {c.max_rel:>12.3e} {c.allowed_abs:>12.3e} "
            f"{c.normwise:>10.2e}  {'pass' if c.passed else 'FAIL'}"
        )
    return lines


def run_report(rnn_cls, cell_cls, seed: int = 0, out=print, records=None, first_failure=None) -> int:
    """Print the table; return the number of failed configurations.

    ``records`` (a list) receives one JSON-able dict per configuration; ``first_failure``
    (a list) receives the first failing RNN case."""
    failures = 0
    jobs = [(row, RNNCase(row.report, seed=seed), rnn_cls, rnn_comparisons) for row in RNN_ROWS]
    jobs += [(row, CellCase(row.report, seed=seed), cell_cls, cell_comparisons) for row in CELL_ROWS]
    out(f"rnn-parity report: {impl_name(rnn_cls)} vs torch.nn.RNN, {impl_name(cell_cls)} vs torch.nn.RNNCell")
    out("reference: torch float64 autograd; tolerance: normwise, 1000 eps of the compared dtype")
    for row, case, cls, compare_fn in jobs:
        out("")
        out(f"[{row.name}] {case.config.short()}, seed={case.seed}, weight_scale={case.weight_scale}")
        record = {"row": row.name, "implementation": impl_name(cls), "case": repr(case)}
        if records is not None:
            records.append(record)
        try:
            comparisons = compare_fn(cls, case)
        except Unsupported as exc:
            out(f"  SKIPPED: {exc}")
            record.update(status="skipped", reason=str(exc))
            continue
        except ContractViolation as exc:
            out(f"  FAIL (contract violation): {exc}")
            record.update(status="contract violation", reason=str(exc))
            failures += 1
            continue
        for line in _row_lines(comparisons):
            out(line)
        bad = [c.tensor for c in comparisons if not c.passed]
        record.update(status="fail" if bad else "pass", comparisons=[c.as_dict() for c in comparisons])
        if bad:
            failures += 1
            out(f"  -> FAIL: {', '.join(bad)} differ")
            if compare_fn is rnn_comparisons:
                diagnosis = diagnose(cls, case, comparisons)
                for line in diagnosis.render().splitlines():
                    out("  " + line)
                record["diagnosis"] = diagnosis.render()
                if first_failure is not None and not first_failure:
                    first_failure.append(case)
    out("")
    total = len(jobs)
    out(f"{total - failures} of {total} configurations pass" + (f", {failures} FAIL" if failures else ""))
    return failures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rnn-impl", default="scratch:RNN", help="module:Class (default scratch:RNN)")
    parser.add_argument("--cell-impl", default="scratch:RNNCell", help="module:Class (default scratch:RNNCell)")
    parser.add_argument("--convention", choices=["column", "rows"], help="wrap --rnn-impl with this adapter")
    parser.add_argument("--seed", type=int, default=0, help="RNG seed for the dense data (default 0)")
    parser.add_argument("--plot", metavar="PNG", help="draw the first failing RNN configuration (or, if all "
                        "pass, the deep bidirectional one): per-step errors and hidden-state trajectories")
    parser.add_argument("--json", metavar="PATH", help="write every comparison as JSON (for CI dashboards)")
    args = parser.parse_args(argv)
    sys.path.insert(0, os.getcwd())
    try:
        rnn_cls, cell_cls = load_impl(args.rnn_impl), load_impl(args.cell_impl)
    except ValueError as exc:
        parser.error(str(exc))
    if args.convention:
        rnn_cls = adapt(rnn_cls, args.convention)
    records, first_failure = [], []
    failures = run_report(rnn_cls, cell_cls, seed=args.seed, records=records, first_failure=first_failure)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"failed_configurations": failures, "configurations": records}, indent=1))
        print(f"wrote {args.json}")
    if args.plot:
        case = first_failure[0] if first_failure else RNNCase(row_by_name("deep_bidir_batch_first").report, seed=args.seed)
        try:
            plot_parity(rnn_cls, case, args.plot)
            print(f"wrote {args.plot}")
        except (Unsupported, ContractViolation) as exc:
            print(f"no plot: {exc}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
