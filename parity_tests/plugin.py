"""The pytest plugin of rnn-parity: plug-in options, hypothesis profiles, thread pinning,
declined configurations, ``--parity-json``. The repository's ``conftest.py`` loads it.

    pytest                                  # the project's own scratch.RNN / scratch.RNNCell
    pytest --rnn-impl mymodule:MyRNN        # your RNN under the contract (README)
    pytest --cell-impl mymodule:MyCell      # your RNNCell under the contract
    pytest --hypothesis-profile thorough    # deep run (profiles: ci, dev, thorough)

Every family record names its option (``--rnn-impl``, ...); the options are parsed once, in
``pytest_configure``, and the classes kept in ``config.stash``.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest

from .core.threads import pin_threads

pin_threads()  # before numpy or torch is imported (core/threads.py says why)

from hypothesis import HealthCheck, settings  # noqa: E402

# ---------------------------------------------------------------------------------------
# Hypothesis profiles. `--hypothesis-profile NAME` (hypothesis' own option) overrides the
# default, which is `ci` when the CI environment variable is set and `dev` otherwise.
#   ci        bounded and derandomized: the same examples every run, so CI is reproducible
#   dev       random exploration at a moderate budget, with the example database
#   thorough  deep runs for zero-false-alarm checks (use with --hypothesis-seed=N)
# The deadline catches a hang or a pathological slowdown, not ordinary jitter; first-call
# latency (torch's lazy initialisation) is paid by the warm-up in pytest_configure.
# ---------------------------------------------------------------------------------------
_common = dict(print_blob=True, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=30, derandomize=True, deadline=5000, **_common)
settings.register_profile("dev", max_examples=60, deadline=2000, **_common)
settings.register_profile("thorough", max_examples=600, deadline=None, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

IMPLS = pytest.StashKey[dict]()  # family name -> the class under test
DECLINED = pytest.StashKey[dict]()  # node id -> reasons the implementation declined


def _families():
    from .families import FAMILIES

    return FAMILIES


def pytest_addoption(parser):
    group = parser.getgroup("rnn-parity")
    for fam in _families().values():
        group.addoption(fam.option, default=fam.default_impl, metavar="module:Class",
                        help=f"class to check against {fam.torch_name} (default: {fam.default_impl})")
    group.addoption(
        "--convention",
        default=None,
        choices=["column", "rows"],
        help="--rnn-impl is written in a learner's convention; wrap it with that adapter "
        "(parity_tests/families/conventions.py: column = seeds 000/001, rows = seed 003)",
    )
    group.addoption(
        "--parity-json",
        default=None,
        metavar="PATH",
        help="write every parity comparison (each checked case, pass or fail) to PATH as JSON",
    )


def pytest_configure(config):
    import numpy as np
    import torch

    from . import properties
    from .core.contract import load_impl

    pin_threads()  # torch is imported now: its own pool too
    # Warm torch up once per process (each xdist worker runs this too).
    rnn = torch.nn.RNN(2, 3, dtype=torch.float64)
    out, h = rnn(torch.zeros(2, 1, 2, dtype=torch.float64, requires_grad=True))
    (out.sum() + h.sum()).backward()
    np.zeros(1) @ np.zeros(1)
    # Resolve the implementations now, so a bad option is one usage error, not an error in
    # every test.
    impls = {}
    for fam in _families().values():
        try:
            impls[fam.name] = load_impl(config.getoption(fam.option))
        except ValueError as exc:
            raise pytest.UsageError(f"{fam.option}: {exc}") from None
    if config.getoption("--convention"):
        from .families.conventions import adapt

        impls["rnn"] = adapt(impls["rnn"], config.getoption("--convention"))
    config.stash[IMPLS] = impls
    config.stash[DECLINED] = {}
    config.pluginmanager.register(_DeclinedCollector(config.stash[DECLINED]), "rnn-parity-declined")
    if config.getoption("--parity-json"):
        properties.RECORD = []


@pytest.fixture(scope="session")
def parity_impls(pytestconfig) -> dict:
    """family name -> the class under test (``--rnn-impl``, ``--cell-impl``, ...)."""
    return pytestconfig.stash[IMPLS]


@pytest.fixture
def record_declined(request):
    """``record_declined(reasons)``: configurations the implementation declined with
    NotImplementedError, kept on the test report (so they survive pytest-xdist) and
    listed in the terminal summary."""

    def record(reasons):
        for reason, n in Counter(reasons).items():
            request.node.user_properties.append(("parity_declined", f"{n} example(s): {reason}"))

    return record


def pytest_report_header(config):
    conv = config.getoption("--convention")
    opts = ", ".join(f"{f.option} {config.getoption(f.option)}" for f in _families().values())
    return (f"rnn-parity: {opts}{f', --convention {conv}' if conv else ''}, hypothesis profile "
            f"{settings.get_current_profile_name()}, torch {__import__('torch').__version__}")


class _DeclinedCollector:
    """Gathers the declined configurations from the test reports (on the xdist controller
    too: user_properties travel with the report)."""

    def __init__(self, store: dict):
        self.store = store

    def pytest_runtest_logreport(self, report):
        declined = [v for k, v in report.user_properties if k == "parity_declined"]
        if declined and report.when == "call":
            self.store.setdefault(report.nodeid, []).extend(declined)


def pytest_sessionfinish(session):
    """--parity-json: each xdist worker writes its part; the controller (or a plain run)
    merges the parts with its own records into PATH."""
    import json
    from pathlib import Path

    from . import properties

    path = session.config.getoption("--parity-json")
    if not path:
        return
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
    counts = Counter(r["verdict"] for r in records)
    summary = {"cases": len(records), "failed": counts.get("fail", 0)}
    path.write_text(json.dumps({"summary": summary, "records": records}, indent=1))


def pytest_terminal_summary(terminalreporter, config):
    declined = config.stash.get(DECLINED, {})
    if declined:
        terminalreporter.section("configurations the implementation declined (not tested)")
        for nodeid, reasons in declined.items():
            for reason in dict.fromkeys(reasons):
                terminalreporter.line(f"{nodeid}: {reason}")
