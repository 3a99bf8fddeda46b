"""The tools behind ``rnn-parity bench``, the parity plot and ``rnn-parity train-demo`` work,
and their command lines reject bad arguments (exit 2 with a message). No timing is asserted:
the bench runs on the tiny size with two repeats, only to check what it writes."""

import contextlib
import io
import json

import numpy as np
import pytest

from parity_tests.tools import bench

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@pytest.fixture(scope="module")
def tiny_bench(tmp_path_factory):
    """One bench run on tiny, every family, 1 thread, while the environment asks for 2:
    the workers report 1 only if the bench really pins them."""
    out = tmp_path_factory.mktemp("bench") / "nested" / "results.json"
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(printed):
        for var in THREAD_VARS:
            mp.setenv(var, "2")
        code = bench.main(["--only", "tiny", "--repeats", "2", "--threads", "1", "--out", str(out)])
    return code, out, printed.getvalue()


def test_bench_tiny_writes_every_field(tiny_bench):
    code, out, printed = tiny_bench
    assert code == 0 and out.exists()
    data = json.loads(out.read_text())
    m = data["machine"]
    assert m["cpu"] and m["cores"] >= 1 and m["python"] and m["numpy"] == np.__version__ and m["torch"]
    assert any(p["user_api"] == "blas" for p in m["blas"])
    assert [(r["family"], r["size"]) for r in data["results"]] == [("rnn", "tiny"), ("lstm", "tiny"), ("gru", "tiny")]
    for r in data["results"]:
        assert r["dtype"] == "float32" and r["threads"] == 1
        assert r["scratch_ms"] > 0 and r["torch_ms"] > 0 and r["floor_ms"] > 0
        assert r["ratio"] == pytest.approx(r["scratch_ms"] / r["torch_ms"], rel=1e-12)
        assert r["floor_fraction"] == pytest.approx(r["floor_ms"] / r["scratch_ms"], rel=1e-12)
        assert r["target"] == bench.TARGETS[r["family"]]["tiny"]
        assert r["meets_target"] == (r["ratio"] <= r["target"])
        assert r["floor_target"] is None and r["meets_floor_target"] is None  # medium and deep only
        assert r["scratch_repeats"] == r["torch_repeats"] == 2
        assert r["same_result"], r["checksum_max_rel_diff"]  # both sides timed the same computation
        assert r["peak_bytes"] > 0
        dims = (r["family"], r["T"], r["B"], r["H"], r["num_layers"], r["bidirectional"])
        assert r["activation_bytes"] == bench.activation_values(*dims) * 4
        assert r["cache_ratio"] == pytest.approx(r["cache_bytes"] / r["min_cache_bytes"])
    rnn = data["results"][0]
    T, B, H = rnn["T"], rnn["B"], rnn["H"]
    assert rnn["cache_bytes"] == (T + 2) * B * H * 4 and rnn["min_cache_bytes"] == T * B * H * 4
    assert "| family | size |" in printed and "| rnn | tiny |" in printed and "cache/min" in printed


def test_bench_workers_report_the_pinned_threads(tiny_bench):
    data = json.loads(tiny_bench[1].read_text())
    sides = {w["side"]: w for w in data["workers"]}
    assert set(sides) == {"scratch", "torch"}
    for w in sides.values():
        assert w["requested_threads"] == 1
        assert w["threadpools"] and all(p["num_threads"] == 1 for p in w["threadpools"])
    assert sides["torch"]["torch_threads"] == 1
    assert all(r["scratch_threads"] == 1 and r["torch_threads"] == 1 for r in data["results"])


def test_bench_worker_pins_two_threads_when_asked(monkeypatch):
    """The other direction (the environment says 1, as under pytest): a scratch worker asked
    for 2 runs with 2 (no torch import: fast)."""
    for var in THREAD_VARS:
        monkeypatch.setenv(var, "1")
    args = bench.build_parser().parse_args(["--family", "rnn", "--only", "tiny", "--repeats", "1"])
    args.dtype = ["float32"]
    report = bench._spawn("scratch", 2, args)
    assert report["threadpools"] and all(p["num_threads"] == 2 for p in report["threadpools"])


def test_activation_formula_and_gemm_floor():
    T, B, H = 7, 3, 5
    assert bench.activation_values("rnn", T, B, H, 1, False) == (T + 1) * B * H
    assert bench.activation_values("rnn", T, B, H, 3, True) == 6 * (T + 1) * B * H
    assert bench.activation_values("lstm", T, B, H, 1, False) == (2 * (T + 1) + 4 * T) * B * H
    assert bench.activation_values("gru", T, B, H, 1, False) == ((T + 1) + 3 * T + T) * B * H
    assert bench.activation_values("rnn", T, B, H, 1, False, initial=False) == T * B * H
    run, shapes = bench.gemm_floor("lstm", T, B, 2, H, 2, True, np.float32)
    run()
    # per layer: input projection, T recurrent, T carried, dW_ih, dW_hh, dx; layer 1 reads D*H.
    # The LSTM's projection and recurrent products are stacked gate by gate (scratch.lstm).
    assert (2 * 4 * T, B, 2, H) in shapes and (2 * 4 * T, B, 2 * H, H) in shapes and (2 * 4 * T, B, H, H) in shapes
    assert (2 * T, B, H, 4 * H) not in shapes and (2, T * B, 2, 4 * H) not in shapes
    # With a bias, scratch's input projection carries it in the GEMM ([x, 1] @ [W^T; b]): the
    # floor replays those products with I + 1 inputs instead.
    run, shapes = bench.gemm_floor("lstm", T, B, 2, H, 2, True, np.float32, bias=True)
    run()
    assert (2 * 4 * T, B, 3, H) in shapes and (2 * 4 * T, B, 2, H) not in shapes
    # The GRU projects gate by gate, each product into its own gate block (scratch.gru.GRUTape).
    run, shapes = bench.gemm_floor("gru", T, B, 2, H, 1, True, np.float32, bias=True)
    run()
    assert (2 * 3, T * B, 3, H) in shapes and (2, T * B, 3, 3 * H) not in shapes
    # ... and its recurrent product is one stacked (B, H) x (3, H, H) product a step.
    assert (2 * 3 * T, B, H, H) in shapes and (2 * T, B, H, 3 * H) not in shapes
    # With threads, scratch runs each direction's blocks of batch rows as units side by side
    # (scratch.parallel): the floor replays the units' products, on their rows.
    from rnn_parity.scratch import parallel

    with parallel.configured(threads=4, min_values=1):
        run, shapes = bench.gemm_floor("lstm", T, 4, 2, H, 1, True, np.float32)
        run()
    assert (2 * 2 * 4 * T, 2, H, H) in shapes and (2 * 4 * T, 4, H, H) not in shapes


# ---------------------------------------------------------------------------------------
# plots
# ---------------------------------------------------------------------------------------
def test_error_over_allowed_maps_the_budget_to_one():
    from parity_tests.tools.plots import VMAX, VMIN, clipped, error_over_allowed

    expected = np.array([[1.0, -2.0], [0.5, 0.0]])
    allowed = 1e-6
    assert np.allclose(error_over_allowed(expected + allowed, expected, allowed), 1.0)
    assert np.allclose(error_over_allowed(expected - 3 * allowed, expected, allowed), 3.0)
    assert np.all(error_over_allowed(expected, expected, allowed) == 0)
    assert error_over_allowed(np.nan, 1.0, allowed) == np.inf
    assert error_over_allowed(1.0, 1.0, 0.0) == 0 and error_over_allowed(1.0 + 1e-300, 0.0, 0.0) == np.inf
    assert list(clipped([0.0, 1.0, np.inf, np.nan, 1e9])) == [VMIN, 1.0, VMAX, VMAX, VMAX]


def test_colour_scale_changes_at_the_budget():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.colors import LogNorm

    from parity_tests.tools.plots import VMAX, VMIN, pass_fail_colormap

    cmap, norm = pass_fail_colormap(), LogNorm(vmin=VMIN, vmax=VMAX)
    below, above = cmap(norm(0.98)), cmap(norm(1.02))
    assert below[2] > below[0] and above[0] > above[2]  # blue just under 1.0, red-orange just over
    assert cmap(norm(VMIN))[:3] != (0.0, 0.0, 0.0)  # an exact match is not black


def test_plot_parity_writes_a_png_for_a_failing_implementation(tmp_path):
    from parity_tests.core.cases import Case
    from parity_tests.families.rnn import RNNConfig
    from parity_tests.tools.plots import plot_parity

    path = tmp_path / "sub" / "parity.png"
    case = Case(RNNConfig(input_size=3, hidden_size=4, seq_len=5, batch=2), seed=1)
    from parity_tests.core.contract import load_impl

    comparisons = plot_parity(load_impl("parity_tests.planted.bugs:NotCarriedThroughTime"), case, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    by_name = {c.tensor: c for c in comparisons}
    assert by_name["output"].passed and not by_name["dx"].passed


# ---------------------------------------------------------------------------------------
# train-demo
# ---------------------------------------------------------------------------------------
def test_train_demo_with_a_given_class(tmp_path, capsys):
    from parity_tests.tools.train_demo import main

    out = tmp_path / "demo.png"
    assert main(["--rnn-impl", "rnn_parity.scratch:RNN", "--steps", "3", "--sine-epochs", "1", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "impl = rnn_parity.scratch" in printed and "trajectories agree: yes (3 run(s) trained" in printed


def test_train_demo_reports_a_diverging_class(tmp_path, capsys):
    from parity_tests.tools.train_demo import main

    args = ["--rnn-impl", "parity_tests.planted.bugs:NotCarriedThroughTime", "--steps", "2", "--sine-epochs", "1",
            "--out", str(tmp_path / "d.png")]
    assert main(args) == 1
    printed = capsys.readouterr().out
    assert "DIVERGED at step 0" in printed and "trajectories agree: NO" in printed


# ---------------------------------------------------------------------------------------
# command lines
# ---------------------------------------------------------------------------------------
BAD = [
    ("bench", ["--threads", "0"], "--threads"),
    ("bench", ["--threads", "two"], "--threads"),
    ("bench", ["--family", "rnn,transformer"], "--family"),
    ("bench", ["--only", "huge"], "--only"),
    ("bench", ["--repeats", "0"], "--repeats"),
    ("bench", ["--dtype", "float16"], "--dtype"),
    ("train_demo", ["--rnn-impl", "no_colon"], "--rnn-impl"),
    ("train_demo", ["--rnn-impl", "no_such_module_xyz:Cls"], "--rnn-impl"),
    ("train_demo", ["--steps", "0"], "--steps"),
    ("train_demo", ["--bogus"], "unrecognized"),
]


@pytest.mark.parametrize("tool, argv, word", BAD, ids=[f"{t}:{' '.join(a)}" for t, a, _ in BAD])
def test_bad_arguments_exit_2_with_a_message(tool, argv, word, capsys):
    import importlib

    main = importlib.import_module(f"parity_tests.tools.{tool}").main
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and word in err


@pytest.mark.parametrize("tool", ["bench", "train_demo"])
def test_help(tool, capsys):
    import importlib

    with pytest.raises(SystemExit) as exc:
        importlib.import_module(f"parity_tests.tools.{tool}").main(["--help"])
    assert exc.value.code == 0
    assert f"usage: rnn-parity {tool.replace('_', '-')}" in capsys.readouterr().out


def test_report_png_without_matplotlib_says_which_extra(monkeypatch, capsys):
    """A newcomer's `report --png` without matplotlib ended in a traceback after the run; it
    now stops before the run and names the extra."""
    import importlib.util

    from parity_tests.tools import report

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    with pytest.raises(SystemExit) as exit_info:
        report.main(["--rnn-impl", "parity_tests.planted.bugs:HiddenStateOffByOne", "--png", "x.png"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--png needs matplotlib" in err and "rnn-parity[plots]" in err
