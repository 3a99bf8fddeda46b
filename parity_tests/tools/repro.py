"""Re-run one case outside pytest:

    python -m parity_tests.tools.repro --rnn-impl module:Class "Case(config=RNNConfig(...), seed=4)"

The case string is the one printed in a failure message (a dataclass repr); it is parsed
with only the case and configuration classes in scope.
"""

from __future__ import annotations

import argparse
import sys

from ..core.cases import Case
from ..core.contract import load_impl
from ..families import FAMILIES
from ..families.conventions import CONVENTIONS, adapt
from ..properties import assert_parity


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group(required=True)
    for fam in FAMILIES.values():
        group.add_argument(fam.option, dest=fam.name, help=f"module:Class under the {fam.torch_name} contract")
    parser.add_argument("--convention", choices=CONVENTIONS, help="wrap --rnn-impl with this adapter")
    parser.add_argument("case", help="the case repr from the failure message")
    args = parser.parse_args(argv)
    namespace = {"Case": Case, **{f.config_cls.__name__: f.config_cls for f in FAMILIES.values()}}
    case = eval(args.case, {"__builtins__": {}}, namespace)  # noqa: S307 - only the case classes
    fam = next(f for f in FAMILIES.values() if getattr(args, f.name))
    if case.family is not fam:
        parser.error(f"{fam.option} checks {fam.torch_name}, but the case is a {case.family.torch_name} case")
    cls = load_impl(getattr(args, fam.name))
    if args.convention:
        cls = adapt(cls, args.convention)
    assert_parity(cls, case)
    print("parity: every tensor within tolerance")
    return 0


if __name__ == "__main__":
    sys.exit(main())
