"""Metamorphic properties of scratch's LSTM and GRU alone (no torch on either side): two ways
of computing the same thing agree, forward and backward.

- a layer over T steps equals T cell steps (LSTMCell / GRUCell; gradients chained by hand);
- a 2-layer stack equals two stacked 1-layer modules (gradients passed down by hand);
- batch_first is a transpose of time-major;
- a batch of one equals the unbatched call.

The two sides group the same arithmetic differently, so they agree to rounding; they are
judged by the suite's one tolerance rule with the case's running error bounds (the family's
``bounds``, ``reference/gated.py``), as ``test_metamorphic.py`` does for the RNN.
"""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from parity_tests.core.compare import compare
from parity_tests.core.strategies import cases
from parity_tests.families.gru import GRU as GRU_FAMILY
from parity_tests.families.gru import GRUConfig
from parity_tests.families.lstm import LSTM as LSTM_FAMILY
from parity_tests.families.lstm import LSTMConfig
from rnn_parity.scratch import GRU, LSTM, GRUCell, LSTMCell

KINDS = {
    "lstm": (LSTM_FAMILY, LSTM, LSTMCell, LSTMConfig),
    "gru": (GRU_FAMILY, GRU, GRUCell, GRUConfig),
}  # family record, layer, cell, configuration


def assert_same(name, actual, expected, bound):
    __tracebackhide__ = True
    c = compare(name, actual, expected, dtype=expected.dtype, bound=bound)
    assert c.passed, f"{name}: normwise difference {c.normwise:.3g} > {c.rtol:.3g} (greatest {c.max_abs:.3g} at {c.abs_index})"


def _module(cls, case, arrays, **overrides):
    m = cls(**dict(case.config.module_kwargs(), **overrides))
    m.params = dict(arrays["params"])
    return m


def _run(kind, module, x, states, d_output, d_finals):
    """forward and backward of a sequence module -> (output, finals, dx, d_inits, grads)."""
    if kind == "lstm":
        out, (h_n, c_n) = module.forward(x, None if states[0] is None else tuple(states))
        dx, (dh0, dc0) = module.backward(d_output, *d_finals)
        return out, [h_n, c_n], dx, [dh0, dc0], module.grads
    out, h_n = module.forward(x, states[0])
    dx, dh0 = module.backward(d_output, *d_finals)
    return out, [h_n], dx, [dh0], module.grads


def _states(kind, a):
    return [a["h0"], a["c0"]] if kind == "lstm" else [a["h0"]]


def _d_finals(kind, a):
    return [a["d_h_n"], a["d_c_n"]] if kind == "lstm" else [a["d_h_n"]]


def _names(kind):
    return (["h_n", "c_n"], ["dh0", "dc0"]) if kind == "lstm" else (["h_n"], ["dh0"])


def _layer_cases(kind, **pins):
    knobs = dict(pins, projected=False) if kind == "lstm" and "projected" not in pins else pins
    return cases(KINDS[kind][0], **knobs)


@pytest.mark.parametrize("kind", list(KINDS))
@given(data=st.data())
def test_layer_equals_unrolled_cells(kind, data):
    fam, Layer, Cell, _ = KINDS[kind]
    case = data.draw(_layer_cases(kind, num_layers=1, bidirectional=False, batch_first=False))
    a = case.materialize()
    out, finals, dx, d_inits, grads = _run(kind, _module(Layer, case, a), a["x"], _states(kind, a), a["d_output"],
                                           _d_finals(kind, a))
    m = fam.bounds(case, a)
    c = case.config
    p = {k.removesuffix("_l0"): v for k, v in a["params"].items()}
    T = c.seq_len
    state = [np.zeros((c.batch, c.hidden_size), dtype=a["x"].dtype) if s is None else s[0] for s in _states(kind, a)]
    cells, hs, cs = [], [], []
    for t in range(T):
        cell = Cell(c.input_size, c.hidden_size, bias=c.bias)
        cell.params = dict(p)
        if kind == "lstm":
            state = list(cell.forward(a["x"][t], tuple(state)))
            cs.append(state[1])
        else:
            state = [cell.forward(a["x"][t], state[0])]
        hs.append(state[0])
        cells.append(cell)
    assert_same("output", np.stack(hs), out, m["output"])
    for name, mine, theirs in zip(_names(kind)[0], state, finals):
        assert_same(name, mine[None], theirs, m[name])
    # Backward: the total reaching h_t is d_output_t plus what step t+1 sends back (and d_h_n at T-1).
    d = [g[0].copy() for g in _d_finals(kind, a)]
    dxs, total = [None] * T, {}
    for t in range(T - 1, -1, -1):
        d[0] = d[0] + a["d_output"][t]
        if kind == "lstm":
            dxs[t], d = cells[t].backward(d[0], d[1])
            d = list(d)
        else:
            dxs[t], dh = cells[t].backward(d[0])
            d = [dh]
        for k, v in cells[t].grads.items():
            total[k] = total.get(k, 0) + v
    assert_same("dx", np.stack(dxs), dx, m["dx"])
    for name, mine, theirs in zip(_names(kind)[1], d, d_inits):
        assert_same(name, mine[None], theirs, m[name])
    for k, v in total.items():
        assert_same(f"grad {k}_l0", v, grads[f"{k}_l0"], m[f"grad {k}_l0"])


@pytest.mark.parametrize("kind", list(KINDS))
@given(data=st.data())
def test_stacked_layer_equals_stacked_single_layers(kind, data):
    fam, Layer, _, _ = KINDS[kind]
    case = data.draw(_layer_cases(kind, num_layers=2, batch_first=False, projected=None) if kind == "lstm"
                     else _layer_cases(kind, num_layers=2, batch_first=False))
    a, c = case.materialize(), case.config
    out, finals, dx, d_inits, grads = _run(kind, _module(Layer, case, a), a["x"], _states(kind, a), a["d_output"],
                                           _d_finals(kind, a))
    m = fam.bounds(case, a)
    D = c.num_directions

    def layer(k, x):
        params = {n.replace(f"_l{k}", "_l0"): v for n, v in a["params"].items() if f"_l{k}" in n}
        inp = x.shape[-1]
        single = Layer(**dict(c.module_kwargs(), num_layers=1, input_size=inp))
        single.params = params
        states = [None if s is None else s[k * D:(k + 1) * D] for s in _states(kind, a)]
        return single, states

    low, low_states = layer(0, a["x"])
    y0, f0 = _forward(kind, low, a["x"], low_states)
    high, high_states = layer(1, y0)
    y1, f1 = _forward(kind, high, y0, high_states)
    assert_same("output", y1, out, m["output"])
    for i, name in enumerate(_names(kind)[0]):
        assert_same(name, np.concatenate([f0[i], f1[i]]), finals[i], m[name])
    dfin = _d_finals(kind, a)
    dy0, d1 = _backward(kind, high, a["d_output"], [g[D:] for g in dfin])
    dx0, d0 = _backward(kind, low, dy0, [g[:D] for g in dfin])
    assert_same("dx", dx0, dx, m["dx"])
    for i, name in enumerate(_names(kind)[1]):
        assert_same(name, np.concatenate([d0[i], d1[i]]), d_inits[i], m[name])
    for k, single in ((0, low), (1, high)):
        for n, v in single.grads.items():
            full = n.replace("_l0", f"_l{k}")
            assert_same(f"grad {full}", v, grads[full], m[f"grad {full}"])


def _forward(kind, module, x, states):
    if kind == "lstm":
        out, (h, c) = module.forward(x, None if states[0] is None else tuple(states))
        return out, [h, c]
    out, h = module.forward(x, states[0])
    return out, [h]


def _backward(kind, module, d_output, d_finals):
    if kind == "lstm":
        dx, (dh, dc) = module.backward(d_output, *d_finals)
        return dx, [dh, dc]
    dx, dh = module.backward(d_output, *d_finals)
    return dx, [dh]


@pytest.mark.parametrize("kind", list(KINDS))
@given(data=st.data())
def test_batch_first_is_a_transpose(kind, data):
    fam, Layer, _, _ = KINDS[kind]
    case = data.draw(_layer_cases(kind, batch_first=False, projected=None) if kind == "lstm"
                     else _layer_cases(kind, batch_first=False))
    a = case.materialize()
    m = fam.bounds(case, a)
    tm = _run(kind, _module(Layer, case, a), a["x"], _states(kind, a), a["d_output"], _d_finals(kind, a))
    bf = _run(kind, _module(Layer, case, a, batch_first=True), a["x"].swapaxes(0, 1), _states(kind, a),
              a["d_output"].swapaxes(0, 1), _d_finals(kind, a))
    assert_same("output", bf[0].swapaxes(0, 1), tm[0], m["output"])
    assert_same("dx", bf[2].swapaxes(0, 1), tm[2], m["dx"])
    for i, name in enumerate(_names(kind)[0]):
        assert_same(name, bf[1][i], tm[1][i], m[name])
    for i, name in enumerate(_names(kind)[1]):
        assert_same(name, bf[3][i], tm[3][i], m[name])
    for k, v in tm[4].items():
        assert_same(f"grad {k}", bf[4][k], v, m[f"grad {k}"])


@pytest.mark.parametrize("kind", list(KINDS))
@given(data=st.data())
def test_batch_of_one_equals_unbatched(kind, data):
    fam, Layer, _, _ = KINDS[kind]
    case = data.draw(_layer_cases(kind, batch_first=False).map(lambda c: replace(c, config=replace(c.config, batch=1))))
    a = case.materialize()
    m = fam.bounds(case, a)
    batched = _run(kind, _module(Layer, case, a), a["x"], _states(kind, a), a["d_output"], _d_finals(kind, a))
    sq = lambda s: None if s is None else s[:, 0]  # noqa: E731
    unbatched = _run(kind, _module(Layer, case, a), a["x"][:, 0], [sq(s) for s in _states(kind, a)],
                     a["d_output"][:, 0], [g[:, 0] for g in _d_finals(kind, a)])
    assert_same("output", unbatched[0], batched[0][:, 0], m["output"][:, 0])
    assert_same("dx", unbatched[2], batched[2][:, 0], m["dx"][:, 0])
    for i, name in enumerate(_names(kind)[0]):
        assert_same(name, unbatched[1][i], batched[1][i][:, 0], m[name][:, 0])
    for i, name in enumerate(_names(kind)[1]):
        assert_same(name, unbatched[3][i], batched[3][i][:, 0], m[name][:, 0])
    for k, v in batched[4].items():
        assert_same(f"grad {k}", unbatched[4][k], v, m[f"grad {k}"])
