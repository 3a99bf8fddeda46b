"""The pytest plugin of rnn-parity, registered through the ``pytest11`` entry point: after
``pip install rnn-parity`` it is active in every pytest run, from any folder.

    pytest --pyargs parity_tests --rnn-impl mymod:MyRNN [--cell-impl mymod:MyCell]
           [--convention NAME] [--reduction sum|mean] [--strict-dtype]
           [--hypothesis-profile ci|dev|thorough]

It is light until it is needed: in a run that gives no parity option and collects no parity
test it declares its options and nothing else (no torch, no hypothesis strategies, no thread
pinning). It becomes active when a parity option is given or a path (or ``--pyargs``
module) inside ``parity_tests`` is collected; then it pins BLAS threads, registers the
hypothesis profiles, warms torch up and resolves the plug-in classes once, into
``config.stash``.

A plug-in returning another dtype than its inputs' gets a ``DtypeWarning``
(``core/dtypes.py``) unless ``--strict-dtype`` is given. The plugin adds a filter for it
to the ini's ``filterwarnings`` in every run, after the project's own entries, so that
it is shown as a warning even where the project sets ``filterwarnings = error``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .options import families_checked, given, option_specs

PACKAGE_DIR = Path(__file__).resolve().parent

ACTIVE = pytest.StashKey[bool]()
IMPLS = pytest.StashKey[dict]()  # family name -> the class under test
DECLINED = pytest.StashKey[dict]()  # node id -> reasons the implementation declined


def pytest_addoption(parser):
    group = parser.getgroup("rnn-parity")
    for flags, kwargs in option_specs():
        group.addoption(*flags, **kwargs)
    group.addoption("--parity-json", default=None, metavar="PATH",
                    help="write every parity comparison (each checked case, pass or fail) to PATH as JSON "
                         "(README: JSON schema); works under pytest-xdist, creates missing folders")
    group.addoption("--parity-only", default=None, metavar="FAMILIES",
                    help="run only the parity rows of these families (comma-separated names, e.g. rnn,rnn_cell); "
                         "`rnn-parity check` sets it to the families whose plug-ins you gave")


def _values(config) -> dict:
    return {flags[0]: config.getoption(flags[0]) for flags, _ in option_specs()}


def _wanted(config) -> bool:
    """A parity option given, or a parity test among what pytest was asked to collect."""
    if given(_values(config)) or config.getoption("--parity-json") or config.getoption("--parity-only"):
        return True
    for arg in config.args:
        target = str(arg).split("::")[0]
        if config.option.pyargs and (target == "parity_tests" or target.startswith("parity_tests.")):
            return True
        path = Path(config.invocation_params.dir, target).resolve()
        if path == PACKAGE_DIR or PACKAGE_DIR in path.parents or path in PACKAGE_DIR.parents:
            return True
    return False


# ---------------------------------------------------------------------------------------
# Hypothesis profiles. `--hypothesis-profile NAME` (hypothesis' own option) or the
# HYPOTHESIS_PROFILE variable overrides the default, which is `ci` everywhere (`dev` when
# --hypothesis-seed is given: a seed means random draws, which `ci` ignores): `make test`
# in a developer's clone is the same bounded run CI makes (under 3 minutes warm on 2 cores;
# `dev` took 3.5-4.5), and a failure seen locally is the one CI sees.
#   ci        bounded and derandomized: the same examples every run, so CI is reproducible
#   dev       random exploration at a moderate budget, with the example database
#   thorough  deep runs for zero-false-alarm checks (use with --hypothesis-seed=N)
# No deadlines: a hypothesis deadline is a timed test, and on a loaded 2-core machine it
# fails correct code (a 2 s deadline did). Hangs are caught by pytest-timeout instead
# (`timeout` in pyproject.toml), speed by `rnn-parity bench`.
# ---------------------------------------------------------------------------------------
def _register_profiles(config=None):
    from hypothesis import HealthCheck, settings

    common = dict(print_blob=True, suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("ci", max_examples=30, derandomize=True, deadline=None, **common)
    settings.register_profile("dev", max_examples=60, deadline=None, **common)
    settings.register_profile("thorough", max_examples=600, deadline=None, **common)
    # A seed asks for random draws, which `ci` (derandomized) would silently ignore: with
    # --hypothesis-seed and no profile named, `dev` (`--hypothesis-profile` still wins).
    seeded = config is not None and config.getoption("hypothesis_seed", None) is not None
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev" if seeded else "ci"))


@pytest.hookimpl(tryfirst=True)  # before hypothesis loads --hypothesis-profile
def pytest_configure(config):
    from .core.dtypes import WARNING_FILTER  # imports nothing: light in every run

    # Appended after the project's own entries (later entries win): a blanket "error" does
    # not turn the DtypeWarning into a failure; --strict-dtype is the way to make it one.
    config.addinivalue_line("filterwarnings", WARNING_FILTER)
    config.stash[ACTIVE] = False
    config.stash[DECLINED] = {}
    if _wanted(config):
        _activate(config)


def _activate(config):
    if config.stash.get(ACTIVE, False):
        return
    from .core.threads import pin_threads

    pin_threads()  # before numpy or torch is imported where possible (core/threads.py)
    _register_profiles(config)
    import numpy as np
    import torch

    from . import properties

    pin_threads()  # torch is imported now: its own pool too
    # Warm torch up once per process (each xdist worker runs this too).
    rnn = torch.nn.RNN(2, 3, dtype=torch.float64)
    out, h = rnn(torch.zeros(2, 1, 2, dtype=torch.float64, requires_grad=True))
    (out.sum() + h.sum()).backward()
    np.zeros(1) @ np.zeros(1)
    # Resolve the implementations now: a bad option is one usage error, not an error per test.
    from .options import resolve

    try:
        config.stash[IMPLS] = resolve(_values(config))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.pluginmanager.register(_DeclinedCollector(config.stash[DECLINED]), "rnn-parity-declined")
    if config.getoption("--parity-json"):
        properties.RECORD = []
    config.stash[ACTIVE] = True


def pytest_ignore_collect(collection_path, config):
    """With ``--parity-only`` or any plug-in option, the harness's tests of itself
    (``parity_tests/meta_tests``) are not even imported: they would be deselected below
    anyway, and some need extras a user's install may not have (matplotlib for the
    pictures: a newcomer's ``pytest --pyargs parity_tests --gru-impl ...`` stopped with a
    collection error in ``meta_tests/test_plots.py``)."""
    if Path(collection_path).resolve() == PACKAGE_DIR / "meta_tests" and (config.getoption("--parity-only") or given(_values(config))):
        return True
    return None


def pytest_collection_modifyitems(config, items):
    """With ``--parity-only`` or any plug-in option, keep only the parity rows of those
    families: ``pytest --pyargs parity_tests --rnn-impl mod:Cls`` runs the tests of your class,
    not the harness's tests of itself."""
    only = config.getoption("--parity-only")
    values = _values(config)
    if only:
        families = {f.strip() for f in only.split(",") if f.strip()}
    elif given(values):
        families = set(families_checked(values))
    else:
        return
    keep, drop = [], []
    for item in items:
        # A parity test of the plug-in: it takes the classes under test (``parity_impls``) and
        # a row of the table. Meta tests that also take a row (the harness's own classes on
        # every row) are the harness's tests of itself, not of the plug-in.
        row = getattr(getattr(item, "callspec", None), "params", {}).get("row")
        ours = "parity_impls" in getattr(item, "fixturenames", ())
        (keep if ours and getattr(row, "family", None) in families else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_runtest_setup(item):
    if item.config.stash.get(ACTIVE, False) and getattr(item, "module", None) is not None:
        from .core import messages

        messages.CURRENT_TEST = _test_name(item)


def _test_name(item) -> str:
    """``module::test[id]``: a test named so that ``pytest --pyargs`` finds it from any folder."""
    return f"{item.module.__name__}::{item.name}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A parity failure reads as its message, not as a traceback: the harness's and
    hypothesis' frames say nothing about the user's code, so the report is the message (the
    comparison, the diagnosis, how to reproduce) and hypothesis' notes (the falsifying
    example, the reproduce_failure blob). Anything else keeps pytest's usual traceback."""
    report = yield
    if call.excinfo is None or not report.failed or not item.config.stash.get(ACTIVE, False):
        return report
    from .core.contract import ContractViolation, ImplementationError
    from .core.messages import ParityMismatch

    exc = call.excinfo.value
    leaves = list(exc.exceptions) if isinstance(exc, BaseExceptionGroup) else [exc]
    if leaves and all(isinstance(e, (ParityMismatch, ContractViolation, ImplementationError)) for e in leaves):
        parts = []
        if len(leaves) > 1:
            parts.append(f"{exc}")
        for e in leaves:
            parts.append(f"{type(e).__name__}: {e}")
            parts.extend(getattr(e, "__notes__", []))
        parts.extend(n for n in getattr(exc, "__notes__", []) if exc is not leaves[0])
        report.longrepr = "\n".join(parts)
    return report


@pytest.fixture(scope="session")
def parity_impls(pytestconfig) -> dict:
    """family name -> the class under test (``--rnn-impl``, ``--cell-impl``, ...)."""
    _activate(pytestconfig)
    return pytestconfig.stash[IMPLS]


@pytest.fixture
def record_declined(request):
    """``record_declined(reasons, checked)``: configurations the implementation declined
    with NotImplementedError, kept on the test report (so they survive pytest-xdist) and
    listed in the terminal summary beside how many examples of the same test were checked
    (a count of declined ones alone does not say whether the row was tested at all)."""

    def record(reasons, checked: int):
        if reasons:  # one line per row (core/messages.declined_summary), not one per reason
            from .core.messages import declined_summary

            request.node.user_properties.append(("parity_declined", declined_summary(reasons, checked)))
        if reasons:  # named as the repro line names it: a node id run from a user's folder is "::test[...]"
            request.node.user_properties.append(("parity_test_name", _test_name(request.node)))

    return record


def pytest_report_header(config):
    if not config.stash.get(ACTIVE, False):
        return None
    from hypothesis import settings

    from .families import CATALOG, entry

    values = _values(config)
    # With plug-ins given, only their families run: name those, not scratch's defaults for
    # the families that are not run (a newcomer read them as being checked too).
    shown = [entry(name) for name in families_checked(values)] or CATALOG
    opts = ", ".join(f"{e.option} {values[e.option] or e.default_impl}" for e in shown)
    for flag in ("--convention", "--reduction"):
        if values.get(flag) and not (flag == "--reduction" and values[flag] == "sum"):
            opts += f", {flag} {values[flag]}"
    # The labelings the gated plug-ins are checked under, and which plug-ins each reaches: one
    # --gate-order or --gru-update serves every plug-in of its kind (a GRU layer and a GRUCell
    # alike; a newcomer checked a Keras-style layer and a torch-style cell in one run).
    checked = families_checked(values)

    def reaches(*kinds):
        from .families.gated_conventions import GATED_FAMILIES

        fams = [e.option for e in CATALOG if e.name in checked and GATED_FAMILIES.get(e.name) in kinds]
        return f" (for {' and '.join(fams)})" if len(fams) > 1 else ""

    if values.get("--gate-order"):
        from .families.gated_conventions import gate_orders

        kinds_of: dict = {}
        for kind, order in gate_orders(values["--gate-order"]).items():
            kinds_of.setdefault(order, []).append(kind)
        for order, kinds in kinds_of.items():
            opts += f", --gate-order {order}{reaches(*kinds)}"
    if (values.get("--gru-update") or "torch") != "torch":
        opts += f", --gru-update {values['--gru-update']}{reaches('gru')}"
    if values.get("--strict-dtype"):
        opts += ", --strict-dtype"
    return (f"rnn-parity: {opts}, hypothesis profile {settings.get_current_profile_name()}, "
            f"torch {__import__('torch').__version__}")


class _DeclinedCollector:
    """Gathers the declined configurations from the test reports (on the xdist controller
    too: user_properties travel with the report)."""

    def __init__(self, store: dict):
        self.store = store

    def pytest_runtest_logreport(self, report):
        declined = [v for k, v in report.user_properties if k == "parity_declined"]
        if declined and report.when == "call":
            name = next((v for k, v in report.user_properties if k == "parity_test_name"), report.nodeid)
            self.store.setdefault(name, []).extend(declined)


def pytest_sessionfinish(session):
    """--parity-json: each xdist worker writes its part; the controller (or a plain run)
    merges the parts with its own records into PATH (core/messages.json_document)."""
    import json

    path = session.config.getoption("--parity-json")
    if not path:
        return
    from . import properties
    from .core.messages import json_document

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    records = properties.RECORD or []
    worker = getattr(session.config, "workerinput", None)
    if worker is not None:
        Path(f"{path}.part-{worker['workerid']}").write_text(json.dumps(records))
        return
    for part in sorted(path.parent.glob(path.name + ".part-*")):
        records += json.loads(part.read_text())
        part.unlink()
    path.write_text(json.dumps(json_document(records, source="pytest"), indent=1))


def pytest_terminal_summary(terminalreporter, config):
    declined = config.stash.get(DECLINED, {})
    if declined:
        terminalreporter.section("configurations the implementation declined (not tested)")
        for nodeid, reasons in declined.items():
            for reason in dict.fromkeys(reasons):
                terminalreporter.line(f"{nodeid}: {reason}")
