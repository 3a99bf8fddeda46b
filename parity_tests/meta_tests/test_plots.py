"""The pictures (``tools/plots.py``) for every family: each family draws (matplotlib Agg), a
gated gradient gets one panel per gate named after it, the PNG files exist and are not
empty, and a gate-order bug shows in the swapped gates' panels and nowhere else.

The assertions are on the data behind the panels (``plots.Picture``), never on pixels.

Why the gate-order pictures use weights whose two swapped gates have equal rows. A class
that reads torch's stacked rows in the wrong order (``GATED_PLANTED``'s
``lstm_gate_order_i_f``, ``gru_gate_order_r_z``, and ``LSTMCellIFOG`` used without its
adapter: g and o swapped) computes a different model on generic weights, so its forward
differs and every gradient with it: the picture then rightly shows the forward results first
and is red everywhere. With the two gates' rows (of W_ih, W_hh and both biases) made equal,
the two pre-activations are equal, so the swapped reading computes torch's forward exactly
(for i/f and r/z the same sigmoid, for g/o tanh and sigmoid of the same pre-activation land
where torch puts them), and its input and state gradients too (they sum da_gate W_gate over
the gates, and the swapped W blocks are equal). What is left is where it writes each gate's
weight gradient: gate a's gradient into gate b's rows and back. So exactly the two swapped
gates' panels of every stacked parameter gradient must exceed the budget, and every other
panel (the results, dx, the states, the other gates) must stay within it. The rows keep the
l1-norm the case scaled them to (``core/cases.weights``), so the conditioning argument of
``families/gated_common.py`` holds unchanged.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from parity_tests.core.cases import Case  # noqa: E402
from parity_tests.core.compare import compare_all  # noqa: E402
from parity_tests.core.contract import load_impl, run_impl  # noqa: E402
from parity_tests.core.dtypes import strict_dtype  # noqa: E402
from parity_tests.core.family import flat  # noqa: E402
from parity_tests.core.runs import Run, reference, run_both  # noqa: E402
from parity_tests.families import FAMILIES  # noqa: E402
from parity_tests.families.gated_common import GRU_GATES, LSTM_GATES  # noqa: E402
from parity_tests.families.gru import GRUConfig  # noqa: E402
from parity_tests.families.gru_cell import GRUCellConfig  # noqa: E402
from parity_tests.families.lstm import LSTMConfig  # noqa: E402
from parity_tests.families.lstm_cell import LSTMCellConfig  # noqa: E402
from parity_tests.families.rnn import RNNConfig  # noqa: E402
from parity_tests.families.rnn_cell import CellConfig  # noqa: E402
from parity_tests.planted import gated  # noqa: E402
from parity_tests.planted.gated import GATED_PLANTED  # noqa: E402
from parity_tests.tools import plots  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# One case per family, with every kind of tensor its picture has: several layers, both
# directions and batch_first for the layers (states drawn per layer and direction, sequences
# transposed to time-major), a projection for the LSTM (weight_hr: one panel, no gate).
FAMILY_CASES = {
    "rnn": (Case(RNNConfig(input_size=3, hidden_size=4, num_layers=2, bidirectional=True, batch_first=True,
                           seq_len=4, batch=2), seed=1), ()),
    "rnn_cell": (Case(CellConfig(input_size=3, hidden_size=4, batch=3), seed=1), ()),
    "lstm": (Case(LSTMConfig(input_size=3, hidden_size=4, proj_size=2, num_layers=2, bidirectional=True,
                             batch_first=True, seq_len=4, batch=3), seed=1), LSTM_GATES),
    "gru": (Case(GRUConfig(input_size=3, hidden_size=4, num_layers=2, bidirectional=True, seq_len=4, batch=2),
                 seed=1), GRU_GATES),
    "lstm_cell": (Case(LSTMCellConfig(input_size=3, hidden_size=4, batch=3), seed=1), LSTM_GATES),
    "gru_cell": (Case(GRUCellConfig(input_size=3, hidden_size=4, batch=3), seed=1), GRU_GATES),
}


def _titles(fig) -> list[str]:
    return [ax.get_title() for ax in fig.axes]


@pytest.mark.parametrize("family", list(FAMILY_CASES))
def test_every_family_draws_a_png_with_every_tensor(family, tmp_path):
    import matplotlib.pyplot as plt

    case, gates = FAMILY_CASES[family]
    cls = load_impl(FAMILIES[family].default_impl)
    run = run_both(cls, case)
    picture = plots.parity_picture(run, cls)
    fam = FAMILIES[family]
    # every result and input gradient has its panel, in the family's causal order (c_n and
    # dc0 for the LSTM, c_next and dc for its cell)
    assert [p.tensor for p in picture.results] == [n for n in flat(fam.forward_returns) + flat(fam.backward_returns)]
    assert picture.gates == gates
    # scratch is correct: nothing in the picture exceeds the budget
    assert all(p.worst <= 1.0 for p in picture.results + [q for row in picture.params for q in row])
    fig = plots.draw_picture(picture)
    try:
        titles = _titles(fig)
        for p in picture.results:
            assert any(t.startswith(p.tensor) for t in titles), (p.tensor, titles)
    except BaseException:
        plt.close(fig)
        raise
    path = plots.save_figure(fig, tmp_path / "sub" / f"{family}.png")  # what plot_parity writes
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 20_000


def test_plot_parity_returns_the_comparisons_in_causal_order(tmp_path):
    case, _ = FAMILY_CASES["lstm_cell"]
    cls = gated.LSTMCellForgetGradUsesCt
    comparisons = plots.plot_parity(cls, case, tmp_path / "p.png")
    assert [c.tensor for c in comparisons] == [c.tensor for c in run_both(cls, case).comparisons]
    assert [c.tensor for c in comparisons if not c.passed][0] == "dx"


def test_cell_and_layer_axes():
    """A cell's tensors are drawn unit (y) by batch (x); a layer's sequences unit by time step
    (batch_first transposed back), its states unit by layer and direction."""
    case, _ = FAMILY_CASES["gru_cell"]
    picture = plots.parity_picture(run_both(load_impl(FAMILIES["gru_cell"].default_impl), case))
    B, H, I = case.config.batch, case.config.hidden_size, case.config.input_size
    assert picture.panel("h_next").ratio.shape == (H, B) and picture.panel("h_next").xlabel == "batch"
    assert picture.panel("dx").ratio.shape == (I, B) and picture.panel("dx").ylabel == "input feature"

    case, _ = FAMILY_CASES["lstm"]
    c = case.config
    picture = plots.parity_picture(run_both(load_impl(FAMILIES["lstm"].default_impl), case))
    assert picture.panel("output").ratio.shape == (2 * c.proj_size, c.seq_len)
    assert picture.panel("dx").ratio.shape == (c.input_size, c.seq_len)
    assert picture.panel("h_n").ratio.shape == (c.proj_size, 4) and picture.panel("c_n").ratio.shape == (4, 4)
    assert picture.panel("dc0").xticklabels == ["l0 fwd", "l0 rev", "l1 fwd", "l1 rev"]
    assert set(picture.steps) == {"output", "dx"} and len(picture.steps["dx"]) == c.seq_len


@pytest.mark.parametrize("family", ["lstm", "gru", "lstm_cell", "gru_cell"])
def test_a_gated_gradient_gets_one_panel_per_gate_named_after_it(family):
    import matplotlib.pyplot as plt

    case, gates = FAMILY_CASES[family]
    cls = load_impl(FAMILIES[family].default_impl)
    run = run_both(cls, case)
    picture = plots.parity_picture(run, cls)
    H = case.config.hidden_size
    shown = [row[0].tensor for row in picture.params]
    assert shown and all(plots.param_group(t) == plots.param_group(shown[0]) for t in shown)
    by_name = {c.tensor: c for c in run.comparisons}
    for row in picture.params:
        tensor = row[0].tensor
        full = plots.error_over_allowed(run.mine[tensor], run.ref[tensor], by_name[tensor].allowed_abs)
        if "weight_hr" in tensor:  # the projection is not stacked by gate: one panel
            assert [p.gate for p in row] == [None]
            continue
        assert [p.gate for p in row] == list(gates), tensor
        for k, p in enumerate(row):
            assert f"gate {gates[k]}" in p.title and p.ylabel == f"unit (gate {gates[k]})"
            # the panel's data is exactly the gate's block of rows of the error / allowed
            block = full[k * H:(k + 1) * H]
            np.testing.assert_array_equal(p.ratio, block[:, None] if block.ndim == 1 else block)
    # the gate table has one column per gate and one row per parameter gradient
    grads = [c.tensor for c in run.comparisons if c.tensor.startswith("grad ")]
    assert picture.gate_table.shape == (len(grads), len(gates))
    fig = plots.draw_picture(picture)
    try:
        titles = _titles(fig)
        for g in gates:
            assert sum(f": gate {g}\n" in t for t in titles) == sum(1 for row in picture.params if row[0].gate)
    finally:
        plt.close(fig)


def _tie_rows(params: dict, gates: tuple, a: str, b: str) -> dict:
    """Gate b's rows made equal to gate a's in every stacked parameter (a new dict)."""
    out = {}
    for name, value in params.items():
        value = np.array(value)
        if "_hr" not in name:
            H = value.shape[0] // len(gates)
            ia, ib = gates.index(a), gates.index(b)
            value[ib * H:(ib + 1) * H] = value[ia * H:(ia + 1) * H]
        out[name] = value
    return out


def _run_with_tied_gates(cls, case, gates, a, b) -> Run:
    """``core.runs.run_both`` on the case's arrays with gates a and b tied (module docstring)."""
    fam = case.family
    arrays = case.materialize()
    arrays["params"] = _tie_rows(arrays["params"], gates, a, b)
    mine = run_impl(cls, case, arrays)
    ref = reference(case, arrays)
    bounds = fam.bounds(case, arrays)
    comparisons = compare_all(mine, ref, bounds, dtype=arrays["x"].dtype,
                              locate=lambda t, i: fam.locate(case.config, t, i), strict_dtype=strict_dtype(cls))
    return Run(case, arrays, mine, ref, bounds, comparisons)


_BY_NAME = {p.name: p for p in GATED_PLANTED}
# (what, class, family, gates, the two gates it swaps)
GATE_ORDER_BUGS = [
    ("lstm_gate_order_i_f", _BY_NAME["lstm_gate_order_i_f"].cls, "lstm", LSTM_GATES, ("i", "f")),
    ("gru_gate_order_r_z", _BY_NAME["gru_gate_order_r_z"].cls, "gru", GRU_GATES, ("r", "z")),
    ("lstm_cell_ifog_unadapted", gated.LSTMCellIFOG, "lstm_cell", LSTM_GATES, ("g", "o")),
]


@pytest.mark.parametrize("what, cls, family, gates, swapped", GATE_ORDER_BUGS, ids=[b[0] for b in GATE_ORDER_BUGS])
def test_a_gate_order_bug_shows_in_the_swapped_gates_panels_only(what, cls, family, gates, swapped, tmp_path):
    base = dict(gated.GATED_BASE[family])
    config = FAMILIES[family].config_cls(**base)
    case = Case(config, seed=7)
    run = _run_with_tied_gates(cls, case, gates, *swapped)
    # a correct class on the same tied weights passes everywhere: the tie is no false alarm
    correct = _run_with_tied_gates(load_impl(FAMILIES[family].default_impl), case, gates, *swapped)
    assert all(c.passed for c in correct.comparisons)

    picture = plots.plot_run(run, tmp_path / f"{what}.png", cls)
    assert (tmp_path / f"{what}.png").read_bytes()[:8] == PNG_MAGIC
    assert all(p.worst <= 1.0 for p in picture.results), [(p.tensor, p.worst) for p in picture.results]
    assert picture.params, "no parameter gradients shown"
    for row in picture.params:
        for p in row:
            if p.gate in swapped:
                assert p.worst > 1.0, (p.tensor, p.gate, p.worst)
            else:
                assert p.worst <= 1.0, (p.tensor, p.gate, p.worst)
    # the gate table agrees over every parameter gradient of every layer and direction
    cols = [gates.index(g) for g in swapped]
    others = [k for k in range(len(gates)) if k not in cols]
    assert np.all(picture.gate_table[:, cols] > 1.0) and np.all(picture.gate_table[:, others] <= 1.0)


def test_a_gate_order_bug_on_generic_weights_shows_in_forward_first():
    """Without the tie the swapped reading is another model: the picture's first red panel is
    the output (the causal order), as the message's first tensor is."""
    p = _BY_NAME["lstm_gate_order_i_f"]
    picture = plots.parity_picture(run_both(p.cls, Case(LSTMConfig(**gated.GATED_BASE["lstm"]), seed=7)), p.cls)
    assert picture.results[0].tensor == "output" and picture.results[0].worst > 1.0


# ---------------------------------------------------------------------------------------
# One picture per family (the report's --png).
# ---------------------------------------------------------------------------------------
def test_family_png_names():
    assert plots.family_png("report/parity.png", "lstm_cell").as_posix() == "report/parity_lstm_cell.png"
    assert plots.family_png("out", "gru").as_posix() == "out_gru.png"


def test_plot_families_writes_one_png_per_family(tmp_path):
    picks = {name: (load_impl(FAMILIES[name].default_impl), FAMILY_CASES[name][0]) for name in ("rnn_cell", "gru")}
    printed = []
    written = plots.plot_families(picks, tmp_path / "parity.png", out=printed.append)
    assert written == {name: tmp_path / f"parity_{name}.png" for name in picks}
    for path in written.values():
        data = path.read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 20_000
    assert len(printed) == 2 and all(line.startswith("wrote ") for line in printed)


def test_plot_families_falls_back_to_a_case_the_plugin_accepts(tmp_path):
    """No case given: the most capable report case first; a plug-in that declines it (here
    bidirectional) is drawn at the next one it accepts."""
    from parity_tests.planted.broken import NoBidirectional

    candidates = plots.representative_cases(FAMILIES["rnn"])
    assert candidates[0].config.bidirectional and candidates[0].config.dtype == "float64"
    printed = []
    written = plots.plot_families({"rnn": (NoBidirectional, None)}, tmp_path / "p.png", out=printed.append)
    assert written == {"rnn": tmp_path / "p_rnn.png"} and written["rnn"].stat().st_size > 20_000
    assert "bidirectional" not in printed[0].split("(rnn:")[1].replace("unidirectional", "")


def test_plot_families_says_why_there_is_no_picture(tmp_path):
    class DeclinesEverything:
        def __init__(self, *args, **kwargs):
            raise NotImplementedError("nothing implemented")

    printed = []
    assert plots.plot_families({"gru_cell": (DeclinesEverything, None)}, tmp_path / "p.png", out=printed.append) == {}
    assert len(printed) == 1 and printed[0].startswith("no picture for gru_cell: declined every case")
    assert printed[0].endswith("nothing implemented")
    assert not (tmp_path / "p_gru_cell.png").exists()
