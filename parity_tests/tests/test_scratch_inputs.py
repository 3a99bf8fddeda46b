"""scratch's own behaviour beyond parity: bad input is refused clearly, dtypes are kept,
and no caller's array is ever written to.

One table of named bad calls (``BAD_CALLS``); each row says which exception and which
words the message must contain (the argument's name and the expected shape or dtype).
"""

import re

import numpy as np
import pytest
from hypothesis import given

from parity_tests.core.strategies import cases
from parity_tests.families.rnn import RNN as RNN_FAMILY
from parity_tests.families.rnn_cell import RNN_CELL
from rnn_parity.scratch import RNN, RNNCell

f64, f32 = np.float64, np.float32


def _rnn(**kw):
    return RNN(3, 4, **kw)


def _fwd(rnn=None, x_shape=(5, 2, 3), dtype=f64, h0=None):
    rnn = rnn or _rnn()
    return rnn.forward(np.zeros(x_shape, dtype=dtype), h0)


def _bwd(d_out_shape=(5, 2, 4), d_hn=None, dtype=f64):
    rnn = _rnn()
    rnn.forward(np.zeros((5, 2, 3)))
    return rnn.backward(np.zeros(d_out_shape, dtype=dtype), d_hn)


BAD_CALLS = [
    ("x 4-D", lambda: _fwd(x_shape=(5, 2, 3, 1)), ValueError, r"x must be 3-D .* got 4-D"),
    ("x 1-D", lambda: _fwd(x_shape=(3,)), ValueError, r"x must be 3-D"),
    ("x wrong feature size", lambda: _fwd(x_shape=(5, 2, 7)), ValueError, r"input_size=3 .* \(5, 2, 7\)"),
    ("x empty sequence", lambda: _fwd(x_shape=(0, 2, 3)), ValueError, r"empty sequence"),
    ("x empty batch", lambda: _fwd(x_shape=(5, 0, 3)), ValueError, r"empty batch"),
    ("x integer dtype", lambda: _fwd(dtype=np.int64), TypeError, r"x must have dtype float32 or float64, got int64"),
    ("x not an array", lambda: _rnn().forward([[[0.0] * 3]]), TypeError, r"x must be a numpy.ndarray, got list"),
    ("x float32, params float64", lambda: _fwd(dtype=f32), TypeError, r"params\['weight_ih_l0'\] has dtype float64 but the input x has dtype float32"),
    ("h0 wrong shape", lambda: _fwd(h0=np.zeros((1, 3, 4))), ValueError, r"h0 must have shape \(1, 2, 4\), got \(1, 3, 4\)"),
    ("h0 missing layer", lambda: _fwd(_rnn(num_layers=2), h0=np.zeros((1, 2, 4))), ValueError, r"h0 must have shape \(2, 2, 4\)"),
    ("h0 dtype mismatch", lambda: _fwd(h0=np.zeros((1, 2, 4), dtype=f32)), TypeError, r"h0 has dtype float32 but x has dtype float64"),
    ("d_output wrong shape", lambda: _bwd(d_out_shape=(5, 2, 3)), ValueError, r"d_output must have shape \(5, 2, 4\), got \(5, 2, 3\)"),
    ("d_output dtype mismatch", lambda: _bwd(dtype=f32), TypeError, r"d_output has dtype float32"),
    ("d_h_n wrong shape", lambda: _bwd(d_hn=np.zeros((2, 2, 4))), ValueError, r"d_h_n must have shape \(1, 2, 4\)"),
    ("backward before forward", lambda: _rnn().backward(np.zeros((5, 2, 4))), ValueError, r"backward\(\) called before forward\(\)"),
    ("unknown nonlinearity", lambda: RNN(3, 4, nonlinearity="sigmoid"), ValueError, r"nonlinearity must be one of \('tanh', 'relu', 'identity'\), got 'sigmoid'"),
    ("hidden_size zero", lambda: RNN(3, 0), ValueError, r"hidden_size must be a positive integer, got 0"),
    ("params key missing", lambda: _fwd(_with(params_drop="bias_hh_l0")), ValueError, r"missing keys \['bias_hh_l0'\]"),
    ("params wrong shape", lambda: _fwd(_with(params_shape=("weight_hh_l0", (4, 3)))), ValueError, r"params\['weight_hh_l0'\] must have shape \(4, 4\), got \(4, 3\)"),
    ("lengths wrong shape", lambda: _rnn().forward(np.zeros((5, 2, 3)), lengths=np.array([5, 5, 5])), ValueError, r"lengths must have shape \(2,\), one per batch element, got \(3,\)"),
    ("lengths out of range", lambda: _rnn().forward(np.zeros((5, 2, 3)), lengths=np.array([0, 6])), ValueError, r"lengths must lie in \[1, 5\]"),
    ("lengths not integers", lambda: _rnn().forward(np.zeros((5, 2, 3)), lengths=np.array([2.0, 3.0])), TypeError, r"lengths must hold integers, got dtype float64"),
    ("lengths unbatched", lambda: _rnn().forward(np.zeros((5, 3)), lengths=np.array([5])), ValueError, r"lengths needs batched input"),
    ("truncate zero", lambda: _trunc(_rnn(), 0), ValueError, r"truncate must be a positive integer, got 0"),
    ("truncate bidirectional", lambda: _trunc(_rnn(bidirectional=True), 2), ValueError, r"truncate is defined for unidirectional RNNs only"),
    ("truncate with lengths", lambda: _trunc(_rnn(), 2, lengths=np.array([5, 3])), ValueError, r"truncate cannot be combined with variable lengths"),
    ("cell x 3-D", lambda: RNNCell(3, 4).forward(np.zeros((1, 2, 3))), ValueError, r"x must be 2-D \(B, I\) or unbatched 1-D"),
    ("cell h wrong shape", lambda: RNNCell(3, 4).forward(np.zeros((2, 3)), np.zeros((2, 5))), ValueError, r"h must have shape \(2, 4\), got \(2, 5\)"),
    ("cell backward before forward", lambda: RNNCell(3, 4).backward(np.zeros((2, 4))), ValueError, r"before forward"),
    ("cell unknown nonlinearity", lambda: RNNCell(3, 4, nonlinearity="gelu"), ValueError, r"nonlinearity must be one of"),
    ("cell d_h_next wrong shape", lambda: _cell_bwd((2, 3)), ValueError, r"d_h_next must have shape \(2, 4\), got \(2, 3\)"),
]


def _with(params_drop=None, params_shape=None):
    rnn = _rnn()
    if params_drop:
        del rnn.params[params_drop]
    if params_shape:
        name, shape = params_shape
        rnn.params[name] = np.zeros(shape)
    return rnn


def _trunc(rnn, k, lengths=None):
    out, _ = rnn.forward(np.zeros((5, 2, 3)), lengths=lengths)
    return rnn.backward(np.zeros_like(out), truncate=k)


def _cell_bwd(shape):
    cell = RNNCell(3, 4)
    cell.forward(np.zeros((2, 3)))
    return cell.backward(np.zeros(shape))


@pytest.mark.parametrize("call, exc, message", [pytest.param(*row[1:], id=row[0]) for row in BAD_CALLS])
def test_bad_input_is_refused_clearly(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


@given(case=cases(RNN_FAMILY))
def test_rnn_keeps_dtype_and_never_writes_its_arguments(case):
    a = case.materialize()
    before = {k: v.copy() for k, v in a.items() if isinstance(v, np.ndarray)}
    params_before = {k: v.copy() for k, v in a["params"].items()}
    rnn = RNN(**case.config.module_kwargs())
    rnn.params = a["params"]
    out, h_n = rnn.forward(a["x"], a["h0"])
    dx, dh0 = rnn.backward(a["d_output"], a["d_h_n"])
    dtype = a["x"].dtype
    for name, arr in dict(out=out, h_n=h_n, dx=dx, dh0=dh0, **rnn.grads).items():
        assert arr.dtype == dtype, f"{name} came back as {arr.dtype}, input was {dtype}"
    for k, v in before.items():
        assert np.array_equal(a[k], v), f"forward/backward wrote into the caller's {k}"
    for k, v in params_before.items():
        assert np.array_equal(a["params"][k], v), f"forward/backward wrote into params[{k!r}]"


@given(case=cases(RNN_CELL))
def test_cell_keeps_dtype_and_never_writes_its_arguments(case):
    a = case.materialize()
    before = {k: v.copy() for k, v in a.items() if isinstance(v, np.ndarray)}
    cell = RNNCell(**case.config.module_kwargs())
    cell.params = a["params"]
    h_next = cell.forward(a["x"], a["h"])
    dx, dh = cell.backward(a["d_h_next"])
    for name, arr in dict(h_next=h_next, dx=dx, dh=dh, **cell.grads).items():
        assert arr.dtype == a["x"].dtype, f"{name} came back as {arr.dtype}"
    for k, v in before.items():
        assert np.array_equal(a[k], v), f"forward/backward wrote into the caller's {k}"


def test_grads_are_fresh_not_accumulated():
    rng = np.random.default_rng(0)
    rnn = RNN(3, 4)
    x, d = rng.standard_normal((5, 2, 3)), rng.standard_normal((5, 2, 4))
    rnn.forward(x)
    rnn.backward(d)
    first = {k: v.copy() for k, v in rnn.grads.items()}
    rnn.forward(x)
    rnn.backward(d)
    for k in first:
        np.testing.assert_array_equal(rnn.grads[k], first[k])


def test_unbatched_cell_matches_batch_of_one():
    rng = np.random.default_rng(1)
    cell = RNNCell(3, 4)
    x, h, d = rng.standard_normal(3), rng.standard_normal(4), rng.standard_normal(4)
    h1 = cell.forward(x, h)
    dx1, dh1 = cell.backward(d)
    g1 = {k: v.copy() for k, v in cell.grads.items()}
    h2 = cell.forward(x[None], h[None])
    dx2, dh2 = cell.backward(d[None])
    np.testing.assert_array_equal(h1, h2[0])
    np.testing.assert_array_equal(dx1, dx2[0])
    np.testing.assert_array_equal(dh1, dh2[0])
    for k in g1:
        np.testing.assert_array_equal(g1[k], cell.grads[k])


def test_scratch_imports_no_torch():
    """scratch/ is NumPy only: no torch import anywhere in its source."""
    from pathlib import Path

    import rnn_parity.scratch as scratch

    pattern = re.compile(r"^\s*(import torch|from torch)", re.M)
    for path in Path(scratch.__file__).parent.glob("*.py"):
        assert not pattern.search(path.read_text()), f"{path} imports torch"


@pytest.mark.parametrize("batch_first", [False, True])
def test_writing_into_the_returned_output_does_not_change_backward(batch_first):
    """The layer buffer is both the output and the BPTT cache inside scratch; what the
    caller receives must be its own array."""
    rng = np.random.default_rng(3)
    rnn = RNN(3, 4, num_layers=2, bidirectional=True, batch_first=batch_first)
    x = rng.standard_normal((2, 5, 3) if batch_first else (5, 2, 3))
    out, h_n = rnn.forward(x)
    d_out, d_hn = rng.standard_normal(out.shape), rng.standard_normal(h_n.shape)
    clean = rnn.backward(d_out, d_hn), {k: v.copy() for k, v in rnn.grads.items()}
    out2, h_n2 = rnn.forward(x)
    out2[...] = 1e6
    h_n2[...] = -1e6
    dirty = rnn.backward(d_out, d_hn), rnn.grads
    for a, b in zip(clean[0], dirty[0]):
        np.testing.assert_array_equal(a, b)
    for k in clean[1]:
        np.testing.assert_array_equal(clean[1][k], dirty[1][k])
