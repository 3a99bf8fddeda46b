"""Re-run one case outside pytest: python -m parity_tests.repro --rnn-impl module:Class "RNNCase(...)".

The case string is the one printed in a failure message (a dataclass repr); it is parsed
with only the case classes in scope.
"""

from __future__ import annotations

import argparse
import sys

from .adapters import adapt
from .cases import CellCase, CellConfig, RNNCase, RNNConfig
from .contract import load_impl
from .harness import assert_cell_parity, assert_rnn_parity


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--rnn-impl", help="module:Class of an RNN under the contract")
    group.add_argument("--cell-impl", help="module:Class of an RNNCell under the contract")
    parser.add_argument("--convention", choices=["column", "rows"], help="wrap --rnn-impl with this adapter")
    parser.add_argument("case", help="the case repr from the failure message")
    args = parser.parse_args(argv)
    namespace = {"RNNCase": RNNCase, "RNNConfig": RNNConfig, "CellCase": CellCase, "CellConfig": CellConfig}
    case = eval(args.case, {"__builtins__": {}}, namespace)  # noqa: S307 - only the case classes
    if args.rnn_impl:
        cls = load_impl(args.rnn_impl)
        if args.convention:
            cls = adapt(cls, args.convention)
        assert_rnn_parity(cls, case)
    else:
        assert_cell_parity(load_impl(args.cell_impl), case)
    print("parity: every tensor within tolerance")
    return 0


if __name__ == "__main__":
    sys.exit(main())
