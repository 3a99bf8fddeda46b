"""Metamorphic properties of scratch alone (no torch): two ways of computing the same thing
must agree, forward and backward.

- an RNN over T steps equals T RNNCell steps (gradients chained by hand);
- a batch of one equals the unbatched call;
- batch_first is a transpose of time-major;
- a 2-layer RNN equals two stacked 1-layer RNNs (gradients passed down by hand).

The two sides do the same arithmetic in different groupings (one product over stacked time
steps vs. per-step products), so they agree to rounding, and they are compared with the
suite's tolerance policy: 1000 eps of the tensor's running error bound (computed by the
reference loop for the case; scaling by max|expected| alone raised a false alarm under the
thorough profile, a single-element grad weight_hh_l0 cancelled to 5e-5 from larger terms).
Both sides of every comparison are scratch.
"""

from dataclasses import replace

import numpy as np
from hypothesis import example, given

from parity_tests.core.cases import Case
from parity_tests.core.compare import compare
from parity_tests.core.strategies import cases
from parity_tests.families.rnn import RNN as RNN_FAMILY
from parity_tests.families.rnn import RNNConfig, bounds
from rnn_parity.scratch import RNN, RNNCell


def assert_same(name, actual, expected, mags):
    """``mags``: the running error bounds of the case (the RNN family's ``bounds``), indexed alike."""
    __tracebackhide__ = True
    c = compare(name, actual, expected, dtype=expected.dtype, bound=mags[name])
    assert c.passed, (
        f"{name}: normwise difference {c.normwise:.3g} > {c.rtol:.3g} "
        f"(greatest {c.max_abs:.3g} at index {c.abs_index})"
    )


def _scratch_rnn(case: Case, **overrides):
    cfg = replace(case.config, **overrides)
    arrays = case.materialize()
    rnn = RNN(**cfg.module_kwargs())
    rnn.params = dict(arrays["params"])
    return rnn, arrays


def _mags(case: Case, arrays) -> dict:
    return bounds(case, arrays)


@given(case=cases(RNN_FAMILY, num_layers=1, bidirectional=False, batch_first=False))
@example(case=Case(RNNConfig(2, 2, seq_len=1, batch=1), seed=5))
def test_rnn_equals_unrolled_cells(case):
    rnn, a = _scratch_rnn(case)
    out, h_n = rnn.forward(a["x"], a["h0"])
    dx, dh0 = rnn.backward(a["d_output"], a["d_h_n"])
    m = _mags(case, a)

    cfg, p = case.config, a["params"]
    T = cfg.seq_len
    cells = []
    h = a["h0"][0] if a["h0"] is not None else None
    outs = []
    for t in range(T):
        cell = RNNCell(cfg.input_size, cfg.hidden_size, bias=cfg.bias, nonlinearity=cfg.nonlinearity)
        cell.params = {k.removesuffix("_l0"): v for k, v in p.items()}
        h = cell.forward(a["x"][t], h)
        outs.append(h)
        cells.append(cell)
    assert_same("output", out, np.stack(outs), m)
    assert_same("h_n", h_n, outs[-1][None], m)

    # BPTT by hand: the gradient reaching h_t is the output's plus what step t+1 sends back.
    dh = a["d_h_n"][0]
    dxs = [None] * T
    grads = {k: np.zeros_like(v) for k, v in cells[0].params.items()}
    for t in range(T - 1, -1, -1):
        dxs[t], dh = cells[t].backward(a["d_output"][t] + dh)
        for k in grads:
            grads[k] += cells[t].grads[k]
    assert_same("dx", dx, np.stack(dxs), m)
    assert_same("dh0", dh0, dh[None], m)
    for k, g in grads.items():
        assert_same(f"grad {k}_l0", rnn.grads[f"{k}_l0"], g, m)


@given(case=cases(RNN_FAMILY, max_batch=1))
def test_batch_of_one_equals_unbatched(case):
    rnn, a = _scratch_rnn(case)
    out, h_n = rnn.forward(a["x"], a["h0"])
    dx, dh0 = rnn.backward(a["d_output"], a["d_h_n"])
    grads = rnn.grads
    squeeze_x = 0 if case.config.batch_first else 1  # where the batch axis of x is
    full = _mags(case, a)
    m = {k: (np.take(v, 0, axis=squeeze_x) if k in ("output", "dx") else v[:, 0] if k in ("h_n", "dh0") else v)
         for k, v in full.items()}
    h0 = None if a["h0"] is None else a["h0"][:, 0]
    out_u, h_n_u = rnn.forward(np.take(a["x"], 0, axis=squeeze_x), h0)
    dx_u, dh0_u = rnn.backward(np.take(a["d_output"], 0, axis=squeeze_x), a["d_h_n"][:, 0])
    assert out_u.ndim == 2 and h_n_u.ndim == 2
    assert_same("output", out_u, np.take(out, 0, axis=squeeze_x), m)
    assert_same("h_n", h_n_u, h_n[:, 0], m)
    assert_same("dx", dx_u, np.take(dx, 0, axis=squeeze_x), m)
    assert_same("dh0", dh0_u, dh0[:, 0], m)
    for k in grads:
        assert_same(f"grad {k}", rnn.grads[k], grads[k], m)


@given(case=cases(RNN_FAMILY, batch_first=False))
def test_batch_first_is_a_transpose(case):
    tm, a = _scratch_rnn(case)
    bf, _ = _scratch_rnn(case, batch_first=True)
    out, h_n = tm.forward(a["x"], a["h0"])
    dx, dh0 = tm.backward(a["d_output"], a["d_h_n"])
    out_b, h_n_b = bf.forward(a["x"].swapaxes(0, 1), a["h0"])
    dx_b, dh0_b = bf.backward(a["d_output"].swapaxes(0, 1), a["d_h_n"])
    m = _mags(case, a)  # time-major bounds
    m.update(output=m["output"].swapaxes(0, 1), dx=m["dx"].swapaxes(0, 1))
    assert_same("output", out_b, out.swapaxes(0, 1), m)
    assert_same("h_n", h_n_b, h_n, m)  # h0 / h_n stay (L*D, B, H) whatever batch_first is
    assert_same("dx", dx_b, dx.swapaxes(0, 1), m)
    assert_same("dh0", dh0_b, dh0, m)
    for k in tm.grads:
        assert_same(f"grad {k}", bf.grads[k], tm.grads[k], m)


@given(case=cases(RNN_FAMILY, num_layers=2))
def test_two_layers_equal_two_stacked_single_layers(case):
    cfg = case.config
    D = cfg.num_directions
    deep, a = _scratch_rnn(case)
    out, h_n = deep.forward(a["x"], a["h0"])
    dx, dh0 = deep.backward(a["d_output"], a["d_h_n"])
    m = _mags(case, a)

    kw = dict(cfg.module_kwargs(), num_layers=1)
    bottom = RNN(**kw)
    top = RNN(**dict(kw, input_size=D * cfg.hidden_size))
    bottom.params = {k: v for k, v in a["params"].items() if "_l0" in k}
    top.params = {k.replace("_l1", "_l0"): v for k, v in a["params"].items() if "_l1" in k}
    h0 = a["h0"] if a["h0"] is not None else np.zeros(cfg.state_shape(), dtype=a["x"].dtype)
    mid, h_n0 = bottom.forward(a["x"], h0[:D])
    out2, h_n1 = top.forward(mid, h0[D:])
    assert_same("output", out, out2, m)
    assert_same("h_n", h_n, np.concatenate([h_n0, h_n1]), m)

    d_mid, dh0_1 = top.backward(a["d_output"], a["d_h_n"][D:])
    dx2, dh0_0 = bottom.backward(d_mid, a["d_h_n"][:D])
    assert_same("dx", dx, dx2, m)
    assert_same("dh0", dh0, np.concatenate([dh0_0, dh0_1]), m)
    for k, g in bottom.grads.items():
        assert_same(f"grad {k}", deep.grads[k], g, m)
    for k, g in top.grads.items():
        name = f"grad {k.replace('_l0', '_l1')}"
        assert_same(name, deep.grads[k.replace("_l0", "_l1")], g, m)
