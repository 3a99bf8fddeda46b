"""Two ways a verdict could mislead, found by newcomers running the book ゼロから作るDeep
Learning ❷'s layers (``properties.run_property``, ``diagnosis._float32_sized``):

* a row "passed" for a plug-in that declined every informative draw: the configurations it
  accepts (one layer, no bias) are hypothesis's simplest, drawn with zero scales, where a
  GRU that is not torch's agrees with torch. The generic case added after hypothesis fails it.
* a float64 case whose only differences are float32 rounding (a float32 buffer) was
  diagnosed "the forward pass is wrong ... suspects: none"; the diagnosis now says precision.
"""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import strategies as st

from parity_tests import properties
from parity_tests.core.cases import Case, generic_variant, informative
from parity_tests.core.messages import ParityMismatch
from parity_tests.core.runs import comparisons as run_comparisons
from parity_tests.diagnosis import diagnose
from parity_tests.families import FAMILIES, row_by_name
from parity_tests.families.gru import GRUConfig
from parity_tests.families.rnn import RNNConfig
from parity_tests.planted.gated import GRUResetBefore
from rnn_parity import scratch

ZERO = Case(GRUConfig(input_size=2, hidden_size=3, seq_len=3, batch=2, bias=False), seed=5,
            weight_scale=0.0, input_scale=0.0, zero_weights=True, zero_inputs=True)


@pytest.fixture
def degenerate_draws_only(monkeypatch):
    """The GRU rows draw only ZERO and have no edge cases: what a plug-in declining every
    other draw leaves of them."""
    monkeypatch.setattr(properties, "cases", lambda family, **pins: st.just(ZERO))
    monkeypatch.setitem(properties.FAMILIES, "gru", replace(FAMILIES["gru"], edge_cases=lambda pins: []))


def test_a_different_model_seen_only_on_zero_weights_fails_on_the_generic_case_after(degenerate_draws_only):
    with pytest.raises(ParityMismatch) as info:
        properties.run_property(GRUResetBefore, row_by_name("gru_no_bias"))
    assert "weight_scale=1, input_scale=1" in str(info.value)
    assert "all had zero weights or inputs" in "\n".join(info.value.__notes__)
    assert "GRU reset gate applied to h before W_hn" in str(info.value)


def test_a_correct_plug_in_passes_with_the_generic_case_counted(degenerate_draws_only):
    checked, declined = properties.run_property(scratch.GRU, row_by_name("gru_no_bias"))
    assert checked == 2 and not declined  # ZERO (hypothesis runs it once: st.just) and the generic case


def test_informative_means_nonzero_weights_and_inputs():
    assert not informative(ZERO)
    generic = generic_variant(ZERO, {"min_weight_scale": 1.0})
    assert informative(generic) and generic.config == ZERO.config
    assert generic_variant(ZERO, {"max_weight_scale": 0.5}).weight_scale == 0.5  # the row's bounds


class _Float32Output(scratch.RNN):
    """A correct RNN that stores its output in a float32 buffer (the book's dtype='f')."""

    cast_back = False

    def forward(self, x, h0=None):
        out, h_n = super().forward(x, h0)
        out = out.astype(np.float32)
        return (out.astype(x.dtype) if self.cast_back else out), h_n


class _Float32OutputCastBack(_Float32Output):
    cast_back = True


@pytest.mark.parametrize("cls, how", [(_Float32Output, "output came back as float32"),
                                      (_Float32OutputCastBack, "everything came back as float64")])
def test_float32_rounding_alone_is_diagnosed_as_precision_not_as_a_wrong_forward(cls, how):
    case = Case(RNNConfig(input_size=3, hidden_size=4, seq_len=5, batch=3), seed=1)
    comparisons = run_comparisons(cls, case)
    assert [c.tensor for c in comparisons if not c.passed] == ["output"]
    d = diagnose(cls, case, comparisons)
    text = d.render()
    assert "precision: every difference is within float32's budget" in text and how in text
    assert "  suspects" not in text and "forward:" not in text and d.headline_note() is None


def test_a_real_mistake_is_still_localized_and_named():
    from parity_tests.planted.gated import GRUResetBefore as Wrong

    case = Case(GRUConfig(input_size=3, hidden_size=4, seq_len=5, batch=3), seed=1)
    d = diagnose(Wrong, case, run_comparisons(Wrong, case))
    assert d.precision is None and any("reset gate applied to h before" in s.name for s in d.suspects)


def _stored_float32(bug):
    """``bug`` (a planted gated class) with its output and dx stored in float32 buffers, as the
    book's TimeLSTM stores hs and dxs: float32 rounding everywhere AND a mistake."""

    class Stored(bug):
        def forward(self, x, hx=None):
            out, states = super().forward(x, hx)
            return out.astype(np.float32), states

        def backward(self, *d):
            dx, d_init = super().backward(*d)
            return dx.astype(np.float32), d_init

    Stored.__name__ = bug.__name__ + "StoredFloat32"
    return Stored


def test_a_mistake_under_float32_buffers_is_still_localized_and_named_at_float32s_budget():
    """Judged at float64's budget the float32 output "diverges at step 0" and no suspect matches
    (the mistakes' numbers are float64): a newcomer with the book's buffers and one real
    mistake got "suspects: none". At float32's budget the rounding passes and the mistake is named."""
    from parity_tests.families.lstm import LSTMConfig
    from parity_tests.planted.gated import LSTMForgetGradUsesCt

    cls = _stored_float32(LSTMForgetGradUsesCt)
    case = Case(LSTMConfig(input_size=3, hidden_size=4, seq_len=5, batch=3), seed=1)
    comparisons = run_comparisons(cls, case)
    assert not next(c for c in comparisons if c.tensor == "output").passed  # float32 rounding alone
    d = diagnose(cls, case, comparisons)
    text = d.render()
    assert d.precision is None and "judged at float32's budget: output and dx came back as float32" in text
    assert "forward agrees" in text, text
    assert [s.name for s in d.suspects][:1] == ["forget-gate gradient uses c_t instead of c_(t-1)"], text


def test_a_generic_case_that_gives_the_initial_state_says_so():
    """The generic case gives h0 where the failing case had none; a GRUCell with the reset gate
    before W_hn and no bias agrees with torch at h = 0, so "the shrunk example hides it" was
    wrong (a newcomer's finding): both lines now say the generic case gave the initial state,
    and neither says which of its changes hides the mistake (the zero weights may, a review found)."""
    from parity_tests.families.gru_cell import GRUCellConfig
    from parity_tests.planted.gated import GRUCell, _ResetBefore

    class CellResetBefore(_ResetBefore, GRUCell):
        pass

    case = Case(GRUCellConfig(input_size=3, hidden_size=4, batch=3, bias=False, has_h0=False), seed=1)
    comparisons = run_comparisons(CellResetBefore, case)
    assert next(c for c in comparisons if c.tensor == "h_next").passed  # at h = 0 the models agree
    d = diagnose(CellResetBefore, case, comparisons)
    assert "an initial state given" in d.headline_note() and "shrunk" not in d.headline_note()
    assert "the initial state given), which fails too" in d.render()


def test_a_different_forward_model_is_said_when_its_backward_has_a_mistake_too():
    """A public reset-before GRU whose backward also took sigmoid' from the pre-activations
    matched no single suspect, and the learner heard of neither mistake: the forward alone is
    explained by the reset-before model, which the diagnosis now says."""
    from parity_tests.planted.gated import GRUResetBefore, GRUSigmoidGradFromPreactivation

    class ResetBeforeAndPreactivation(GRUResetBefore):
        sig_grad = GRUSigmoidGradFromPreactivation.sig_grad

    case = Case(GRUConfig(input_size=3, hidden_size=4, seq_len=5, batch=3), seed=1)
    d = diagnose(ResetBeforeAndPreactivation, case, run_comparisons(ResetBeforeAndPreactivation, case))
    text = d.render()
    assert not d.suspects and d.forward_model, text
    assert all("reset gate applied to h before W_hn" in s.name for s in d.forward_model), text
    assert 'the forward pass alone is reproduced by "GRU reset gate applied to h before W_hn' in text
    assert "backward with" not in text.split("the forward pass alone")[1]  # the forward part of the names only
    # that model's exact backward is among the alternatives and does not match: the backward's own
    # mistake is certain, not hedged (a newcomer's d2l-style GRU was told "or is that forward's exact
    # derivative", which the alternatives had ruled out)
    assert "that model's exact backward does not reproduce the gradients, so the backward has a mistake" in text
    assert "or is that forward's exact derivative" not in text
    # one mistake alone is named as before, with no forward-alone line
    d1 = diagnose(GRUResetBefore, case, run_comparisons(GRUResetBefore, case))
    assert d1.suspects and not d1.forward_model


def test_a_forward_mistake_with_its_own_exact_backward_is_named_or_not_blamed_on_a_second_mistake():
    """A forward mistake differentiated exactly: z through tanh with tanh's derivative now has its
    own suspect; the RNN's reverse outputs left in processing order, differentiated as such, has
    none, and the forward-alone line must not claim a second mistake (a review found it did)."""
    from parity_tests.planted.bugs import ReverseNotReReversed, ReverseOutputNotReReversed
    from parity_tests.planted.gated import GRUZTanh

    class ZTanhExact(GRUZTanh):
        def gate_sig_grad(self, gate, a, s):
            return 1 - s ** 2 if gate == "z" else super().gate_sig_grad(gate, a, s)

    case = Case(GRUConfig(input_size=3, hidden_size=4, seq_len=5, batch=3), seed=1)
    d = diagnose(ZTanhExact, case, run_comparisons(ZTanhExact, case))
    assert [s.name for s in d.suspects] == [
        "update gate z computed with tanh instead of sigmoid (forward and backward of that model)"], d.render()

    class ReverseOutputsExact(ReverseOutputNotReReversed, ReverseNotReReversed):
        pass

    case = Case(RNNConfig(input_size=3, hidden_size=4, bidirectional=True, seq_len=5, batch=3), seed=1)
    d = diagnose(ReverseOutputsExact, case, run_comparisons(ReverseOutputsExact, case))
    text = d.render()
    assert not d.suspects and d.forward_model, text
    line = text.split("the forward pass alone is reproduced by ")[1]
    assert "start there. No alternative reproduces the gradients too" in line, line
    assert "or is that forward's exact derivative" in line, line

