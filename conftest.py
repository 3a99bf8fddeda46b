"""pytest configuration for rnn-parity: plug-in options, hypothesis profiles, thread pinning.

    pytest                                  # the project's own scratch.RNN / scratch.RNNCell
    pytest --rnn-impl mymodule:MyRNN        # your RNN under the contract (README)
    pytest --cell-impl mymodule:MyCell      # your RNNCell under the contract
    pytest --hypothesis-profile thorough    # deep run (profiles: ci, dev, thorough)
"""

import os
from collections import Counter

# One BLAS / OpenMP thread per process, set before numpy or torch is imported: under
# pytest-xdist every worker is its own process, and two workers each spawning a thread per
# core oversubscribe a 2-core machine many times over.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

torch.set_num_threads(1)

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


def pytest_addoption(parser):
    group = parser.getgroup("rnn-parity")
    group.addoption(
        "--rnn-impl",
        default="scratch:RNN",
        metavar="module:Class",
        help="RNN class to check against torch.nn.RNN (default: scratch:RNN)",
    )
    group.addoption(
        "--convention",
        default=None,
        choices=["column", "rows"],
        help="--rnn-impl is written in a learner's convention; wrap it with that adapter "
        "(parity_tests/adapters.py: column = seeds 000/001, rows = seed 003)",
    )
    group.addoption(
        "--parity-json",
        default=None,
        metavar="PATH",
        help="write every parity comparison (each checked case, pass or fail) to PATH as JSON",
    )
    group.addoption(
        "--cell-impl",
        default="scratch:RNNCell",
        metavar="module:Class",
        help="RNNCell class to check against torch.nn.RNNCell (default: scratch:RNNCell)",
    )


def pytest_configure(config):
    # Warm torch up once per process (each xdist worker runs this too).
    rnn = torch.nn.RNN(2, 3, dtype=torch.float64)
    out, h = rnn(torch.zeros(2, 1, 2, dtype=torch.float64, requires_grad=True))
    (out.sum() + h.sum()).backward()
    np.zeros(1) @ np.zeros(1)
    # Resolve the implementations now, so a bad --rnn-impl is one usage error, not an
    # error in every test.
    config._parity_impls = {opt: _load(config, opt) for opt in ("--rnn-impl", "--cell-impl")}
    if config.getoption("--parity-json"):
        from parity_tests import harness

        harness.RECORD = []
    if config.getoption("--convention"):
        from parity_tests.adapters import adapt

        config._parity_impls["--rnn-impl"] = adapt(config._parity_impls["--rnn-impl"], config.getoption("--convention"))


def _load(config, option):
    from parity_tests.contract import load_impl

    try:
        return load_impl(config.getoption(option))
    except ValueError as exc:
        raise pytest.UsageError(f"{option}: {exc}") from None


@pytest.fixture(scope="session")
def rnn_impl(pytestconfig):
    """The RNN class under test (``--rnn-impl``)."""
    return pytestconfig._parity_impls["--rnn-impl"]


@pytest.fixture(scope="session")
def cell_impl(pytestconfig):
    """The RNNCell class under test (``--cell-impl``)."""
    return pytestconfig._parity_impls["--cell-impl"]


@pytest.fixture
def record_declined(request):
    """``record_declined(reasons)``: configurations the implementation declined with
    NotImplementedError, kept on the test report (so they survive pytest-xdist) and
    listed in the terminal summary."""

    def record(reasons):
        for reason, n in Counter(reasons).items():
            request.node.user_properties.append(("parity_declined", f"{n} example(s): {reason}"))

    return record


def pytest_runtest_logreport(report):
    declined = [v for k, v in report.user_properties if k == "parity_declined"]
    if declined and report.when == "call":
        _DECLINED.setdefault(report.nodeid, []).extend(declined)


_DECLINED: dict = {}


def pytest_report_header(config):
    conv = config.getoption("--convention")
    return (
        f"rnn-parity: --rnn-impl {config.getoption('--rnn-impl')}{f' --convention {conv}' if conv else ''}, "
        f"--cell-impl {config.getoption('--cell-impl')}, hypothesis profile "
        f"{settings._current_profile}, torch {torch.__version__}"
    )


def pytest_sessionfinish(session):
    """--parity-json: each xdist worker writes its part; the controller (or a plain run)
    merges the parts with its own records into PATH."""
    import json
    from pathlib import Path

    path = session.config.getoption("--parity-json")
    if not path:
        return
    from parity_tests import harness

    records = harness.RECORD or []
    worker = getattr(session.config, "workerinput", None)
    if worker is not None:
        Path(f"{path}.part-{worker['workerid']}").write_text(json.dumps(records))
        return
    for part in sorted(Path(path).parent.glob(Path(path).name + ".part-*")):
        records += json.loads(part.read_text())
        part.unlink()
    summary = {"cases": len(records), "failed": sum(not r["passed"] for r in records)}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps({"summary": summary, "records": records}, indent=1))


def pytest_terminal_summary(terminalreporter, config):
    if _DECLINED:
        terminalreporter.section("configurations the implementation declined (not tested)")
        for nodeid, reasons in _DECLINED.items():
            for reason in dict.fromkeys(reasons):
                terminalreporter.line(f"{nodeid}: {reason}")
