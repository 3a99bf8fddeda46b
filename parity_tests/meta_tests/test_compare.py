"""The comparison helpers themselves: tolerance arithmetic, index decoding, messages."""

import numpy as np
import pytest
from hypothesis import given

from parity_tests.cases import RNNConfig
from parity_tests.compare import Locator, compare, format_comparison, rtol_for
from parity_tests.harness import rnn_magnitudes
from parity_tests.strategies import rnn_cases
from reference import torch_rnn_vjp
from reference.torch_loop import rnn_loop_vjp


def test_rtol_is_1000_eps_of_the_dtype():
    assert rtol_for(np.float64) == 1000 * np.finfo(np.float64).eps
    assert rtol_for(np.float32) == 1000 * np.finfo(np.float32).eps


def test_budget_is_normwise_not_elementwise():
    expected = np.array([1.0, 1e-12])
    actual = expected + np.array([0.0, 1e-14])  # 1% off on the tiny element, 1e-14 absolute
    c = compare("t", actual, expected, rtol=1e-13)
    assert c.passed and c.max_rel == pytest.approx(1e-2)
    assert not compare("t", expected + 1e-12, expected, rtol=1e-13).passed


def test_magnitude_raises_the_scale_only_upwards():
    expected = np.array([1e-3])
    actual = expected + 1e-15
    assert not compare("t", actual, expected, rtol=1e-13).passed  # 1e-12 relative
    assert compare("t", actual, expected, rtol=1e-13, magnitude=np.array([1.0])).passed
    assert compare("t", actual, expected, rtol=1e-13, magnitude=np.array([1e-9])).scale == 1e-3


def test_exact_zero_reference_needs_exact_zero():
    zero = np.zeros(3)
    assert compare("t", zero, zero, rtol=1e-13).passed
    c = compare("t", np.array([0.0, 1e-300, 0.0]), zero, rtol=1e-13)
    assert not c.passed and c.mismatched == 1 and c.abs_index == (1,)


def test_nan_and_inf_always_fail():
    e = np.ones(4)
    for bad in (np.nan, np.inf, -np.inf):
        a = e.copy()
        a[2] = bad
        c = compare("t", a, e, rtol=1.0)
        assert not c.passed and c.abs_index == (2,) and c.max_abs == np.inf


def test_counts_and_message_read_like_assert_close():
    e = np.arange(1.0, 11.0)
    a = e.copy()
    a[[3, 7]] += [0.5, -2.0]
    c = compare("grad bias_hh_l0", a, e, rtol=1e-13, locate=Locator(RNNConfig(3, 10)))
    text = format_comparison(c)
    assert "Mismatched elements: 2 / 10 (20.0%)" in text
    assert "Greatest absolute difference: 2 at index (7,) = (layer 0, forward direction, unit 7)" in text


@pytest.mark.parametrize(
    "tensor, index, batch_first, expected",
    [
        ("output", (4, 1, 5), False, "layer 1 (last), reverse direction, time step 4, batch 1, unit 2"),
        ("output", (1, 4, 2), True, "layer 1 (last), forward direction, time step 4, batch 1, unit 2"),
        ("h_n", (3, 0, 1), False, "layer 1, reverse direction, batch 0, unit 1"),
        ("dh0", (0, 1, 2), False, "layer 0, forward direction, batch 1, unit 2"),
        ("dx", (2, 1, 0), False, "time step 2, batch 1, input feature 0"),
        ("dx", (2, 1, 0), True, "time step 1, batch 2, input feature 0"),
        ("grad weight_hh_l1_reverse", (2, 0), False, "layer 1, reverse direction, unit 2, from hidden unit 0"),
        ("grad weight_ih_l0", (1, 4), False, "layer 0, forward direction, unit 1, from input feature 4"),
        ("grad weight_ih_l1", (0, 4), False, "layer 1, forward direction, unit 0, from layer 0 reverse unit 1"),
        ("grad bias_ih_l1_reverse", (2,), False, "layer 1, reverse direction, unit 2"),
    ],
)
def test_index_is_decoded_into_layer_direction_time_batch_unit(tensor, index, batch_first, expected):
    cfg = RNNConfig(5, 3, num_layers=2, bidirectional=True, batch_first=batch_first)
    assert Locator(cfg)(tensor, index) == expected


@given(case=rnn_cases(dtype="float64"))
def test_loop_reference_agrees_with_torch_nn_rnn(case):
    """The explicit-loop reference (magnitudes, per-step traces) is cross-checked against
    torch.nn.RNN, so a mistake in it cannot hide."""
    cfg, a = case.config, case.materialize()
    tm = (lambda z: z.swapaxes(0, 1)) if cfg.batch_first else (lambda z: z)
    loop = rnn_loop_vjp(cfg.module_kwargs(), a["params"], tm(a["x"]), a["h0"], tm(a["d_output"]), a["d_h_n"])
    ref = torch_rnn_vjp(cfg.module_kwargs(), a["params"], a["x"], a["h0"], a["d_output"], a["d_h_n"])
    mags = rnn_magnitudes(cfg, a)
    pairs = [("output", tm(loop.output), ref.output), ("h_n", loop.h_n, ref.h_n), ("dx", tm(loop.dx), ref.dx), ("dh0", loop.dh0, ref.dh0)]
    pairs += [(f"grad {k}", loop.grads[k], ref.grads[k]) for k in ref.grads]
    for name, got, want in pairs:
        c = compare(name, got, want, rtol=rtol_for(np.float64), magnitude=mags[name])
        assert c.passed, f"loop reference {name}: normwise {c.normwise:.3g}"
        # A magnitude is a sum of |terms|: never smaller than the result it bounds.
        assert np.all(np.abs(want) <= mags[name] * (1 + 1e-12) + 1e-300), name
