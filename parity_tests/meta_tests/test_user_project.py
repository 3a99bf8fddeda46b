"""rnn-parity used as a user uses it: from their own folder outside this repository, with the
project's environment, a module of their own, and their own ``reference.py`` and
``scratch.py`` beside it (decoys that share the names of this repository's folders).

``rnn-parity check`` and ``pytest --pyargs parity_tests`` must pass a correct plug-in and
fail (exit 1) a buggy one; the user's own modules must stay theirs (their module imports
them), and the harness must use its own (``rnn_parity.scratch``, ``rnn_parity.reference``).
An unrelated pytest run in a project where rnn-parity is installed must not import torch or
the harness's strategies.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent

# The user's own helpers, named like this repository's folders. If the harness imported
# these instead of its own packages it would crash; if the user's module got the harness's
# packages instead of these, USER_MARK would be missing.
DECOY_REFERENCE = "USER_MARK = 'users own reference.py'\nraise_if_harness_uses_me = True\n"
DECOY_SCRATCH = "USER_MARK = 'users own scratch.py'\n"

MODULE = '''
import numpy as np
import reference  # the user's own reference.py, not the harness's
import scratch    # the user's own scratch.py
assert reference.USER_MARK == "users own reference.py" and scratch.USER_MARK == "users own scratch.py"


class MyRNN:
    """A plain single-layer tanh RNN, time-major, written the way users write it."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, bidirectional=False):
        if num_layers != 1 or nonlinearity != "tanh" or batch_first or bidirectional or not bias:
            raise NotImplementedError("single-layer unidirectional time-major tanh with bias only")
        H, I = hidden_size, input_size
        self.params = {"weight_ih_l0": np.zeros((H, I)), "weight_hh_l0": np.zeros((H, H)),
                       "bias_ih_l0": np.zeros(H), "bias_hh_l0": np.zeros(H)}
        self.grads = {}

    def forward(self, x, h0=None):
        p = self.params
        T, B, _ = x.shape
        h = np.zeros((B, p["weight_hh_l0"].shape[0]), dtype=x.dtype) if h0 is None else h0[0]
        self.x, self.hs = x, [h]
        for t in range(T):
            h = np.tanh(x[t] @ p["weight_ih_l0"].T + h @ p["weight_hh_l0"].T + p["bias_ih_l0"] + p["bias_hh_l0"])
            self.hs.append(h)
        return np.stack(self.hs[1:]), h[None]

    def backward(self, d_output, d_h_n=None):
        p, x, hs = self.params, self.x, self.hs
        g = {k: np.zeros_like(v) for k, v in p.items()}
        dx = np.zeros_like(x)
        dh = np.zeros_like(hs[0]) if d_h_n is None else d_h_n[0].copy()
        for t in reversed(range(x.shape[0])):
            dh = dh + d_output[t]
            da = dh * (1 - hs[t + 1] ** 2)
            g["weight_ih_l0"] += da.T @ x[t]
            g["weight_hh_l0"] += da.T @ hs[t]
            g["bias_ih_l0"] += da.sum(0)
            g["bias_hh_l0"] += da.sum(0)
            dx[t] = da @ p["weight_ih_l0"]
            dh = da @ p["weight_hh_l0"]{BUG}
        self.grads = g
        return dx, dh[None]
'''


@pytest.fixture(scope="module")
def user_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("user_project")
    (d / "reference.py").write_text(DECOY_REFERENCE)
    (d / "scratch.py").write_text(DECOY_SCRATCH)
    (d / "good_rnn.py").write_text(MODULE.replace("{BUG}", ""))
    (d / "bad_rnn.py").write_text(MODULE.replace("{BUG}", " * 0.5  # the classic: a stray factor"))
    # a CS231n student's LSTM functions (a module of functions, imported by name)
    course = Path(__file__).resolve().parents[1] / "learners" / "cs231n_lstm.py"
    (d / "my_layers.py").write_text(course.read_text())
    return d


def _run(cmd, cwd, profile="ci"):
    # The project's environment, but nothing that points back into this repository.
    drop = ("PYTHONPATH", "PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST", "HYPOTHESIS_PROFILE", "CI")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    if profile:
        env.update(HYPOTHESIS_PROFILE=profile)
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_the_folder_is_outside_the_repository(user_dir):
    repo = Path(__file__).resolve().parents[2]
    assert repo not in user_dir.parents


@pytest.mark.parametrize("module, code", [("good_rnn", 0), ("bad_rnn", 1)])
def test_rnn_parity_check_from_the_users_folder(user_dir, module, code):
    proc = _run([str(BIN / "rnn-parity"), "check", "--rnn-impl", f"{module}:MyRNN", "--", "-k", "tanh_basic or no_bias"],
                user_dir)
    out = proc.stdout + proc.stderr
    assert proc.returncode == code, out
    if code == 0:
        assert "1 passed" in out and "1 skipped" in out  # no_bias declined, said as skipped, not failed
    else:
        assert f"dh0 of {module}:MyRNN differs from torch.nn.RNN" in out or f"of {module}:MyRNN differs" in out
        assert f"rnn-parity repro --rnn-impl {module}:MyRNN" in out  # the repro line, pasteable here
        assert "/parity_tests/core/" not in out.split("differs from torch.nn.RNN")[0].split("_ test_parity")[-1]


@pytest.mark.parametrize("module, code", [("good_rnn", 0), ("bad_rnn", 1)])
def test_pytest_pyargs_from_the_users_folder(user_dir, module, code):
    json_path = user_dir / "out" / "new folder" / f"{module}.json"  # a folder that does not exist yet
    proc = _run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--pyargs", "parity_tests",
                 "--rnn-impl", f"{module}:MyRNN", "-k", "tanh_basic", "--parity-json", str(json_path)], user_dir)
    out = proc.stdout + proc.stderr
    assert proc.returncode == code, out
    assert "deselected" in out  # only the plug-in's rows run, not the harness's own tests
    # exactly the one parity row: meta tests that also take a row of the table (the harness's
    # own classes on every row) are not the plug-in's tests (a newcomer ran 45 instead of 22)
    assert f" 1 {'failed' if code else 'passed'}, " in out and " passed, 1 failed" not in out, out
    data = json.loads(json_path.read_text())
    assert data["schema_version"] == 1 and data["counts"]["failed" if code else "passed"] >= 1


def test_pytest_pyargs_without_the_plots_extra(user_dir, tmp_path):
    """A plain install has no matplotlib (the ``plots`` extra): the parity rows must still run.
    Here an importable ``matplotlib`` that raises, ahead of the real one on sys.path, stands
    in for its absence (the harness's picture tests, which import it, are not collected)."""
    (tmp_path / "matplotlib.py").write_text("raise ModuleNotFoundError(\"No module named 'matplotlib'\")\n")
    proc = _run(["env", f"PYTHONPATH={tmp_path}", sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                 "--pyargs", "parity_tests", "--rnn-impl", "good_rnn:MyRNN", "-k", "tanh_basic"], user_dir)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and " 1 passed" in out, out
    assert "matplotlib" not in out, out


def test_a_cs231n_lstm_module_from_the_users_folder(user_dir):
    proc = _run([str(BIN / "rnn-parity"), "check", "--lstm-impl", "my_layers", "--convention", "cs231n",
                 "--", "-k", "lstm_basic or lstm_bidirectional"], user_dir)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "1 passed" in out and "1 skipped" in out, out  # bidirectional: declined
    assert "rnn-parity: --lstm-impl my_layers, --convention cs231n" in out, out


def test_the_default_profile_is_ci_without_the_ci_variable(user_dir):
    """Neither CI nor HYPOTHESIS_PROFILE set, as on a developer's machine: the bounded,
    derandomized ``ci`` profile runs (``make test`` stays the run CI makes)."""
    proc = _run([str(BIN / "rnn-parity"), "check", "--rnn-impl", "good_rnn:MyRNN", "--", "-k", "tanh_basic"],
                user_dir, profile=None)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "hypothesis profile ci" in out, out
    # the header names the plug-in's family, not scratch's defaults for families not run
    header = next(ln for ln in out.splitlines() if ln.startswith("rnn-parity: "))
    assert header.startswith("rnn-parity: --rnn-impl good_rnn:MyRNN, hypothesis profile ci"), header


def test_a_seed_without_a_profile_draws_at_random(user_dir):
    """``ci`` is derandomized and would ignore a seed: --seed alone runs ``dev``; with
    --profile ci it is a usage error."""
    seeded = _run([str(BIN / "rnn-parity"), "check", "--rnn-impl", "good_rnn:MyRNN", "--seed", "3", "--",
                   "-k", "tanh_basic"], user_dir, profile=None)
    assert seeded.returncode == 0 and "hypothesis profile dev" in seeded.stdout, seeded.stdout + seeded.stderr
    both = _run([str(BIN / "rnn-parity"), "check", "--rnn-impl", "good_rnn:MyRNN", "--profile", "ci", "--seed", "3"],
                user_dir, profile=None)
    assert both.returncode == 2 and "--seed has no effect with --profile ci" in both.stderr, both.stderr


def test_the_repro_line_works_from_the_users_folder(user_dir):
    proc = _run([str(BIN / "rnn-parity"), "check", "--rnn-impl", "bad_rnn:MyRNN", "--", "-k", "tanh_basic"], user_dir)
    line = next(ln.strip() for ln in proc.stdout.splitlines() if "rnn-parity repro" in ln)
    line = line[line.index("rnn-parity repro"):]
    repro = _run(["bash", "-c", f"{BIN}/{line}"], user_dir)
    assert repro.returncode == 1, repro.stdout + repro.stderr
    assert "Traceback" not in repro.stdout + repro.stderr
    assert "differs from torch.nn.RNN" in repro.stdout and "max abs err" in repro.stdout
    pytest_line = next(ln.strip() for ln in proc.stdout.splitlines() if ln.strip().startswith("pytest --pyargs"))
    pytest_line = pytest_line.split("   (")[0]
    again = _run(["bash", "-c", f"{BIN}/python -m {pytest_line} -p no:cacheprovider"], user_dir)
    assert again.returncode == 1 and "1 failed" in again.stdout, again.stdout + again.stderr


def test_an_unrelated_pytest_run_stays_light(tmp_path):
    """Installed, the plugin is loaded in every pytest run; without a parity option or test it
    must import neither torch nor the harness's families and strategies."""
    (tmp_path / "test_unrelated.py").write_text(
        "import sys\n\ndef test_nothing_heavy():\n"
        "    heavy = [m for m in ('torch', 'hypothesis.strategies', 'parity_tests.families.rnn', "
        "'parity_tests.core.strategies') if m in sys.modules]\n"
        "    assert not heavy, heavy\n"
    )
    proc = _run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    listed = _run([sys.executable, "-m", "pytest", "--help"], tmp_path)
    assert "--rnn-impl" in listed.stdout  # the plugin is there, its options declared
