"""scratch's variable-length sequences and truncated BPTT against torch.

- ``lengths``: torch's own path, pack_padded_sequence(enforce_sorted=False) -> RNN ->
  pad_packed_sequence; outputs past each length are zero, h_n is each sequence's state at
  its own last valid step (the reverse direction starts there), gradients at padded
  positions are zero, and the batch keeps its original (unsorted) order.
- ``truncate=k``: torch run k steps at a time with the hidden state detached between
  chunks (seed 000's update rule sums only the last tau steps).
These are scratch's extensions of the contract, so they are checked on scratch.RNN.
"""

from dataclasses import replace

import numpy as np
from hypothesis import example, given

from parity_tests.core.cases import Case
from parity_tests.core.strategies import cases_truncated, cases_with_lengths
from parity_tests.families.rnn import RNN as RNN_FAMILY
from parity_tests.families.rnn import RNNConfig
from parity_tests.properties import assert_parity
from rnn_parity.scratch import RNN

_BIDIR = RNNConfig(3, 4, num_layers=2, bidirectional=True, seq_len=5, batch=4)


@given(case=cases_with_lengths(RNN_FAMILY))
@example(case=Case(_BIDIR, seed=7, lengths=(2, 5, 1, 3)))  # unsorted, with a length-1 sequence
@example(case=Case(replace(_BIDIR, batch_first=True), seed=8, lengths=(5, 5, 5, 5)))  # all full
def test_variable_lengths_match_packed_sequences(case):
    assert_parity(RNN, case)


@given(case=cases_with_lengths(RNN_FAMILY, dtype="float64"))
def test_padded_positions_are_zero(case):
    c, a = case.config, case.materialize()
    rnn = RNN(**c.module_kwargs())
    rnn.params = a["params"]
    out, _ = rnn.forward(a["x"], a["h0"], lengths=np.array(case.lengths))
    dx, _ = rnn.backward(a["d_output"], a["d_h_n"])
    t = np.arange(c.seq_len)[:, None]
    padded = t >= np.array(case.lengths)[None, :]  # (T, B)
    if c.batch_first:
        padded = padded.T
    assert np.all(out[padded] == 0) and np.all(dx[padded] == 0)


@given(case=cases_truncated(RNN_FAMILY))
@example(case=Case(RNNConfig(2, 3, num_layers=2, seq_len=7, batch=2), seed=9, truncate=3))
@example(case=Case(RNNConfig(2, 3, seq_len=4, batch=1), seed=10, truncate=1))  # every step cut
def test_truncated_bptt_matches_torch_with_detached_state(case):
    assert_parity(RNN, case)


def test_truncate_at_least_T_is_full_bptt():
    case = Case(RNNConfig(2, 3, num_layers=2, seq_len=5, batch=2), seed=11)
    full = assert_parity(RNN, case)
    cut = assert_parity(RNN, replace(case, truncate=5))
    assert [c.max_abs for c in full] == [c.max_abs for c in cut]
