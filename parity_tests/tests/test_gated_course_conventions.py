"""An LSTM written as a course's functions, under the LSTM contract (``--lstm-impl my_layers
--convention cs231n``; ``families/conventions._CS231nLSTMAdapter``).

CS231n's ``lstm_forward`` / ``lstm_backward`` start from c0 = 0, return no cell state and take
no gradient on it: the adapter declares ``zero_inputs`` (c0, d_c_n: zeros on both sides) and
``not_returned`` (c_n, dc0: compared nowhere), and ``core.runs`` honours both. Everything else
(output, h_n, dx, dh0, every parameter gradient) is compared as for any LSTM.
"""

import numpy as np
import pytest

from parity_tests.core.cases import Case
from parity_tests.core.contract import ContractViolation, ImplementationError, run_impl
from parity_tests.core.messages import ParityMismatch
from parity_tests.core.runs import run_both, with_zero_inputs
from parity_tests.diagnosis import Probe, suspects
from parity_tests.families import FAMILIES, row_by_name
from parity_tests.families.lstm import LSTMConfig
from parity_tests.options import resolve
from parity_tests.properties import assert_parity, run_property
from rnn_parity import scratch

CORRECT = "parity_tests.learners.cs231n_lstm"
NOT_CARRIED = "parity_tests.learners.cs231n_lstm_not_carried"
DECLINED_ROWS = {"lstm_proj", "lstm_bidirectional", "lstm_multilayer"}  # every draw has layers/directions/P


def _adapted(spec):
    return resolve({"--lstm-impl": spec, "--convention": "cs231n"})["lstm"]


def _case(**config):
    return Case(LSTMConfig(**dict(dict(input_size=3, hidden_size=4, seq_len=5, batch=3), **config)), seed=2)


@pytest.mark.parametrize("row", [r for r in FAMILIES["lstm"].rows], ids=lambda r: r.name)
def test_a_correct_cs231n_lstm_passes_every_row_it_can_express(row):
    ran, declined = run_property(_adapted(CORRECT), row)  # raises on any mismatch
    if row.name in DECLINED_ROWS:
        assert ran == 0 and declined and "single-layer, unidirectional LSTM without projection" in declined[0]
    else:
        assert ran > 0


def test_the_cell_state_it_cannot_give_is_compared_nowhere_and_both_sides_start_from_zero():
    r = run_both(_adapted(CORRECT), _case(batch_first=True))
    names = [c.tensor for c in r.comparisons]
    assert names[:4] == ["output", "h_n", "dx", "dh0"] and "c_n" not in names and "dc0" not in names
    assert all(c.passed for c in r.comparisons)
    assert not np.any(r.arrays["c0"]) and not np.any(r.arrays["d_c_n"])  # zero for torch too
    assert np.any(r.arrays["h0"]) and np.any(r.arrays["d_h_n"])  # h0 and d_h_n are its own


def test_the_classic_bug_is_rejected_and_named():
    cls = _adapted(NOT_CARRIED)
    case = _case()
    with pytest.raises(ParityMismatch) as info:
        assert_parity(cls, case)
    text = str(info.value)
    assert text.startswith(f"ParityMismatch: dx of {NOT_CARRIED} --convention cs231n differs from torch.nn.LSTM") or \
        f"dx of {NOT_CARRIED} --convention cs231n differs from torch.nn.LSTM" in text, text
    assert "; c0 and d_c_n zero on both sides, c_n and dc0 not compared (all the cs231n convention can express)" \
        in text.splitlines()[1], text  # the case line says what was left out
    found = suspects(Probe(cls, run_both(cls, case)))
    assert found and found[0].name == "cell state not carried back through time (dc_(t-1) = 0)", [s.name for s in found]


def test_a_direct_call_with_a_cell_state_it_cannot_take_declines():
    cls = _adapted(CORRECT)
    m = cls(3, 4)
    x = np.ones((5, 2, 3))
    h0 = np.zeros((1, 2, 4))
    with pytest.raises(NotImplementedError, match="starts from c0 = 0"):
        m.forward(x, (h0, np.ones((1, 2, 4))))
    out, _ = m.forward(x, (h0, np.zeros((1, 2, 4))))
    with pytest.raises(NotImplementedError, match="takes no gradient on the final cell state"):
        m.backward(np.ones_like(out), np.zeros((1, 2, 4)), np.ones((1, 2, 4)))


def test_gates_are_swapped_exactly_both_ways():
    """CS231n stacks i, f, o, g: torch's g and o blocks are handed over swapped and swapped back."""
    m = _adapted(CORRECT)(2, 3)
    w = np.arange(12 * 2, dtype=float).reshape(12, 2)
    assert np.array_equal(m._swap(w)[6:9], w[9:12]) and np.array_equal(m._swap(m._swap(w)), w)


def test_none_where_the_class_did_not_declare_it_is_a_contract_violation():
    class CellStateNone(scratch.LSTM):
        def forward(self, x, hx=None):
            out, (h_n, _) = super().forward(x, hx)
            return out, (h_n, None)

    case = _case()
    with pytest.raises(ContractViolation, match="forward c_n must be a numpy array, got None"):
        run_impl(CellStateNone, case, case.materialize())


def test_one_convention_for_a_course_module_of_both_families():
    """CS231n's rnn_layers.py holds rnn_* and lstm_*: one --convention for both plug-ins."""
    impls = resolve({"--rnn-impl": "parity_tests.learners.cs231n_rnn", "--lstm-impl": CORRECT,
                     "--convention": "cs231n"})
    assert impls["rnn"].convention == impls["lstm"].convention == "cs231n"
    assert_parity(impls["rnn"], Case(row_by_name("tanh_basic").report, seed=1))
    assert_parity(impls["lstm"], _case())


@pytest.mark.parametrize("option, module, functions", [
    ("--lstm-impl", "parity_tests.learners.cs231n_rnn", "lstm_forward and lstm_backward"),
    ("--rnn-impl", CORRECT, "rnn_forward and rnn_backward"),  # was a TypeError: pytest's INTERNALERROR
])
def test_a_module_without_the_functions_is_a_usage_error_naming_them(option, module, functions):
    with pytest.raises(ValueError, match=f"^{option}: the cs231n convention takes a module with functions {functions}"):
        resolve({option: module, "--convention": "cs231n"})


def test_only_a_declared_convention_adapter_exempts_a_tensor():
    """An attribute a class happens to have exempts nothing: only core.contract.ConventionLimits
    subclasses (the harness's adapters) are read for not_returned / zero_inputs."""
    from parity_tests.core.contract import not_returned, zero_inputs

    class Stray(scratch.LSTM):
        not_returned = ("dx",)
        zero_inputs = ("h0",)

    assert not not_returned(Stray) and not zero_inputs(Stray)
    assert not_returned(_adapted(CORRECT)) == {"c_n", "dc0"} and zero_inputs(_adapted(CORRECT)) == {"c0", "d_c_n"}


def test_the_report_says_what_the_convention_leaves_out():
    from parity_tests.tools.report import run_report

    lines = []
    counts, records, _ = run_report({"lstm": _adapted(CORRECT)}, ["lstm"], out=lines.append)
    assert counts["failed"] == counts["contract"] == 0 and counts["passed"] > 0
    basic = next(ln for ln in lines if ln.startswith("[lstm_basic] "))
    assert basic.endswith("; c0 and d_c_n zero on both sides, c_n and dc0 not compared (all the cs231n convention can express)")
    assert not any(t["name"] in ("c_n", "dc0") for r in records for t in r["tensors"])
    assert all(r["convention_limits"] == {"zero_inputs": ["c0", "d_c_n"], "not_compared": ["c_n", "dc0"]}
               for r in records)


def test_a_gate_order_on_top_of_the_course_convention_is_a_usage_error():
    with pytest.raises(ValueError, match="--gate-order does not combine with --lstm-impl --convention cs231n"):
        resolve({"--lstm-impl": CORRECT, "--convention": "cs231n", "--gate-order": ["ifgo"]})


def test_gates_read_in_another_order_are_named_in_the_courses_terms():
    cls = _adapted("parity_tests.learners.cs231n_lstm_gates_ifgo")
    case = _case()
    with pytest.raises(ParityMismatch):
        assert_parity(cls, case)
    found = suspects(Probe(cls, run_both(cls, case)))
    assert found and found[0].name == "gate order read wrong (o and g swapped)", [s.name for s in found]
    assert found[0].equation == ("the cs231n convention stacks the gate blocks of Wx, Wh and b as i, f, o, g; the "
                                 "implementation reads them as i, f, g, o (forward and the gradients it stacks back)")
    assert "--gate-order" not in found[0].equation  # an option that does not combine with the convention


def test_a_class_rnn_beside_a_course_lstm_is_told_to_run_separately():
    with pytest.raises(ValueError, match=r"^--rnn-impl: .*module name.* \(--convention cs231n applies to each of "
                                         r"--rnn-impl, --lstm-impl: check a plug-in in another convention in a "
                                         r"separate run\)"):
        resolve({"--rnn-impl": "rnn_parity.scratch:RNN", "--lstm-impl": CORRECT, "--convention": "cs231n"})


def test_a_type_error_inside_the_users_module_is_not_a_usage_error(tmp_path, monkeypatch):
    """Only the adapter's own TypeError (the wrong kind of target) becomes a usage error; one
    raised by the user's code on import keeps its traceback."""
    (tmp_path / "broken_layers.py").write_text("x = 1 + 'a'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(Exception) as info:
        resolve({"--lstm-impl": "broken_layers", "--convention": "cs231n"})
    assert "unsupported operand" in str(info.value) or "unsupported operand" in str(info.value.__cause__)


@pytest.mark.parametrize("option, spec, words", [
    # a function named as the class: was pytest's INTERNALERROR (TypeError: cls must be a class;
    # for the RNN "metaclass conflict")
    ("--lstm-impl", f"{CORRECT}:lstm_forward", "is a function, not a class: the plug-in is a class under the contract "
     f"(--lstm-impl module:Class); a module of functions (lstm_forward, lstm_backward) is given by its name with "
     f"its convention: --lstm-impl {CORRECT} --convention cs231n (or columns)"),
    ("--lstm-cell-impl", f"{CORRECT}:lstm_step_forward", "a module of functions (lstm_step_forward, "
     f"lstm_step_backward) is given by its name with its convention: --lstm-cell-impl {CORRECT} --convention cs231n"),
    ("--rnn-impl", "parity_tests.learners.cs231n_rnn:rnn_forward", "is a function, not a class"),
    ("--gru-impl", f"{CORRECT}:sigmoid", "is a function, not a class: the plug-in is a class under the contract "
     "(--gru-impl module:Class)"),
    # the module alone, --convention forgotten
    ("--lstm-impl", CORRECT, f"got '{CORRECT}'; a module of functions (lstm_forward, lstm_backward) is given "
     f"by its name with its convention: --lstm-impl {CORRECT} --convention cs231n (or columns)"),
    ("--rnn-impl", "parity_tests.learners.cs231n_rnn", "--convention cs231n (or columns)"),
], ids=["lstm_function", "lstm_cell_function", "rnn_function", "gru_function", "lstm_module_no_convention",
        "rnn_module_no_convention"])
def test_a_function_or_a_bare_module_is_a_usage_error_that_says_what_to_give(option, spec, words):
    with pytest.raises(ValueError) as info:
        resolve({option: spec})
    assert str(info.value).startswith(f"{option}: ") and words in str(info.value), str(info.value)


@pytest.mark.parametrize("bug", sorted(__import__("parity_tests.learners.cs231n_lstm_bugs", fromlist=["SUSPECT"]).SUSPECT))
def test_a_students_classic_mistake_is_rejected_and_named(bug):
    from parity_tests.families.conventions import adapt
    from parity_tests.learners.cs231n_lstm_bugs import BUGS, SUSPECT

    cls = adapt(BUGS[bug], "cs231n", family="lstm")
    for case in (_case(), _case(bias=False, batch_first=True)):
        with pytest.raises(ParityMismatch):
            assert_parity(cls, case)
        found = suspects(Probe(cls, run_both(cls, case)))
        assert found and found[0].name == SUSPECT[bug], [s.name for s in found]
    # and through the suite's own property, as a user runs it
    with pytest.raises(ParityMismatch):
        run_property(cls, row_by_name("lstm_basic"))


def test_a_zeroed_dh0_is_not_blamed_on_a_dc0_it_does_not_return():
    """dc0 is not compared for the course convention: "dh0 and dc0 ... returned as zero" would
    name a tensor the student never returns; the dh0-only suspect comes first."""
    from types import SimpleNamespace

    from parity_tests.families.conventions import adapt
    from parity_tests.learners import cs231n_lstm

    def lstm_backward(dh, cache):
        dx, dh0, dWx, dWh, db = cs231n_lstm.lstm_backward(dh, cache)
        return dx, 0 * dh0, dWx, dWh, db

    cls = adapt(SimpleNamespace(__name__="dh0_zero", lstm_forward=cs231n_lstm.lstm_forward,
                                lstm_backward=lstm_backward), "cs231n", family="lstm")
    found = suspects(Probe(cls, run_both(cls, _case())))
    assert found and found[0].name == "dh0 not propagated to the initial state (returned as zero)", \
        [s.name for s in found]
    assert not any("dc0" in s.name for s in found)


# -- deeplearning.ai's LSTM functions: --lstm-impl my_lstm --convention columns ------------------
DLAI = "parity_tests.learners.dlai_lstm"


def _dlai(spec=DLAI):
    return resolve({"--lstm-impl": spec, "--convention": "columns"})["lstm"]


@pytest.mark.parametrize("row", [r for r in FAMILIES["lstm"].rows], ids=lambda r: r.name)
def test_a_correct_dlai_lstm_passes_every_row_it_can_express(row):
    ran, declined = run_property(_dlai(), row)
    if row.name in DECLINED_ROWS:
        assert ran == 0 and declined and "columns convention is a single-layer, unidirectional LSTM" in declined[0]
    else:
        assert ran > 0


def test_dlai_returns_its_cell_states_so_c_n_is_compared():
    r = run_both(_dlai(), _case(bias=False, batch_first=True))
    names = [c.tensor for c in r.comparisons]
    assert names[:5] == ["output", "h_n", "c_n", "dx", "dh0"] and "dc0" not in names
    assert all(c.passed for c in r.comparisons)
    assert not np.any(r.arrays["c0"]) and not np.any(r.arrays["d_c_n"])


def test_the_notebooks_dropped_da_prev_is_rejected_and_named():
    cls = _dlai("parity_tests.learners.dlai_lstm_da_prev_dropped")
    with pytest.raises(ParityMismatch) as info:
        assert_parity(cls, _case())
    assert "dx of parity_tests.learners.dlai_lstm_da_prev_dropped --convention columns differs" in str(info.value)
    assert "dc0 not compared (all the columns convention can express)" in str(info.value)
    found = suspects(Probe(cls, run_both(cls, _case())))
    assert found and found[0].name.startswith("the gradient from the step after not added to dh"), \
        [s.name for s in found]


def test_a_dlai_backward_missing_a_gradient_breaks_the_contract_by_name():
    from types import SimpleNamespace

    from parity_tests.families.conventions import adapt
    from parity_tests.learners import dlai_lstm

    def lstm_backward(da, caches):
        g = dlai_lstm.lstm_backward(da, caches)
        del g["dbo"]
        return g

    cls = adapt(SimpleNamespace(__name__="no_dbo", lstm_forward=dlai_lstm.lstm_forward, lstm_backward=lstm_backward),
                "columns", family="lstm")
    case = _case()
    # the adapter's own check, raised inside backward: the case fails with its words
    with pytest.raises(ImplementationError, match=r"under the columns convention lstm_backward must return a dict "
                                                  r"with keys .* missing \['dbo'\]"):
        run_impl(cls, case, with_zero_inputs(cls, case.materialize()))


# -- the step functions alone, as an LSTMCell: --lstm-cell-impl my_layers --convention cs231n -----
@pytest.mark.parametrize("spec, convention", [(CORRECT, "cs231n"), (DLAI, "columns")])
def test_a_courses_step_functions_pass_as_an_lstm_cell_with_nothing_left_out(spec, convention):
    cls = resolve({"--lstm-cell-impl": spec, "--convention": convention})["lstm_cell"]
    for row in FAMILIES["lstm_cell"].rows:
        ran, declined = run_property(cls, row)
        assert ran > 0 and not declined, row.name
    from parity_tests.families.lstm_cell import LSTMCellConfig

    r = run_both(cls, Case(LSTMCellConfig(input_size=3, hidden_size=4, batch=2), seed=3))
    assert [c.tensor for c in r.comparisons][:5] == ["h_next", "c_next", "dx", "dh", "dc"]
    assert all(c.passed for c in r.comparisons) and np.any(r.arrays["c"]) and np.any(r.arrays["d_c_next"])


STEP_BUGS = ["dprev_c_without_f", "no_sigmoid_prime_i", "no_sigmoid_prime_o", "dg_as_sigmoid", "dg_unsquared",
             "gates_without_dh_path", "dWh_from_next_h", "g_sigmoid_forward", "h_without_tanh_forward",
             "forward_gates_ifgo", "backward_gates_ifgo"]


@pytest.mark.parametrize("bug", STEP_BUGS)
def test_a_mistake_in_the_step_is_caught_in_the_step_and_named(bug):
    from types import SimpleNamespace

    from parity_tests.families.conventions import adapt
    from parity_tests.families.lstm_cell import LSTMCellConfig
    from parity_tests.learners import cs231n_lstm_bugs

    module = SimpleNamespace(__name__=f"step_{bug}",
                             lstm_step_forward=lambda *args: cs231n_lstm_bugs._step_forward(*args, bug),
                             lstm_step_backward=lambda dh, dc, cache: cs231n_lstm_bugs._step_backward(dh, dc, cache, bug))
    cls = adapt(module, "cs231n", family="lstm_cell")
    case = Case(LSTMCellConfig(input_size=3, hidden_size=4, batch=3), seed=5)
    with pytest.raises(ParityMismatch):
        assert_parity(cls, case)
    found = suspects(Probe(cls, run_both(cls, case)))
    assert found and found[0].name == cs231n_lstm_bugs.SUSPECT[bug], [s.name for s in found]


def test_the_one_step_probe_says_that_c0_zero_hides_the_forget_gate():
    """With c0 = 0 fixed by the convention, the first step gives the forget gate no gradient:
    the one-step probe says so instead of sending the student to the loop (a newcomer's wrong
    W_f slice in da_prev looked like a loop bug)."""
    from parity_tests.core.runs import comparisons
    from parity_tests.diagnosis import diagnose

    cls = _adapted(NOT_CARRIED)
    case = _case()
    d = diagnose(cls, case, comparisons(cls, case))
    assert "c0 = 0, as the convention fixes it, so the forget gate and anything multiplying c_(t-1) get no " \
           "gradient there and cannot show" in d.backward, d.backward


@pytest.mark.parametrize("option, module, convention, words", [
    ("--lstm-impl", DLAI, "cs231n", "the cs231n convention calls lstm_forward(x, h0, Wx, Wh, b), but "
     f"{DLAI}.lstm_forward(x, a0, parameters) cannot take those arguments; it fits the columns convention's "
     "lstm_forward(x, a0, parameters): --convention columns"),
    ("--lstm-impl", CORRECT, "columns", "it fits the cs231n convention's lstm_forward(x, h0, Wx, Wh, b): "
     "--convention cs231n"),
    ("--rnn-impl", "parity_tests.learners.dlai_rnn", "cs231n", "it fits the columns convention's "
     "rnn_forward(x, a0, parameters): --convention columns"),
    ("--lstm-cell-impl", CORRECT, "columns", "takes a module with functions lstm_cell_forward and lstm_cell_backward"),
    ("--lstm-impl", f"{CORRECT}:lstm_forward", "cs231n", f"takes a module name (no ':Class'), got "
     f"'{CORRECT}:lstm_forward': give '{CORRECT}'"),
    ("--lstm-impl", "my_layers.py", "cs231n", "cannot import module 'my_layers.py' (a module name, not a file name: "
     "'my_layers')"),
], ids=["dlai_as_cs231n", "cs231n_as_columns", "rnn_dlai_as_cs231n", "cell_missing", "function_spec", "file_name"])
def test_a_module_given_the_wrong_convention_is_told_which_one_it_is(option, module, convention, words):
    with pytest.raises(ValueError) as info:
        resolve({option: module, "--convention": convention})
    assert words in str(info.value), str(info.value)


# -- the RNN's step functions alone, as an RNNCell: --cell-impl my_layers --convention cs231n ------
@pytest.mark.parametrize("spec, convention", [("parity_tests.learners.cs231n_rnn", "cs231n"),
                                              ("parity_tests.learners.dlai_rnn", "columns")])
def test_a_courses_rnn_step_passes_as_an_rnn_cell(spec, convention):
    cls = resolve({"--cell-impl": spec, "--convention": convention})["rnn_cell"]
    for row in FAMILIES["rnn_cell"].rows:
        ran, declined = run_property(cls, row)
        if row.pins.get("nonlinearity") == "relu":
            assert ran == 0 and "tanh cell" in declined[0], row.name
        else:
            assert ran > 0, row.name


@pytest.mark.parametrize("spec, convention, first, words", [
    # the derivative taken at prev_h: what the step sends out and keeps are all wrong
    ("parity_tests.learners.cs231n_rnn_prev_h", "cs231n", "dx", "is wrong (the activation's derivative)"),
    # dW_aa from a_next: caught in the step, and named
    ("parity_tests.learners.dlai_rnn_buggy", "columns", "grad weight_hh", "previous hidden state off by one step"),
])
def test_a_mistake_in_the_rnn_step_is_caught_in_the_step(spec, convention, first, words):
    from parity_tests.core.runs import comparisons
    from parity_tests.diagnosis import diagnose
    from parity_tests.families.rnn_cell import CellConfig

    cls = resolve({"--cell-impl": spec, "--convention": convention})["rnn_cell"]
    case = Case(CellConfig(input_size=3, hidden_size=4, batch=3), seed=2)
    with pytest.raises(ParityMismatch) as info:
        assert_parity(cls, case)
    assert str(info.value).startswith(f"{first} of {spec} --convention {convention} differs from torch.nn.RNNCell")
    assert words in diagnose(cls, case, comparisons(cls, case)).render()


def test_a_cell_returning_both_state_gradients_as_zero_is_still_named():
    """The dh0-and-dc0 suspect is left out only where no cell-state gradient is compared (a
    course convention's layer), not for a cell, whose dc is (a review found every LSTMCell
    had lost it)."""
    from parity_tests.families.lstm_cell import LSTMCellConfig

    class BothZero(scratch.LSTMCell):
        def backward(self, d_h, d_c=None):
            dx, (dh, dc) = super().backward(d_h, d_c)
            return dx, (0 * dh, 0 * dc)

    case = Case(LSTMCellConfig(input_size=3, hidden_size=4, batch=3), seed=2)
    found = suspects(Probe(BothZero, run_both(BothZero, case)))
    assert found and found[0].name == "dh0 and dc0 not propagated to the initial states (both returned as zero)", \
        [s.name for s in found]


def test_the_one_step_caveat_also_for_an_lstm_whose_c0_is_absent():
    """(The diagnosis localizes on a generic variant with the states given when it fails too;
    on the case itself, with h0 and c0 absent, the caveat is said.)"""
    from parity_tests.families.gated_diagnosis import localize
    from parity_tests.planted import gated

    cls = gated.LSTMCellStateNotCarried
    _, backward = localize(Probe(cls, run_both(cls, _case(has_h0=False))))
    assert "c0 = 0, absent, so the forget gate" in backward, backward


def test_one_gates_matrix_overwritten_in_a_dlai_backward_is_named():
    """deeplearning.ai keeps one matrix per gate: `dWf = gradients["dWf"]` instead of `+=` overwrites
    gate f's rows of dW_ih and dW_hh alone (a newcomer's mistake that got no suspect)."""
    from types import SimpleNamespace

    from parity_tests.families.conventions import adapt
    from parity_tests.learners import dlai_lstm

    def lstm_backward(da, caches):
        (steps, x) = caches
        n_a, m, T_x = da.shape
        dx = np.zeros((x.shape[0], m, T_x))
        da_prevt, dc_prevt = np.zeros((n_a, m)), np.zeros((n_a, m))
        total = {f"d{w}{k}": 0.0 for w in "Wb" for k in "fico"}
        for t in reversed(range(T_x)):
            g = dlai_lstm.lstm_cell_backward(da[:, :, t] + da_prevt, dc_prevt, steps[t])
            da_prevt, dc_prevt, dx[:, :, t] = g["da_prev"], g["dc_prev"], g["dxt"]
            for k in total:
                total[k] = g[k] if k == "dWf" else total[k] + g[k]  # the mistake, for dWf alone
        return {"dx": dx, "da0": da_prevt, **total}

    cls = adapt(SimpleNamespace(__name__="dWf_overwritten", lstm_forward=dlai_lstm.lstm_forward,
                                lstm_backward=lstm_backward), "columns", family="lstm")
    with pytest.raises(ParityMismatch):
        assert_parity(cls, _case())
    found = suspects(Probe(cls, run_both(cls, _case())))
    assert found and found[0].name.startswith("gate f's weight gradients overwritten at each step"), \
        [s.name for s in found]


def test_a_dlai_wf_wi_mix_up_is_named_with_the_courses_matrices():
    """deeplearning.ai gives each gate its own matrix: a Wf/Wi mix-up is said with those names,
    not as torch's stacked rows read in another order."""
    from types import SimpleNamespace

    from parity_tests.families.conventions import adapt
    from parity_tests.learners import dlai_lstm

    def swapped(parameters):
        return dict(parameters, Wf=parameters["Wi"], bf=parameters["bi"], Wi=parameters["Wf"], bi=parameters["bf"])

    def lstm_backward(da, caches):
        g = dlai_lstm.lstm_backward(da, caches)
        return dict(g, dWf=g["dWi"], dbf=g["dbi"], dWi=g["dWf"], dbi=g["dbf"])

    module = SimpleNamespace(__name__="wf_wi_mixed", lstm_backward=lstm_backward,
                             lstm_forward=lambda x, a0, parameters: dlai_lstm.lstm_forward(x, a0, swapped(parameters)))
    cls = adapt(module, "columns", family="lstm")
    with pytest.raises(ParityMismatch):
        assert_parity(cls, _case())
    found = suspects(Probe(cls, run_both(cls, _case())))
    assert found and found[0].name == "gate matrices mixed up (Wi and Wf swapped)", [s.name for s in found]
    assert "uses Wi (and its bias) where Wf belongs, Wf (and its bias) where Wi belongs" in found[0].equation


def test_dlai_dxt_and_da_prev_from_each_others_columns_is_named_in_the_courses_terms(monkeypatch):
    from parity_tests.learners import dlai_lstm

    correct = dlai_lstm.lstm_cell_backward

    def swapped(da_next, dc_next, cache):
        g = correct(da_next, dc_next, cache)
        return dict(g, dxt=g["da_prev"], da_prev=g["dxt"])  # the same shape when n_x == n_a

    monkeypatch.setattr(dlai_lstm, "lstm_cell_backward", swapped)
    cls = _dlai()
    case = _case(input_size=4)
    with pytest.raises(ParityMismatch):
        assert_parity(cls, case)
    found = suspects(Probe(cls, run_both(cls, case)))
    assert found and found[0].name == ("dxt and da_prev computed from each other's columns of W (W[:, :n_a] and "
                                       "W[:, n_a:] swapped)"), [s.name for s in found]


def test_a_dlai_forward_using_one_gates_matrix_for_another_is_named_with_the_courses_matrices(monkeypatch):
    """`cct = np.tanh(np.dot(Wo, concat) + bo)` and `ot = sigmoid(np.dot(Wc, ...))` in the cell's
    forward, the backward as the notebook writes it (each matrix gets its own gate's gradient,
    da_prev and dxt from the matrices as named): a slip in one pass, said in the course's names."""
    from parity_tests.learners import dlai_lstm

    correct = dlai_lstm.lstm_cell_forward

    def mixed_forward(xt, a_prev, c_prev, parameters):
        p = dict(parameters, Wc=parameters["Wo"], bc=parameters["bo"], Wo=parameters["Wc"], bo=parameters["bc"])
        a_next, c_next, yt_pred, cache = correct(xt, a_prev, c_prev, p)
        return a_next, c_next, yt_pred, cache[:-1] + (parameters,)  # the cache keeps the matrices as named

    monkeypatch.setattr(dlai_lstm, "lstm_cell_forward", mixed_forward)
    cls = _dlai()
    with pytest.raises(ParityMismatch):
        assert_parity(cls, _case())
    found = suspects(Probe(cls, run_both(cls, _case())))
    assert found and found[0].name == "gate matrices mixed up in forward only (Wc and Wo swapped)", \
        [s.name for s in found]
