"""``rnn-parity``: the command line. Each subcommand has its own ``--help``.

    rnn-parity check      run the parity tests against your plug-ins (pytest underneath)
    rnn-parity report     the side-by-side table of every tensor, JSON and a picture
    rnn-parity repro      re-run one case a failure printed, with its comparison and diagnosis
    rnn-parity bench      scratch against torch, speed and memory
    rnn-parity train-demo the seeds' training tasks, your class (or scratch) beside torch
"""

from __future__ import annotations

import argparse
import importlib
import sys

TOOLS = {
    "report": "parity_tests.tools.report",
    "repro": "parity_tests.tools.repro",
    "bench": "parity_tests.tools.bench",
    "train-demo": "parity_tests.tools.train_demo",
}

CHECK_DOC = """Run the parity tests that exercise the given plug-ins (all families' rows when none is
given: the project's own scratch classes), through pytest, from the current folder (your
module must be importable from it). Exit status: 0 all pass, 1 any fails, 2 usage error.

    rnn-parity check --rnn-impl mymod:MyRNN
    rnn-parity check --rnn-impl my_layers --convention cs231n
    rnn-parity check --cell-impl mymod:MyCell --reduction mean --profile thorough --seed 3
    rnn-parity check --rnn-impl mymod:MyRNN --strict-dtype   (another dtype than the input's fails)
    rnn-parity check --rnn-impl mymod:MyRNN -- -x -n 2      (after --: passed to pytest)
"""


def check_parser() -> argparse.ArgumentParser:
    from .options import option_specs

    parser = argparse.ArgumentParser(prog="rnn-parity check", description=CHECK_DOC,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    for flags, kwargs in option_specs():
        parser.add_argument(*flags, **kwargs)
    parser.add_argument("--profile", choices=["ci", "dev", "thorough"], default=None,
                        help="hypothesis profile (default: ci, bounded and derandomized, or dev with --seed; dev explores "
                             "new examples; thorough is the deep run, with --seed)")
    parser.add_argument("--seed", type=int, default=None,
                        help="hypothesis seed (dev or thorough; ci is derandomized and takes none)")
    return parser


def check(argv: list[str]) -> int:
    from .options import families_checked, option_specs
    from .families import CATALOG

    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    parser = check_parser()
    args = parser.parse_args(argv)
    if args.seed is not None and args.profile == "ci":
        parser.error("--seed has no effect with --profile ci (derandomized: the same examples every run); "
                     "use --profile dev or thorough")
    values = {flags[0]: getattr(args, flags[0].lstrip("-").replace("-", "_")) for flags, _ in option_specs()}
    families = families_checked(values)
    pytest_args = ["--pyargs", "parity_tests.tests.test_parity", "-p", "no:cacheprovider"]
    pytest_args += ["--parity-only", ",".join(families or [e.name for e in CATALOG])]
    for flag, value in values.items():
        if isinstance(value, bool):  # a switch (--strict-dtype): the flag alone, when set
            pytest_args += [flag] if value else []
        elif isinstance(value, list):  # an appended option (--gate-order, once per family)
            pytest_args += [part for v in value for part in (flag, v)]
        elif value is not None and not ((flag, value) in (("--reduction", "sum"), ("--gru-update", "torch"))):
            pytest_args += [flag, value]
    if args.profile:
        pytest_args += ["--hypothesis-profile", args.profile]
    if args.seed is not None:
        pytest_args += ["--hypothesis-seed", str(args.seed)]
    import pytest

    code = int(pytest.main(pytest_args + extra))
    # pytest: 0 ok, 1 tests failed, 2 interrupted, 3 internal error, 4 usage error, 5 no tests
    return {0: 0, 1: 1, 4: 2, 5: 2}.get(code, 1)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = ["check", *TOOLS]
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "check":
        return check(rest)
    if command not in TOOLS:
        print(f"rnn-parity: unknown command {command!r}; choose from {', '.join(commands)}", file=sys.stderr)
        return 2
    return int(importlib.import_module(TOOLS[command]).main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
