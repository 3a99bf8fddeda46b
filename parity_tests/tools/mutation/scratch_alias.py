"""pytest plugin for ``make mutation`` only (``-p parity_tests.tools.mutation.scratch_alias`` in pyproject's
``[tool.mutmut] pytest_add_cli_args``): make ``rnn_parity.scratch`` BE mutmut's mutated copy.

Why. mutmut 3 copies ``scratch/`` to ``mutants/scratch/`` with every function behind a
trampoline, puts ``mutants/`` first on ``sys.path`` and names each mutant after the file's
path: ``scratch.elman.x__tanh_grad__mutmut_1``. A trampoline runs a mutant only when the
active mutant's module equals the function's ``__module__``. The suite imports
``rnn_parity.scratch``, which the editable install maps to the ORIGINAL ``scratch/``
(pyproject's package-dir): every mutant would run unmutated code and survive (the classic
trap), and even the copy imported as ``rnn_parity.scratch.elman`` would never match
``scratch.elman``. So before anything imports scratch, this plugin imports the mutated
``scratch`` package (and each of its modules) under its own name and registers the same
module objects as ``rnn_parity.scratch`` and ``rnn_parity.scratch.<module>``.

It refuses to run (UsageError) if scratch was imported already, if the ``scratch`` it finds
is not a mutmut copy (no trampolines), or if it is the original directory.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

import pytest


def _alias() -> list[str]:
    if "rnn_parity.scratch" in sys.modules and sys.modules["rnn_parity.scratch"].__name__ != "scratch":
        raise pytest.UsageError("parity_tests.tools.mutation.scratch_alias: rnn_parity.scratch was imported before the plugin ran")
    pkg = importlib.import_module("scratch")
    where = Path(pkg.__file__).resolve().parent
    if where.parent.name != "mutants":
        raise pytest.UsageError(f"parity_tests.tools.mutation.scratch_alias: 'scratch' resolves to {where}, not to mutmut's mutants/scratch")
    names = ["scratch"]
    sys.modules["rnn_parity.scratch"] = pkg
    for info in pkgutil.iter_modules(pkg.__path__):
        mod = importlib.import_module(f"scratch.{info.name}")
        sys.modules[f"rnn_parity.scratch.{info.name}"] = mod
        names.append(mod.__name__)
    import rnn_parity  # the namespace package of the editable install

    rnn_parity.scratch = pkg
    elman = sys.modules["scratch.elman"]
    if "mutmut" not in Path(elman.__file__).read_text(encoding="utf-8"):
        raise pytest.UsageError(f"parity_tests.tools.mutation.scratch_alias: {elman.__file__} is not a mutmut copy")
    return names


ALIASED = _alias()
