"""scratch's variable-length sequences and truncated BPTT for the gated families (LSTM, GRU)
against torch: everything ``test_lengths_truncation.py`` checks for the RNN.

- ``lengths``: torch's own path, pack_padded_sequence(enforce_sorted=False) -> LSTM / GRU ->
  pad_packed_sequence; outputs past each length are zero, h_n (and the LSTM's c_n) is each
  sequence's state at its own last valid step (the reverse direction starts there), gradients
  at padded positions are zero, the batch keeps its original (unsorted) order.
- ``truncate=k``: torch run k steps at a time with the states detached between chunks (h, and
  for the LSTM c too: torch's state is the pair).

Both sides go through the suite's own machinery (``properties.assert_parity``: the
contract-checked plug-in, the family's ``torch_call`` and its running error bounds,
``reference/gated.py``, with the one tolerance rule). The properties are built per class by
``lengths_property`` / ``truncate_property`` so that ``meta_tests/test_gated_extensions.py``
runs exactly them on planted mistakes (``planted/gated_extension_bugs.py``), which they must
reject. These are scratch's extensions of the contract, so they are checked on scratch's classes.
"""

from __future__ import annotations

import inspect
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import example, given

from parity_tests.core.cases import Case
from parity_tests.core.contract import impl_name
from parity_tests.core.strategies import cases_truncated, cases_with_lengths
from parity_tests.families.gru import GRU as GRU_FAMILY
from parity_tests.families.gru import GRUConfig
from parity_tests.families.lstm import LSTM as LSTM_FAMILY
from parity_tests.families.lstm import LSTMConfig
from parity_tests.properties import assert_parity
from rnn_parity.scratch import GRU, LSTM

# ---------------------------------------------------------------------------------------
# The edge cases, run first as @example (then hypothesis draws).
# ---------------------------------------------------------------------------------------
_L_DEEP = LSTMConfig(3, 4, num_layers=2, bidirectional=True, seq_len=5, batch=4)
_G_DEEP = GRUConfig(3, 4, num_layers=2, bidirectional=True, seq_len=5, batch=4)


def _length_examples(deep) -> list:
    return [
        Case(deep, seed=7, lengths=(2, 5, 1, 3)),  # unsorted, with a length-1 sequence
        Case(replace(deep, batch_first=True), seed=8, lengths=(5, 5, 5, 5)),  # all full (B != T)
        # no sequence reaches T: pad_packed_sequence(total_length=T) pads the tail; h0=None
        Case(replace(deep, batch=3, has_h0=False), seed=9, lengths=(3, 1, 2)),
        # T = 1: every sequence is one step, and one sequence in the batch
        Case(replace(deep, seq_len=1, batch=1), seed=10, lengths=(1,)),
    ]


LSTM_LENGTH_EXAMPLES = _length_examples(_L_DEEP) + [
    # projected: h is (.., P) and the reverse direction reads the projected h
    Case(LSTMConfig(3, 4, num_layers=2, bidirectional=True, proj_size=2, seq_len=5, batch=3), seed=11,
         lengths=(4, 1, 5)),
    Case(LSTMConfig(2, 3, proj_size=1, batch_first=True, seq_len=4, batch=2), seed=12, lengths=(1, 4)),
]
GRU_LENGTH_EXAMPLES = _length_examples(_G_DEEP)


def _truncate_examples(cfg) -> list:
    return [
        Case(cfg(2, 3, num_layers=2, seq_len=7, batch=2), seed=13, truncate=3),  # 2 cuts, a short last chunk
        Case(cfg(2, 3, seq_len=4, batch=1), seed=14, truncate=1),  # every step cut (s = 1 too)
        Case(cfg(2, 3, seq_len=5, batch=2), seed=15, truncate=5),  # k = T: no cut at all
        Case(cfg(3, 4, batch_first=True, seq_len=6, batch=2, has_h0=False), seed=16, truncate=2),
    ]


LSTM_TRUNCATE_EXAMPLES = _truncate_examples(LSTMConfig) + [
    Case(LSTMConfig(3, 4, num_layers=2, proj_size=2, seq_len=6, batch=3), seed=17, truncate=2),
]
GRU_TRUNCATE_EXAMPLES = _truncate_examples(GRUConfig)


# ---------------------------------------------------------------------------------------
# The properties, built per (class, family): the same test for scratch and for the planted
# classes of the meta tests.
# ---------------------------------------------------------------------------------------
def _property(cls, strategy, examples, name: str):
    def parity(case):
        __tracebackhide__ = True
        assert_parity(cls, case)

    # Every (class, property) pair gets its own entry in hypothesis' example database (as
    # properties.run_property does): the key digests the source and the signature.
    parity.__signature__ = inspect.signature(parity).replace(return_annotation=f"{impl_name(cls)}|{name}")
    test = given(case=strategy)(parity)
    for case in reversed(examples):
        test = example(case=case)(test)
    return test


def lengths_property(cls, family, examples=(), **knobs):
    """Variable lengths: ``cls`` with ``lengths`` equals torch's packed-sequence run.
    ``knobs`` go to the family's strategy (scratch's properties pin none)."""
    return _property(cls, cases_with_lengths(family, **knobs), examples, "lengths")


def truncate_property(cls, family, examples=(), **knobs):
    """Truncated BPTT: ``cls`` with ``truncate=k`` equals torch run k steps at a time with
    its states detached between chunks (unidirectional cases)."""
    return _property(cls, cases_truncated(family, **knobs), examples, "truncate")


KINDS = {
    "lstm": (LSTM, LSTM_FAMILY, LSTM_LENGTH_EXAMPLES, LSTM_TRUNCATE_EXAMPLES),
    "gru": (GRU, GRU_FAMILY, GRU_LENGTH_EXAMPLES, GRU_TRUNCATE_EXAMPLES),
}


@pytest.mark.parametrize("kind", KINDS)
def test_variable_lengths_match_packed_sequences(kind):
    cls, family, length_examples, _ = KINDS[kind]
    lengths_property(cls, family, length_examples)()


@pytest.mark.parametrize("kind", KINDS)
def test_truncated_bptt_matches_torch_with_detached_states(kind):
    cls, family, _, truncate_examples = KINDS[kind]
    truncate_property(cls, family, truncate_examples)()


# ---------------------------------------------------------------------------------------
# What the comparison with torch does not say by itself.
# ---------------------------------------------------------------------------------------
def _run(cls, case, lengths=None, truncate=None):
    """scratch on ``case`` -> (output, dx), upstream gradients drawn everywhere (also at the
    padded positions, which must not reach anything)."""
    c, a = case.config, case.materialize()
    m = cls(**c.module_kwargs())
    m.params = dict(a["params"])
    if cls is LSTM:
        hx = None if a["h0"] is None else (a["h0"], a["c0"])
        out, _ = m.forward(a["x"], hx, lengths=lengths)
        dx, _ = m.backward(a["d_output"], a["d_h_n"], a["d_c_n"], truncate=truncate)
    else:
        out, _ = m.forward(a["x"], a["h0"], lengths=lengths)
        dx, _ = m.backward(a["d_output"], a["d_h_n"], truncate=truncate)
    return out, dx


def _padded_positions_are_zero(cls, case):
    c = case.config
    out, dx = _run(cls, case, lengths=np.array(case.lengths))
    padded = np.arange(c.seq_len)[:, None] >= np.array(case.lengths)[None, :]  # (T, B)
    if c.batch_first:
        padded = padded.T
    assert np.all(out[padded] == 0), f"output not zero past the lengths {case.lengths}: {case.describe()}"
    assert np.all(dx[padded] == 0), f"dx not zero past the lengths {case.lengths}: {case.describe()}"


@given(case=cases_with_lengths(LSTM_FAMILY, dtype="float64"))
@example(case=LSTM_LENGTH_EXAMPLES[0])
@example(case=LSTM_LENGTH_EXAMPLES[4])  # projected
def test_lstm_padded_positions_are_zero(case):
    _padded_positions_are_zero(LSTM, case)


@given(case=cases_with_lengths(GRU_FAMILY, dtype="float64"))
@example(case=GRU_LENGTH_EXAMPLES[0])
def test_gru_padded_positions_are_zero(case):
    _padded_positions_are_zero(GRU, case)


@pytest.mark.parametrize("kind", KINDS)
def test_truncate_at_least_T_is_full_bptt(kind):
    """k >= T cuts nothing: the very numbers of full BPTT (and torch's)."""
    cls, _, _, _ = KINDS[kind]
    cfg = LSTMConfig if kind == "lstm" else GRUConfig
    case = Case(cfg(2, 3, num_layers=2, seq_len=5, batch=2), seed=18)
    full = _run(cls, case)
    for k in (5, 6):
        cut = _run(cls, case, truncate=k)
        assert all(np.array_equal(f, g) for f, g in zip(full, cut)), f"truncate={k} differs from full BPTT"
    assert_parity(cls, replace(case, truncate=5))


@pytest.mark.parametrize("kind", KINDS)
def test_truncation_changes_the_gradient(kind):
    """The truncated examples really cut something: with k < T, dx differs from full BPTT
    far above the tolerance (so an implementation ignoring ``truncate`` cannot pass them)."""
    cls, _, _, examples = KINDS[kind]
    for case in (e for e in examples if e.truncate < e.config.seq_len):
        full, cut = _run(cls, case)[1], _run(cls, case, truncate=case.truncate)[1]
        assert np.max(np.abs(full - cut)) > 1e-6 * np.max(np.abs(full)), case.describe()
