"""Layers written as ゼロから作るDeep Learning ❷ writes them (``--convention dlfs2``;
``families/conventions._DLFS2*Adapter``), with the examples of ``learners/dlfs2_layers.py``.

The book's layers take their weights in the constructor, stack the LSTM's gates f, g, i, o,
keep one bias, run ``backward(dhs)`` with no gradient on the final cell state and no dc0,
and allocate hs / dxs as float32 (``dtype='f'``) whatever the input.
"""

import numpy as np
import pytest

from parity_tests.core.cases import Case
from parity_tests.core.contract import Unsupported
from parity_tests.core.messages import ParityMismatch
from parity_tests.core.runs import run_both
from parity_tests.families import FAMILIES
from parity_tests.families.lstm import LSTMConfig
from parity_tests.families.lstm_cell import LSTMCellConfig
from parity_tests.families.rnn import RNNConfig
from parity_tests.options import resolve
from parity_tests.properties import assert_parity, run_property

M = "parity_tests.learners.dlfs2_layers"
OPTION = {"rnn": "--rnn-impl", "rnn_cell": "--cell-impl", "lstm": "--lstm-impl", "lstm_cell": "--lstm-cell-impl"}
SINGLE_LAYER = "single-layer, unidirectional"


def _adapted(family, name):
    return resolve({OPTION[family]: f"{M}:{name}", "--convention": "dlfs2"})[family]


@pytest.mark.parametrize("family, name", [("rnn", "TimeRNN"), ("rnn_cell", "RNN"), ("lstm", "TimeLSTM"),
                                          ("lstm_cell", "LSTM")])
def test_the_books_layers_pass_every_row_they_can_express(family, name):
    cls = _adapted(family, name)
    checked = 0
    for row in FAMILIES[family].rows:
        ran, declined = run_property(cls, row)  # raises on any mismatch
        checked += ran
        assert all(SINGLE_LAYER in d or "tanh" in d for d in declined), declined
    assert checked > 0


def test_the_lstm_gates_f_g_i_o_are_a_permutation_exact_both_ways():
    cls = _adapted("lstm", "TimeLSTM")
    impl = cls(3, 2)
    rows = np.arange(8.0)[:, None]  # torch's blocks i, f, g, o of H = 2 rows
    to_book = impl._swap(rows)
    assert to_book[:, 0].tolist() == [2, 3, 4, 5, 0, 1, 6, 7]  # the book's f, g, i, o
    assert np.array_equal(impl._swap(to_book, back=True), rows)


def test_c0_is_the_cases_and_what_the_book_cannot_give_is_compared_nowhere():
    case = Case(LSTMConfig(input_size=3, hidden_size=4, seq_len=5, batch=3, batch_first=True), seed=4)
    r = run_both(_adapted("lstm", "TimeLSTM"), case)
    names = [c.tensor for c in r.comparisons]
    assert "c_n" in names and "dc0" not in names and all(c.passed for c in r.comparisons)
    assert np.any(r.arrays["c0"]) and not np.any(r.arrays["d_c_n"])  # c0 its own; no gradient on c_n


def test_the_books_float32_buffers_decline_float64_and_pass_float32():
    cls = _adapted("rnn", "TimeRNNFloat32")
    config = dict(input_size=3, hidden_size=4, seq_len=5, batch=2)
    with pytest.raises(Unsupported, match=r"keeps hs in a float32 buffer .*float64 cases are declined"):
        assert_parity(cls, Case(RNNConfig(**config), seed=1))
    assert_parity(cls, Case(RNNConfig(dtype="float32", **config), seed=1))


def test_the_forget_gate_left_out_of_dc_prev_is_rejected_and_named_in_layer_and_step():
    for family, name, config in (("lstm", "TimeLSTMForgetNotCarried", LSTMConfig),
                                 ("lstm_cell", "LSTMForgetNotCarried", LSTMCellConfig)):
        kwargs = dict(input_size=3, hidden_size=4, batch=3, **({"seq_len": 5} if family == "lstm" else {}))
        with pytest.raises(ParityMismatch) as info:
            assert_parity(_adapted(family, name), Case(config(**kwargs), seed=2))
        assert "--convention dlfs2" in str(info.value)
        assert "cell state's gradient carried back without the forget gate" in str(info.value)
