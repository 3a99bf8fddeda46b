"""The gated diagnosis (``families/gated_diagnosis.py``) names each planted gated mistake
FIRST, says which gate is wrong, and names no suspect for correct gated implementations or
for mistakes it does not model (a wrong suspect is worse than none).

Every case is fixed: a ``GATED_PLANTED`` entry's own configuration (``GATED_BASE`` with what
the bug needs), seed 11, diagnosed the way a failure is (``diagnose`` re-probes a generic
case of the configuration, T = 4, B = 3).
"""

from __future__ import annotations

import numpy as np
import pytest

from parity_tests.core.cases import Case
from parity_tests.core.messages import ParityMismatch
from parity_tests.core.runs import comparisons, run_both
from parity_tests.diagnosis import Probe, diagnose, suspects
from parity_tests.families import FAMILIES
from parity_tests.families.gated_diagnosis import engine
from parity_tests.planted import gated
from parity_tests.planted.gated import GATED_BASE, GATED_PLANTED
from parity_tests.properties import assert_parity
from rnn_parity import scratch

CORRECT = {"lstm": gated.LSTM, "gru": gated.GRU, "lstm_cell": gated.LSTMCell, "gru_cell": gated.GRUCell}
SCRATCH = {"lstm": scratch.LSTM, "gru": scratch.GRU, "lstm_cell": scratch.LSTMCell, "gru_cell": scratch.GRUCell}
ENTRY = {e.name: e for e in GATED_PLANTED}


def _case(family, seed=11, **config):
    return Case(FAMILIES[family].config_cls(**dict(GATED_BASE[family], **config)), seed=seed)


def _diagnose(cls, family, **config):
    case = _case(family, **config)
    return diagnose(cls, case, comparisons(cls, case))


# Configurations that exercise every path of the engine: projection, stacked, bidirectional,
# batch_first, bias off, states absent.
ENGINE_CASES = [
    ("lstm", {}),
    ("lstm", dict(proj_size=2, num_layers=2, bidirectional=True, batch_first=True)),
    ("lstm", dict(bias=False, has_h0=False, num_layers=2)),
    ("gru", {}),
    ("gru", dict(num_layers=2, bidirectional=True, batch_first=True, bias=False, has_h0=False)),
    ("lstm_cell", {}),
    ("lstm_cell", dict(bias=False, has_h0=False)),
    ("gru_cell", {}),
    ("gru_cell", dict(has_h0=False)),
]


@pytest.mark.parametrize("family, config", ENGINE_CASES, ids=[f"{f}-{i}" for i, (f, _) in enumerate(ENGINE_CASES)])
def test_the_mutant_engine_without_a_mistake_is_torch(family, config):
    """Each suspect is the engine with ONE mistake; without it, every tensor is torch's (the
    one tolerance rule), so a suspect differs from torch only by its mistake."""
    probe = Probe(CORRECT[family], run_both(CORRECT[family], _case(family, **config)))
    alt = engine(probe)
    assert set(alt) == set(probe.ref)
    for k, v in alt.items():
        assert probe.same(k, v, probe.ref[k], probe.bounds.get(k)), k


WITH_SUSPECT = [e for e in GATED_PLANTED if e.suspect is not None]


@pytest.mark.parametrize("entry", WITH_SUSPECT, ids=lambda e: e.name)
def test_planted_gated_bug_is_named_first(entry):
    d = _diagnose(entry.cls, entry.family, **entry.config)
    assert d.bad and d.bad[0] == entry.first, d.render()
    assert d.suspects and d.suspects[0].name == entry.suspect, f"{entry.name}:\n{d.render()}"
    # a backward mistake is localized in backward, a forward one in forward
    if entry.first in ("output", "h_next"):
        assert d.forward and d.backward.startswith("not localized"), d.render()
    elif entry.first in ("h_n", "c_n"):  # the steps right, a returned state wrong
        assert d.forward and d.backward.startswith("every gradient agrees"), d.render()
    else:
        assert d.forward is None and d.backward.startswith("forward agrees"), d.render()


def test_every_gated_planted_bug_has_a_suspect():
    """Every planted gated mistake is one the diagnosis models (a new entry must say which
    suspect names it, or None on purpose)."""
    assert not [e.name for e in GATED_PLANTED if e.suspect is None]


# -- a wrong suspect is worse than none ----------------------------------------------------
NO_SUSPECT_CONFIGS = {
    "lstm": [{}, dict(input_size=4, num_layers=2, bidirectional=True, batch_first=True),
             dict(proj_size=2, has_h0=False)],
    "gru": [{}, dict(input_size=4, num_layers=2, bidirectional=True, batch_first=True, bias=False)],
    "lstm_cell": [{}, dict(input_size=4, has_h0=False)],
    "gru_cell": [{}, dict(input_size=4, bias=False)],
}
CORRECT_CLASSES = [(f, cls, cfg) for f in CORRECT for cls in (CORRECT[f], SCRATCH[f]) for cfg in NO_SUSPECT_CONFIGS[f]]


@pytest.mark.parametrize("family, cls, config", CORRECT_CLASSES,
                         ids=[f"{c.__module__.split('.')[-2]}-{c.__name__}-{i}" for i, (f, c, _) in enumerate(CORRECT_CLASSES)])
def test_correct_gated_implementations_get_no_suspect(family, cls, config):
    """Forced through the suspects as if the case had failed: numbers that agree with torch
    can match no suspect (each suspect differs from torch by its mistake)."""
    probe = Probe(cls, run_both(cls, _case(family, seed=5, **config)))
    assert not [s.name for s in suspects(probe)]


class LSTMTanhCDerivativeUnsquared(gated.LSTM):
    """tanh'(c) as 1 - tanh(c) (the square forgotten): no suspect models it."""

    def tanh_c_grad(self, c_prev, c_new, tc):
        return 1 - tc


class LSTMTwoMistakes(gated.LSTMForgetGradUsesCt, gated.LSTMTanhCDerivativeMissing):
    """Two planted mistakes at once: each suspect alone explains neither."""


class GRUResetGradWithoutQ(gated.GRU):
    """dr = da_n (the factor W_hn h + b_hn forgotten)."""

    def reset_grad(self, da_n, q):
        return da_n


class GRUTwoMistakes(gated.GRUZSwappedInBackward, gated.GRUResetGradMissing):
    """z swapped AND the reset gate without gradient."""


class LSTMCellForgetWithoutC(gated.LSTMCell):
    """da_f = dc f (1 - f): the factor c_(t-1) forgotten."""

    def forget_operand(self, c_prev, c_new):
        return np.ones_like(c_prev)


class GRUCellDzWithoutN(gated.GRUCell):
    """dz = dh' h: the -n of (h - n) forgotten."""

    def update_grads(self, dh, z, n, h_prev):
        return dh * (1 - z), dh * h_prev, dh * z


UNMODELED = [(LSTMTanhCDerivativeUnsquared, "lstm"), (LSTMTwoMistakes, "lstm"), (GRUResetGradWithoutQ, "gru"),
             (GRUTwoMistakes, "gru"), (LSTMCellForgetWithoutC, "lstm_cell"), (GRUCellDzWithoutN, "gru_cell")]


@pytest.mark.parametrize("cls, family", UNMODELED, ids=[c.__name__ for c, _ in UNMODELED])
def test_a_gated_mistake_no_suspect_models_gets_none(cls, family):
    d = _diagnose(cls, family)
    assert d.bad and not d.suspects, d.render()
    assert "suspects: none of the known single mistakes" in d.render()


# -- localization names the gate -----------------------------------------------------------
LOCALIZED = [
    ("lstm_cell_forget_grad_uses_c_t",
     "rows of gate f differ in grad weight_ih, grad weight_hh, grad bias_ih and grad bias_hh (gates i, g and o agree)"),
    ("lstm_forget_grad_uses_c_t", "on one time step (x[:1], d_output[:1], the same states): rows of gate f differ"),
    ("lstm_sigmoid_grad_from_preactivation", "rows of gates i, f and o differ in grad weight_ih_l0"),
    ("gru_reset_grad_missing", "on one time step (x[:1], d_output[:1], the same states): rows of gate r differ"),
    ("gru_cell_reset_grad_missing", "rows of gate r differ in grad weight_ih, grad weight_hh"),
    ("gru_cell_z_swapped_in_backward", "rows of gates r and n differ"),
    ("lstm_ignores_d_c_n", "with d_c_n alone the gradients differ, with d_output and d_h_n alone they all agree"),
    ("lstm_cell_state_not_carried", "dx agrees for the last step only: the gradient is not carried back"),
    ("lstm_proj_grad_wrong_operand", "grad weight_hr_l0 differs (the projection, after the gates)"),
    ("lstm_reverse_not_reordered", "grad weight_ih_l0_reverse"),
]


@pytest.mark.parametrize("name, words", LOCALIZED, ids=[n for n, _ in LOCALIZED])
def test_backward_localization_names_the_gate(name, words):
    e = ENTRY[name]
    d = _diagnose(e.cls, e.family, **e.config)
    assert words in d.backward, d.render()


def test_forward_localization_says_where_it_diverges():
    e = ENTRY["lstm_gate_order_i_f"]
    d = _diagnose(e.cls, e.family, **e.config)
    assert d.forward.startswith("the last layer's forward direction first diverges at time step 0"), d.render()


def test_failure_message_names_the_gate_and_the_suspect():
    e = ENTRY["lstm_cell_forget_grad_uses_c_t"]
    with pytest.raises(ParityMismatch) as info:
        assert_parity(e.cls, _case(e.family))
    text = str(info.value)
    assert "backward: forward agrees; in backward dx and dh differ (dc agrees); rows of gate f differ" in text, text
    assert "- forget-gate gradient uses c_t instead of c_(t-1):" in text, text


# -- a correct class in another convention, run without the option that declares it ----------
CONVENTIONS = [
    (gated.LSTMGatesIFOG, "lstm", "gate order read wrong (g and o swapped)", "--gate-order ifog"),
    (gated.LSTMGatesFIGO, "lstm", "gate order read wrong (i and f swapped)", "--gate-order figo"),
    (gated.GRUKeras, "gru", "gate order read wrong (r and z swapped)", "--gate-order zrn"),
    (gated.GRUComplement, "gru", "GRU update written the other way (h' = z * n + (1 - z) * h)", "--gru-update complement"),
    (gated.LSTMCellIFOG, "lstm_cell", "gate order read wrong (g and o swapped)", "--gate-order ifog"),
    (gated.GRUCellComplement, "gru_cell", "GRU update written the other way (h' = z * n + (1 - z) * h)",
     "--gru-update complement"),
    # Both conventions at once (found by a newcomer's Keras-style GRU: no single suspect fit).
    (gated.GRUKerasComplement, "gru", "gate order read wrong (r and z swapped) and the GRU update written the other way",
     "--gate-order zrn --gru-update complement"),
]


@pytest.mark.parametrize("cls, family, suspect, option", CONVENTIONS, ids=[c[0].__name__ for c in CONVENTIONS])
def test_undeclared_convention_is_named_with_its_option(cls, family, suspect, option):
    d = _diagnose(cls, family)
    assert d.suspects and d.suspects[0].name == suspect and option in d.suspects[0].equation, d.render()


@pytest.mark.parametrize("cls, family, option", [
    (gated.GRUKerasComplement, "gru", dict(gate_order="zrn", gru_update="complement")),
    (gated.LSTMGatesIFOG, "lstm", dict(gate_order="ifog")),
], ids=["gru_keras_complement", "lstm_ifog"])
def test_declared_convention_gets_no_suspect(cls, family, option):
    """(and a half-declared one is named with the option still missing: below)"""
    from parity_tests.families.gated_conventions import adapt_gated

    adapted = adapt_gated(cls, family, **option)
    probe = Probe(adapted, run_both(adapted, _case(family, seed=5)))
    assert not [s.name for s in suspects(probe)]


@pytest.mark.parametrize("cls, declared, suspect, option", [
    (gated.GRUKerasComplement, dict(gru_update="complement"), "gate order read wrong (r and z swapped)",
     "--gate-order zrn"),
    (gated.GRUKerasComplement, dict(gate_order="zrn"), "GRU update written the other way", "--gru-update complement"),
], ids=["order_missing", "update_missing"])
def test_half_declared_convention_names_the_missing_option(cls, declared, suspect, option):
    from parity_tests.families.gated_conventions import adapt_gated

    adapted = adapt_gated(cls, "gru", **declared)
    with pytest.raises(ParityMismatch):
        assert_parity(adapted, _case("gru", seed=5))
    probe = Probe(adapted, run_both(adapted, _case("gru", seed=5)))
    found = suspects(probe)
    assert found and found[0].name.startswith(suspect) and option in found[0].equation, [s.name for s in found]


# -- a convention declared that the class does not use ------------------------------------------
# (a newcomer's torch-order LSTM run with --gate-order ifog was told the class "reads them as
# i, f, o, g": its own declaration read back as the bug, with no word of the option)
@pytest.mark.parametrize("cls, family, declared, suspect, option", [
    (gated.LSTM, "lstm", dict(gate_order="ifog"),
     "gate order declared wrong (--gate-order ifog; it stacks them as i, f, g, o)", "leave out --gate-order"),
    (gated.LSTMGatesIFOG, "lstm", dict(gate_order="figo"),
     "gate order declared wrong (--gate-order figo; it stacks them as i, f, o, g)", "declare --gate-order ifog instead"),
    (gated.GRUCell, "gru_cell", dict(gate_order="zrn"),
     "gate order declared wrong (--gate-order zrn; it stacks them as r, z, n)", "leave out --gate-order"),
    (gated.GRU, "gru", dict(gru_update="complement"),
     "GRU update declared wrong (--gru-update complement; it computes torch's h' = (1 - z) * n + z * h)",
     "leave out --gru-update"),
    # both declared, neither followed (a newcomer gave them for a Keras-style GRU layer and its
    # torch-style cell plug-in was checked in the same run); the order quoted as typed
    (gated.GRUCell, "gru_cell", dict(gate_order="zrh", gru_update="complement"),
     "gate order declared wrong (--gate-order zrh; it stacks them as r, z, n) and the GRU update declared wrong "
     "(it computes torch's h' = (1 - z) * n + z * h)", "leave out --gru-update"),
    (gated.GRU, "gru", dict(gate_order="keras", gru_update="complement"),
     "gate order declared wrong (--gate-order keras; it stacks them as r, z, n) and the GRU update declared wrong "
     "(it computes torch's h' = (1 - z) * n + z * h)", "leave out --gate-order"),
], ids=["lstm_torch_order_declared_ifog", "lstm_ifog_declared_figo", "gru_cell_torch_order_declared_zrn",
        "gru_torch_update_declared_complement", "gru_cell_torch_declared_zrh_complement",
        "gru_torch_declared_keras_complement"])
def test_a_declared_convention_the_class_does_not_use_is_named_as_the_declaration(cls, family, declared, suspect,
                                                                                    option):
    from parity_tests.families.gated_conventions import adapt_gated

    adapted = adapt_gated(cls, family, **declared)
    with pytest.raises(ParityMismatch):
        assert_parity(adapted, _case(family, seed=5))
    found = suspects(Probe(adapted, run_both(adapted, _case(family, seed=5))))
    assert found and found[0].name == suspect and option in found[0].equation, [(s.name, s.equation) for s in found]
    # and that the declaration reaches every plug-in of the kind (leaving it out may break another)
    assert found[0].equation.count("check one written in another convention in a run of its own") == 1


# -- a bug in a class written in the complement convention, declared -----------------------------
# The suspects are the harness's mutants of torch's model, carried over by the adapter; their
# words must be the class's own: its z is torch's 1 - z (a newcomer's complement GRU was told
# "dh_(t-1) lacks dh' * z", which in its own terms is the path it had).
class _ComplementMissingDirect(gated.GRUMissingDhThroughZ):
    gru_update = "complement"


class _ComplementZSwapped(gated.GRUComplement):
    def update_grads(self, dh, z, n, h_prev):  # torch's derivative on its own z
        return dh * (1 - z), dh * (n - h_prev), dh * z


class _ComplementDzSign(gated.GRUComplement):
    def update_grads(self, dh, z, n, h_prev):
        dn, dz, direct = super().update_grads(dh, z, n, h_prev)
        return dn, -dz, direct


class _ComplementCellMissingDirect(gated.GRUCellComplement):
    def update_grads(self, dh, z, n, h_prev):
        dn, dz, direct = super().update_grads(dh, z, n, h_prev)
        return dn, dz, 0 * direct


class _ComplementDzTimesZ(gated.GRUComplement):
    """``da_z = dz * z`` in the class's own terms (its z is torch's 1 - z): the (1 - z) left out."""

    def gate_sig_grad(self, gate, a, s):
        return s if gate == "z" else super().gate_sig_grad(gate, a, s)


class _ComplementDzTimesOneMinusZ(gated.GRUComplement):
    def gate_sig_grad(self, gate, a, s):
        return 1 - s if gate == "z" else super().gate_sig_grad(gate, a, s)


@pytest.mark.parametrize("cls, family, suspect, words", [
    (_ComplementDzTimesZ, "gru", "update gate's sigmoid' taken as z (da_z = dh' * (n - h) * z, the (1 - z) left out)",
     "multiplied by z alone"),
    (_ComplementDzTimesOneMinusZ, "gru", "update gate's sigmoid' taken as 1 - z (da_z = dh' * (n - h) * (1 - z), the z "
     "left out)", "multiplied by (1 - z) alone"),
    (_ComplementMissingDirect, "gru", "missing dh path through z (dh_(t-1) lacks dh' * (1 - z))",
     "dL/dh_(t-1) = dh' * (1 - z) + "),
    (_ComplementCellMissingDirect, "gru_cell", "missing dh path through z (dh_(t-1) lacks dh' * (1 - z))",
     "the implementation dropped dh' * (1 - z)"),
    (_ComplementZSwapped, "gru", "z and 1 - z swapped in backward", "dn = dh' * z and the direct part of dh is dh' * (1 - z)"),
    (_ComplementDzSign, "gru", "update gate gradient with the wrong sign (dz = dh' (h - n))", "dz = dh' * (n - h)"),
], ids=["dz_times_z", "dz_times_1_minus_z", "missing_direct_path", "cell_missing_direct_path", "z_swapped", "dz_sign"])
def test_a_complement_class_is_told_its_bug_in_its_own_terms(cls, family, suspect, words):
    from parity_tests.families.gated_conventions import adapt_gated

    adapted = adapt_gated(cls, family, gru_update="complement")
    found = suspects(Probe(adapted, run_both(adapted, _case(family, seed=5))))
    assert found and found[0].name == suspect and words in found[0].equation, [(s.name, s.equation) for s in found]
    assert "h' = z * n + (1 - z) * h" in found[0].equation


def test_a_case_that_is_already_generic_is_not_said_to_be_shrunk():
    """The "below: localized on a generic case ... a shrunk example has too little structure"
    line was printed even when the example shown was that generic case (a newcomer noticed)."""
    case = _case("lstm", seq_len=5, batch=3)
    cls = GATED_PLANTED[0].cls
    d = diagnose(cls, case, comparisons(cls, case))
    assert d.bad and not d.generic and "below:" not in d.render(), d.render()


def test_a_forward_mistake_hidden_by_a_shrunk_example_is_said_under_the_headline():
    """All-zero weights make every gate 0.5 whatever the order it is read in, so the example's
    forward agrees and its headline names a gradient; the generic case's forward differs, and
    the line under the headline says so (a newcomer went hunting in backward)."""
    cls = ENTRY["gru_gate_order_r_z"].cls
    case = Case(FAMILIES["gru"].config_cls(**GATED_BASE["gru"]), seed=11, zero_weights=True)
    with pytest.raises(ParityMismatch) as info:
        assert_parity(cls, case)
    text = str(info.value)
    head, note = text.splitlines()[:2]
    assert not head.startswith("output"), head  # the example's forward agrees
    assert note.startswith("On a generic case of this configuration") and \
        "output differs first: the forward pass is wrong" in note, text
    assert "which fails too, first at output" in text
    # a case whose first tensor is the generic case's too gets no such line
    with pytest.raises(ParityMismatch) as info:
        assert_parity(cls, _case("gru"))
    assert "On a generic case" not in str(info.value)


def test_a_wrong_final_state_with_every_gradient_right_is_not_blamed_on_the_forward_pass():
    """Only h_n differs: the steps are right, so "every gradient depends on it" would send the
    reader into a backward that is correct (a newcomer's GRU returned output[-1] as h_n)."""
    d = _diagnose(gated.GRUReverseHnAtLastTime, "gru", bidirectional=True)
    assert d.bad == ["h_n"], d.render()
    assert d.backward.startswith("every gradient agrees, and so does output: the steps are computed right, but what "
                                 "is returned as h_n is not the last state"), d.render()
