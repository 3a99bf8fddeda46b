"""``rnn-parity repro``: re-run one case outside pytest, from any folder.

    rnn-parity repro --rnn-impl module:Class [--convention NAME] [--reduction mean] [--strict-dtype]
                     "Case(config=RNNConfig(...), seed=4)"

The case string is the one a failure message prints (a dataclass repr); it is parsed with
only the case and configuration classes in scope. Prints the comparison of every tensor and,
on a mismatch, the failure message with its diagnosis (no traceback). Exit status: 0 the
case passes, 1 it fails (or the plug-in breaks the contract or raises), 2 usage error.
"""

from __future__ import annotations

import argparse
import sys

from ..options import option_specs, resolve


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="rnn-parity repro", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    for flags, kwargs in option_specs():
        parser.add_argument(*flags, **kwargs)
    parser.add_argument("case", help="the case repr from the failure message")
    args = parser.parse_args(argv)
    from ..core.threads import pin_threads

    pin_threads()
    from ..core.cases import Case
    from ..core.contract import ContractViolation, ImplementationError, Unsupported
    from ..core.messages import ParityMismatch, describe_case
    from ..families import FAMILIES
    from ..properties import assert_parity
    from .report import _row_lines

    values = {flags[0]: getattr(args, flags[0].lstrip("-").replace("-", "_")) for flags, _ in option_specs()}
    namespace = {"Case": Case, **{f.config_cls.__name__: f.config_cls for f in FAMILIES.values()}}
    try:
        case = eval(args.case, {"__builtins__": {}}, namespace)  # noqa: S307 - only the case classes
    except Exception as exc:
        parser.error(f"cannot read the case {args.case!r}: {type(exc).__name__}: {exc}")
    try:
        impls = resolve(values)
    except ValueError as exc:
        parser.error(str(exc))
    cls = impls[case.family.name]
    print(f"{case.family.torch_name} case: {describe_case(cls, case)}")
    try:
        comparisons = assert_parity(cls, case)
    except ParityMismatch as exc:
        print("\n".join(_row_lines(exc.comparisons)))  # the message below has the dtype line
        print()
        print(str(exc))
        return 1
    except (ContractViolation, ImplementationError) as exc:
        print(f"FAIL: {exc}")
        return 1
    except Unsupported as exc:
        print(f"declined (not checked): {exc}")
        return 1
    print("\n".join(_row_lines(comparisons, cls)))
    print("parity: every tensor within tolerance")
    return 0


if __name__ == "__main__":
    sys.exit(main())
