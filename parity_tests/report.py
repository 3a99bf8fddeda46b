"""``make report``: a side-by-side table for the representative configuration of every row.

    python -m parity_tests.report [--rnn-impl module:Class] [--cell-impl module:Class] [--seed N]

For each configuration and each tensor (output, h_n, dx, dh0, every parameter gradient):
the greatest absolute and relative error against torch (float64), the allowed absolute
error, and pass/fail. Exits 1 if anything fails, 0 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from .adapters import adapt  # noqa: E402
from .cases import CELL_ROWS, RNN_ROWS, CellCase, RNNCase  # noqa: E402
from .contract import ContractViolation, Unsupported, impl_name, load_impl  # noqa: E402
from .harness import cell_comparisons, rnn_comparisons  # noqa: E402

HEADER = f"  {'tensor':<28} {'max abs err':>12} {'max rel err':>12} {'allowed abs':>12} {'normwise':>10}  result"


def _row_lines(comparisons) -> list[str]:
    lines = [HEADER]
    for c in comparisons:
        lines.append(
            f"  {c.tensor:<28} {c.max_abs:>12.3e} {c.max_rel:>12.3e} {c.allowed_abs:>12.3e} "
            f"{c.normwise:>10.2e}  {'pass' if c.passed else 'FAIL'}"
        )
    return lines


def run_report(rnn_cls, cell_cls, seed: int = 0, out=print) -> int:
    """Print the table; return the number of failed configurations."""
    failures = 0
    jobs = [(row, RNNCase(row.report, seed=seed), rnn_cls, rnn_comparisons) for row in RNN_ROWS]
    jobs += [(row, CellCase(row.report, seed=seed), cell_cls, cell_comparisons) for row in CELL_ROWS]
    out(f"rnn-parity report: {impl_name(rnn_cls)} vs torch.nn.RNN, {impl_name(cell_cls)} vs torch.nn.RNNCell")
    out("reference: torch float64 autograd; tolerance: normwise, 1000 eps of the compared dtype")
    for row, case, cls, compare_fn in jobs:
        out("")
        out(f"[{row.name}] {case.config.short()}, seed={case.seed}, weight_scale={case.weight_scale}")
        try:
            comparisons = compare_fn(cls, case)
        except Unsupported as exc:
            out(f"  SKIPPED: {exc}")
            continue
        except ContractViolation as exc:
            out(f"  FAIL (contract violation): {exc}")
            failures += 1
            continue
        for line in _row_lines(comparisons):
            out(line)
        bad = [c.tensor for c in comparisons if not c.passed]
        if bad:
            failures += 1
            out(f"  -> FAIL: {', '.join(bad)} differ")
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
    args = parser.parse_args(argv)
    sys.path.insert(0, os.getcwd())
    try:
        rnn_cls, cell_cls = load_impl(args.rnn_impl), load_impl(args.cell_impl)
    except ValueError as exc:
        parser.error(str(exc))
    if args.convention:
        rnn_cls = adapt(rnn_cls, args.convention)
    return 1 if run_report(rnn_cls, cell_cls, seed=args.seed) else 0


if __name__ == "__main__":
    sys.exit(main())
