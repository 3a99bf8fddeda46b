"""The learners' conventions, plugged in through the adapters (parity_tests/adapters.py).

Each convention ships a correct example that the suite accepts and the seed's own buggy
one that it rejects; and seed 003's worked example is a golden test of the batch-first
convention, with its expected values computed by torch here, never pasted.
"""

import numpy as np
import pytest
import torch

from parity_tests.core.cases import Case
from parity_tests.core.compare import compare
from parity_tests.core.messages import ParityMismatch
from parity_tests.core.runs import run_both
from parity_tests.families import row_by_name
from parity_tests.families.conventions import adapt, rows_to_torch
from parity_tests.families.rnn import RNNConfig
from parity_tests.learners.column_rnn import ColumnRNN, ColumnRNNSwapped
from parity_tests.learners.rows_rnn import RowsRNN, RowsRNN003
from parity_tests.properties import run_property
from rnn_parity.scratch import RNN

SUPPORTED_ROWS = ["tanh_basic", "square_I_eq_H", "no_bias", "h0_none", "batch_first", "float32", "anything"]


@pytest.mark.parametrize("row", SUPPORTED_ROWS)
@pytest.mark.parametrize("learner, convention", [(ColumnRNN, "column"), (RowsRNN, "rows")], ids=["column", "rows"])
def test_correct_learner_is_accepted(learner, convention, row):
    ran, _ = run_property(adapt(learner, convention), row_by_name(row))
    assert ran > 0


@pytest.mark.parametrize("learner, convention", [(ColumnRNN, "column"), (RowsRNN, "rows")], ids=["column", "rows"])
def test_unsupported_configurations_are_declined_not_failed(learner, convention):
    ran, declined = run_property(adapt(learner, convention), row_by_name("bidirectional"))
    assert ran == 0 and declined and "single-layer, unidirectional tanh RNN" in declined[0]


@pytest.mark.parametrize(
    "learner, convention, row, blamed",
    [
        (ColumnRNNSwapped, "column", "square_I_eq_H", "dx"),  # seed 001
        (RowsRNN003, "rows", "tanh_basic", "grad bias_ih_l0"),  # seed 003
    ],
    ids=["column_seed001_swapped", "rows_seed003"],
)
def test_the_seeds_own_bug_is_rejected(learner, convention, row, blamed):
    with pytest.raises(ParityMismatch) as info:
        run_property(adapt(learner, convention), row_by_name(row))
    assert blamed in info.value.failed
    assert f"--convention {convention}" in str(info.value)  # the reproduce line works as printed


@pytest.mark.parametrize("learner, convention", [(ColumnRNN, "column"), (RowsRNN, "rows")], ids=["column", "rows"])
def test_single_bias_gradient_is_torchs_gradient_of_both_biases(learner, convention):
    """The learner has one bias b = b_ih + b_hh; the adapter must report its gradient as
    torch's gradient of each of the two (checked against torch, not against each other)."""
    case = Case(RNNConfig(2, 3, batch_first=True, seq_len=5, batch=4), seed=12)
    run = run_both(adapt(learner, convention), case)
    for name in ("grad bias_ih_l0", "grad bias_hh_l0"):
        c = compare(name, run.mine[name], run.ref[name], dtype=np.float64, bound=run.bounds[name])
        assert c.passed, f"{name}: normwise {c.normwise:.3g}"


def test_seed003_worked_example_golden():
    """Seed 003's example: x = [[[1, 2], [2, 3], [3, 4]]] / 100, its w_x, w_h, bias 1, tanh.
    torch.nn.RNN computes the expected hidden states; scratch (weights converted by the
    rows adapter's rows_to_torch) and the rows learner through the adapter must match."""
    x = np.array([[[1, 2], [2, 3], [3, 4]]]) / 100  # (batch, n_sequences, n_features)
    w_x = np.array([[1, 3, 5, 7], [3, 5, 7, 8]]) / 100  # (n_features, n_nodes)
    w_h = np.array([[1, 3, 5, 7], [2, 4, 6, 8], [3, 5, 7, 8], [4, 6, 8, 10]]) / 100
    b = np.array([1.0, 1.0, 1.0, 1.0])

    ref = torch.nn.RNN(2, 4, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(torch.tensor(w_x.T))
        ref.weight_hh_l0.copy_(torch.tensor(w_h.T))
        ref.bias_ih_l0.copy_(torch.tensor(b))
        ref.bias_hh_l0.zero_()
        expected = ref(torch.tensor(x))[0].numpy()

    rnn = RNN(2, 4, batch_first=True)
    rnn.params = rows_to_torch(w_x, w_h, b)
    np.testing.assert_allclose(rnn.forward(x)[0], expected, rtol=1e-14, atol=0)

    learner = adapt(RowsRNN, "rows")(2, 4, batch_first=True)
    learner.params = rows_to_torch(w_x, w_h, b)
    np.testing.assert_allclose(learner.forward(x)[0], expected, rtol=1e-14, atol=0)
    # And the learner's own forward, in its own convention, on the post's arrays.
    raw = RowsRNN(2, 4)
    raw.Wx, raw.Wh, raw.B = w_x, w_h, b
    np.testing.assert_allclose(raw.forward(x, np.zeros((1, 4))), expected, rtol=1e-14, atol=0)
