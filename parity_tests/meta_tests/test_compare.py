"""The comparison helpers themselves: tolerance arithmetic, index decoding, messages."""

import numpy as np
import pytest
from hypothesis import given

from parity_tests.core.compare import compare, format_comparison
from parity_tests.core.runs import reference
from parity_tests.core.strategies import cases
from parity_tests.core.tolerance import rtol_for
from parity_tests.families.rnn import RNN, RNNConfig, bounds, locate
from rnn_parity.reference.elman import rnn_loop_vjp


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_budget_is_1000_eps_of_the_requested_precision(dtype):
    """At the boundary: 999 eps of the scale passes, 1001 eps fails, for the precision the
    case asked for, whatever dtype the actual array has (here always float64)."""
    eps, scale = float(np.finfo(dtype).eps), 4.0
    expected, bound = np.array([scale, -1.0]), np.array([1.0, scale / 2])
    for ulps, ok in ((999, True), (1001, False)):
        actual = expected + np.array([0.0, ulps * eps * scale])
        c = compare("t", actual, expected, dtype=dtype, bound=bound)
        assert c.passed is ok and c.scale == scale and c.rtol == rtol_for(dtype)


def test_budget_is_normwise_not_elementwise():
    expected = np.array([1.0, 1e-12])
    actual = expected + np.array([0.0, 1e-14])  # 1% off on the tiny element, 1e-14 absolute
    c = compare("t", actual, expected, dtype=np.float64)
    assert c.passed and c.max_rel == pytest.approx(1e-2)
    assert not compare("t", expected + 1e-12, expected, dtype=np.float64).passed


def test_magnitude_raises_the_scale_only_upwards():
    expected = np.array([1e-3])
    actual = expected + 1e-15
    assert not compare("t", actual, expected, dtype=np.float64).passed  # 1e-12 relative
    assert compare("t", actual, expected, dtype=np.float64, bound=np.array([1.0])).passed
    assert compare("t", actual, expected, dtype=np.float64, bound=np.array([1e-9])).scale == 1e-3


def test_exact_zero_reference_needs_exact_zero():
    zero = np.zeros(3)
    assert compare("t", zero, zero, dtype=np.float64).passed
    c = compare("t", np.array([0.0, 1e-300, 0.0]), zero, dtype=np.float64)
    assert not c.passed and c.mismatched == 1 and c.abs_index == (1,)


def test_nan_and_inf_always_fail():
    e = np.ones(4)
    for bad in (np.nan, np.inf, -np.inf):
        a = e.copy()
        a[2] = bad
        c = compare("t", a, e, dtype=np.float64)
        assert not c.passed and c.abs_index == (2,) and c.max_abs == np.inf


def test_counts_and_message_read_like_assert_close():
    e = np.arange(1.0, 11.0)
    a = e.copy()
    a[[3, 7]] += [0.5, -2.0]
    c = compare("grad bias_hh_l0", a, e, dtype=np.float64, locate=lambda t, i: locate(RNNConfig(3, 10), t, i))
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
    assert locate(cfg, tensor, index) == expected


@given(case=cases(RNN, dtype="float64"))
def test_loop_reference_agrees_with_torch_nn_rnn(case):
    """The explicit-loop reference (running error bounds, per-step traces) is cross-checked
    against torch.nn.RNN, so a mistake in it cannot hide."""
    cfg, a = case.config, case.materialize()
    tm = (lambda z: z.swapaxes(0, 1)) if cfg.batch_first else (lambda z: z)
    loop = rnn_loop_vjp(cfg.module_kwargs(), a["params"], tm(a["x"]), a["h0"], tm(a["d_output"]), a["d_h_n"])
    ref = reference(case, a)
    mags = bounds(case, a)
    mine = dict(output=tm(loop.output), h_n=loop.h_n, dx=tm(loop.dx), dh0=loop.dh0,
                **{f"grad {k}": v for k, v in loop.grads.items()})
    for name, want in ref.items():
        c = compare(name, mine[name], want, dtype=np.float64, bound=mags[name])
        assert c.passed, f"loop reference {name}: normwise {c.normwise:.3g}"
        # A bound is a sum of |terms|: never smaller than the result it bounds.
        assert np.all(np.abs(want) <= mags[name] * (1 + 1e-12) + 1e-300), name
