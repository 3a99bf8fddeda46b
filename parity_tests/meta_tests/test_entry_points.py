"""The command-line entry points behind make targets work (no timing is asserted)."""

import json


def test_report_passes_on_scratch_and_prints_every_tensor(tmp_path, capsys):
    from parity_tests.tools.report import main

    from parity_tests.families import ROWS

    from parity_tests.tools.report import report_cases

    assert main(["--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    n = sum(len(report_cases(row, 0)) for row in ROWS)  # a row may show several configurations
    assert n > len(ROWS)
    assert f"{n} of {n} configurations pass, 0 fail, 0 break the contract, 0 declined" in out
    assert "grad bias_hh_l1_reverse" in out and "max abs err" in out and "allowed abs" in out
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["counts"] == {"passed": n, "failed": 0, "declined": 0, "contract": 0}
    assert list(dict.fromkeys(r["name"] for r in data["rows"])) == [r.name for r in ROWS]
    assert all(r["verdict"] == "pass" for r in data["rows"])


def test_report_exits_nonzero_on_a_planted_bug(capsys):
    from parity_tests.tools.report import main

    assert main(["--rnn-impl", "parity_tests.planted.bugs:SignFlippedDx"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_bench_smoke_writes_results(tmp_path, capsys):
    from parity_tests.tools.bench import main

    out = tmp_path / "results.json"
    assert main(["--quick", "--only", "tiny", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert {r["dtype"] for r in data["results"]} == {"float32", "float64"}
    for r in data["results"]:
        assert r["scratch_ms"] > 0 and r["torch_ms"] > 0
        # The memory claim (README, "Performance"): the layer buffer is both the output and
        # the BPTT cache, so the cache is the hidden states plus each direction's h0 row:
        # (T + 2) / T of the minimum L * D * T * B * H values for one layer of one direction.
        itemsize = {"float32": 4, "float64": 8}[r["dtype"]]
        assert r["min_cache_bytes"] == r["T"] * r["B"] * r["H"] * itemsize
        assert r["cache_bytes"] == (r["T"] + 2) * r["B"] * r["H"] * itemsize
    assert "cache/min" in capsys.readouterr().out


def test_repro_reruns_a_printed_case(capsys):
    from parity_tests.tools.repro import main

    case = "Case(config=RNNConfig(input_size=2, hidden_size=3, num_layers=2, bidirectional=True), seed=4)"
    assert main(["--rnn-impl", "rnn_parity.scratch:RNN", case]) == 0
    assert "every tensor within tolerance" in capsys.readouterr().out


def test_report_offers_a_class_without_projection_a_stacked_bidirectional_lstm():
    """A newcomer's LSTM that declines ``proj_size`` still gets a 2-layer bidirectional case in
    the report, float64, checked and passed (every such case used to be projected)."""
    from rnn_parity.scratch import LSTM

    from parity_tests.tools.report import run_report

    class NoProjection(LSTM):
        def __init__(self, *args, proj_size=0, **kwargs):
            if proj_size:
                raise NotImplementedError("no projection")
            super().__init__(*args, **kwargs)

    counts, records, _ = run_report({"lstm": NoProjection}, ["lstm"], out=lambda line: None)
    assert counts["failed"] == counts["contract"] == 0 and counts["declined"] >= 1
    stacked_bidir = [r for r in records if r["verdict"] == "pass" and r["config"]["num_layers"] >= 2
                     and r["config"]["bidirectional"] and r["config"]["dtype"] == "float64"]
    assert stacked_bidir, [(r["name"], r["verdict"]) for r in records]
