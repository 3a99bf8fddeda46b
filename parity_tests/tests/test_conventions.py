"""The module conventions (cs231n, columns) and ``--reduction mean``, through the adapters
(parity_tests/families/conventions.py; docs/conventions.md).

Each module convention ships correct examples that the suite accepts and classic buggy ones
that it rejects with a message naming the options as typed; unsupported configurations are
declined, not failed. A class whose weight gradients are batch means fails as it is and
passes with ``--reduction mean``, in every convention and with none.
"""

import types

import numpy as np
import pytest

from parity_tests.core.cases import Case
from parity_tests.core.compare import compare
from parity_tests.core.contract import ContractViolation, impl_name
from parity_tests.core.messages import ParityMismatch
from parity_tests.core.runs import run_both
from parity_tests.families import row_by_name
from parity_tests.families.conventions import CONVENTIONS, MODULE_CONVENTIONS, adapt
from rnn_parity.scratch import RNNCell
from parity_tests.families.rnn import RNNConfig
from parity_tests.learners import (cs231n_rnn, cs231n_rnn_exp, cs231n_rnn_not_carried, cs231n_rnn_prev_h, dlai_rnn,
                                   dlai_rnn_buggy)
from parity_tests.learners.column_rnn import ColumnRNN
from parity_tests.learners.mean_rnn import MeanGradRNN
from parity_tests.learners.rows_rnn import RowsRNN
from parity_tests.properties import run_property
from rnn_parity.scratch import RNN

SUPPORTED_ROWS = ["tanh_basic", "square_I_eq_H", "no_bias", "h0_none", "batch_first", "float32", "anything"]
CORRECT = [(cs231n_rnn, "cs231n"), (cs231n_rnn_exp, "cs231n"), (dlai_rnn, "columns")]
CORRECT_IDS = ["cs231n", "cs231n_exp", "columns"]


# -- the interface the plugin and the CLI call --------------------------------------------
def test_conventions_table_and_module_conventions():
    assert {"column", "rows", "cs231n", "columns"} <= set(CONVENTIONS)
    assert all(isinstance(d, str) and d and "\n" not in d for d in CONVENTIONS.values())
    assert MODULE_CONVENTIONS == frozenset({"cs231n", "columns"})


def test_no_convention_and_sum_is_the_class_itself():
    assert adapt(RNN, None) is RNN
    assert adapt(RNN, None, "sum", spec="rnn_parity.scratch:RNN") is RNN


@pytest.mark.parametrize(
    "target, convention, reduction, spec, cli",
    [
        (cs231n_rnn, "cs231n", "sum", "my_layers", "my_layers --convention cs231n"),
        (cs231n_rnn, "cs231n", "mean", "my_layers", "my_layers --convention cs231n --reduction mean"),
        (cs231n_rnn, "cs231n", "sum", None, "parity_tests.learners.cs231n_rnn --convention cs231n"),
        (dlai_rnn, "columns", "mean", "my_rnn", "my_rnn --convention columns --reduction mean"),
        (RowsRNN, "rows", "sum", None, "parity_tests.learners.rows_rnn:RowsRNN --convention rows"),
        (MeanGradRNN, None, "mean", "mymod:MyRNN", "mymod:MyRNN --reduction mean"),
        (MeanGradRNN, None, "mean", None, "parity_tests.learners.mean_rnn:MeanGradRNN --reduction mean"),
    ],
)
def test_cli_is_the_options_as_typed(target, convention, reduction, spec, cli):
    cls = adapt(target, convention, reduction, spec)
    assert cls.cli == cli and impl_name(cls) == cli
    assert cls.reduction == reduction
    if convention is not None:
        assert cls.Learner is target and cls.convention == convention
    else:
        assert issubclass(cls, target)


@pytest.mark.parametrize(
    "args, error, words",
    [
        ((cs231n_rnn, "cs321n"), ValueError, ["convention must be one of", "'cs231n'", "'columns'", "'cs321n'"]),
        ((cs231n_rnn, "cs231n", "avg"), ValueError, ["reduction must be one of ['sum', 'mean']", "'avg'"]),
        ((RNN, None, "Mean"), ValueError, ["reduction must be one of"]),
        ((RowsRNN, "cs231n"), TypeError, ["target", "rnn_forward and rnn_backward", "no ':Class'", "RowsRNN"]),
        ((types.ModuleType("half"), "columns"), TypeError, ["target", "half has no rnn_forward and no rnn_backward"]),
        ((cs231n_rnn, "rows"), TypeError, ["target", "the rows convention wraps a class", "module:Class"]),
        ((cs231n_rnn, None, "mean"), TypeError, ["target", "a class"]),
    ],
)
def test_bad_arguments_are_named(args, error, words):
    with pytest.raises(error) as info:
        adapt(*args)
    for word in words:
        assert word in str(info.value)


# -- the module conventions ----------------------------------------------------------------
@pytest.mark.parametrize("row", SUPPORTED_ROWS)
@pytest.mark.parametrize("module, convention", CORRECT, ids=CORRECT_IDS)
def test_correct_module_is_accepted(module, convention, row):
    ran, declined = run_property(adapt(module, convention), row_by_name(row))
    assert ran > 0


@pytest.mark.parametrize("row", ["bidirectional", "multilayer", "relu_basic"])
@pytest.mark.parametrize("convention", sorted(MODULE_CONVENTIONS))
def test_unsupported_configurations_are_declined_not_failed(convention, row):
    module = {"cs231n": cs231n_rnn, "columns": dlai_rnn}[convention]
    ran, declined = run_property(adapt(module, convention, spec="my_layers"), row_by_name(row))
    assert ran == 0 and declined
    assert "single-layer, unidirectional tanh RNN" in declined[0] and "my_layers --convention" in declined[0]


@pytest.mark.parametrize(
    "module, convention, blamed",
    [
        (cs231n_rnn_not_carried, "cs231n", "dx"),  # dh from the next step not added
        (cs231n_rnn_prev_h, "cs231n", "grad weight_ih_l0"),  # dnext_h * (1 - prev_h**2)
        (dlai_rnn_buggy, "columns", "grad weight_hh_l0"),  # dWaa paired with a_next
    ],
    ids=["cs231n_not_carried", "cs231n_prev_h", "columns_dWaa_a_next"],
)
def test_buggy_module_is_rejected_naming_the_options(module, convention, blamed):
    with pytest.raises(ParityMismatch) as info:
        run_property(adapt(module, convention, spec="my_layers"), row_by_name("tanh_basic"))
    assert blamed in info.value.failed
    message = str(info.value)
    assert f"of my_layers --convention {convention} differs" in message  # the verdict
    assert f"--rnn-impl my_layers --convention {convention} " in message  # the reproduce line, as typed


@pytest.mark.parametrize("module, convention", CORRECT, ids=CORRECT_IDS)
def test_single_bias_gradient_is_torchs_gradient_of_both_biases(module, convention):
    case = Case(RNNConfig(2, 3, batch_first=True, seq_len=5, batch=4), seed=12)
    run = run_both(adapt(module, convention), case)
    for name in ("grad bias_ih_l0", "grad bias_hh_l0"):
        c = compare(name, run.mine[name], run.ref[name], dtype=np.float64, bound=run.bounds[name])
        assert c.passed, f"{name}: normwise {c.normwise:.3g}"


def _inputs(batch_first=False, T=4, B=3, I=2, H=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I))
    return x, rng.standard_normal((1, B, H)), rng.standard_normal(x.shape[:2] + (H,)), rng.standard_normal((1, B, H))


@pytest.mark.parametrize("module, convention", CORRECT, ids=CORRECT_IDS)
@pytest.mark.parametrize("batch_first", [False, True])
def test_d_h_n_joins_the_last_steps_upstream_gradient(module, convention, batch_first):
    """h_n is the last hidden state, so d_h_n must act exactly like extra d_output there."""
    x, h0, d_out, d_h_n = _inputs(batch_first)
    rnn = adapt(module, convention)(2, 3, batch_first=batch_first)
    rnn.forward(x, h0)
    with_h_n = rnn.backward(d_out, d_h_n), dict(rnn.grads)
    folded = d_out.copy()
    (folded[:, -1] if batch_first else folded[-1])[...] += d_h_n[0]
    rnn.forward(x, h0)
    only_output = rnn.backward(folded), rnn.grads
    for a, b in zip(with_h_n[0], only_output[0]):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    for name in with_h_n[1]:
        np.testing.assert_allclose(with_h_n[1][name], only_output[1][name], rtol=1e-13, atol=1e-15)


def _vandal(base, convention):
    """``base``'s functions, then writing zeros into every array they were given."""
    def zap(*arrays):
        for a in arrays:
            if isinstance(a, np.ndarray):
                a[...] = 0

    mod = types.ModuleType("vandal")
    if convention == "cs231n":
        def rnn_forward(x, h0, Wx, Wh, b):
            h, cache = base.rnn_forward(x.copy(), h0.copy(), Wx.copy(), Wh.copy(), b.copy())
            zap(x, h0, Wx, Wh, b)
            return h, cache
    else:
        def rnn_forward(x, a0, parameters):
            result = base.rnn_forward(x.copy(), a0.copy(), {k: v.copy() for k, v in parameters.items()})
            zap(x, a0, *parameters.values())
            return result

    def rnn_backward(d, cache):
        result = base.rnn_backward(d.copy(), cache)
        zap(d)
        return result

    mod.rnn_forward, mod.rnn_backward = rnn_forward, rnn_backward
    return mod


@pytest.mark.parametrize("module, convention", CORRECT, ids=CORRECT_IDS)
def test_the_callers_arrays_are_never_modified(module, convention):
    x, h0, d_out, d_h_n = _inputs()
    originals = [a.copy() for a in (x, h0, d_out, d_h_n)]
    rnn = adapt(_vandal(module, convention), convention)(2, 3)
    params = {k: v.copy() for k, v in rnn.params.items()}
    reference = adapt(module, convention)(2, 3)
    out, h_n = rnn.forward(x, h0)
    dx, dh0 = rnn.backward(d_out, d_h_n)
    for a, b in zip((x, h0, d_out, d_h_n), originals):
        np.testing.assert_array_equal(a, b)
    for name in params:
        np.testing.assert_array_equal(rnn.params[name], params[name])
    np.testing.assert_allclose(out, reference.forward(x, h0)[0], rtol=1e-14)  # and still right
    np.testing.assert_allclose(dx, reference.backward(d_out, d_h_n)[0], rtol=1e-14)


@pytest.mark.parametrize(
    "convention, forward, backward, words",
    [
        ("cs231n", lambda x, h0, Wx, Wh, b: np.zeros((x.shape[0], x.shape[1], Wh.shape[0])), None,
         ["rnn_forward must return a tuple ('h', 'cache')", "ndarray of shape (3, 4, 3)"]),
        ("cs231n", lambda x, h0, Wx, Wh, b: (np.zeros((x.shape[1], x.shape[0], Wh.shape[0])), None), None,
         ["rnn_forward must return h of shape (3, 4, 3) (N, T, H)", "got (4, 3, 3)"]),
        ("cs231n", None, lambda dh, cache: cs231n_rnn.rnn_backward(dh, cache)[:4],
         ["rnn_backward must return a tuple ('dx', 'dh0', 'dWx', 'dWh', 'db')", "tuple of 4"]),
        ("columns", None, lambda da, caches: {k: v for k, v in dlai_rnn.rnn_backward(da, caches).items() if k != "dba"},
         ["rnn_backward must return a dict with keys", "missing ['dba']"]),
        ("columns", None, lambda da, caches: {**dlai_rnn.rnn_backward(da, caches), "dba": np.zeros(3)},
         ['gradients["dba"] of shape (3, 1) (n_a, 1)', "got (3,)"]),
    ],
    ids=["cs231n_forward_not_tuple", "cs231n_h_time_major", "cs231n_backward_4", "columns_no_dba", "columns_dba_flat"],
)
def test_a_broken_function_is_named(convention, forward, backward, words):
    base = {"cs231n": cs231n_rnn, "columns": dlai_rnn}[convention]
    mod = types.ModuleType("broken")
    mod.rnn_forward, mod.rnn_backward = forward or base.rnn_forward, backward or base.rnn_backward
    rnn = adapt(mod, convention, spec="my_layers")(2, 3)
    x, h0, d_out, d_h_n = _inputs()
    with pytest.raises(ContractViolation) as info:
        rnn.forward(x, h0)
        rnn.backward(d_out, d_h_n)
    assert str(info.value).startswith(f"my_layers --convention {convention}: under the {convention} convention")
    for word in words:
        assert word in str(info.value)


# -- --reduction mean ----------------------------------------------------------------------
def _mean_module(base, convention):
    """``base`` with its weight and bias gradients divided by the batch size."""
    mod = types.ModuleType(f"{base.__name__}_mean")
    mod.rnn_forward = base.rnn_forward
    if convention == "cs231n":
        def rnn_backward(dh, cache):
            dx, dh0, dWx, dWh, db = base.rnn_backward(dh, cache)
            N = dh.shape[0]
            return dx, dh0, dWx / N, dWh / N, db / N
    else:
        def rnn_backward(da, caches):
            m = da.shape[1]
            return {k: v / m if k in ("dWax", "dWaa", "dba") else v for k, v in base.rnn_backward(da, caches).items()}
    mod.rnn_backward = rnn_backward
    return mod


class RowsRNNMean(RowsRNN):
    """The rows learner with its gradients averaged over the batch."""

    def backward(self, dhs, dh_last):
        result = super().backward(dhs, dh_last)
        B = self.X.shape[0]
        self.dWx, self.dWh, self.dB = self.dWx / B, self.dWh / B, self.dB / B
        return result


MEAN_LEARNERS = [
    (MeanGradRNN, None),
    (_mean_module(cs231n_rnn, "cs231n"), "cs231n"),
    (_mean_module(dlai_rnn, "columns"), "columns"),
    (RowsRNNMean, "rows"),
    (ColumnRNN, "column"),  # one sample at a time: per-sample gradients, mean or sum alike
]
MEAN_IDS = ["no_convention", "cs231n", "columns", "rows", "column"]


@pytest.mark.parametrize("row", ["tanh_basic", "batch_first", "float32", "anything"])
@pytest.mark.parametrize("learner, convention", MEAN_LEARNERS, ids=MEAN_IDS)
def test_mean_gradients_pass_with_reduction_mean(learner, convention, row):
    ran, _ = run_property(adapt(learner, convention, "mean"), row_by_name(row))
    assert ran > 0


@pytest.mark.parametrize("row", ["multilayer", "deep_bidir_batch_first"])
def test_mean_gradients_pass_in_every_configuration_without_convention(row):
    ran, declined = run_property(adapt(MeanGradRNN, None, "mean"), row_by_name(row))
    assert ran > 0 and not declined


@pytest.mark.parametrize("learner, convention", MEAN_LEARNERS[:-1], ids=MEAN_IDS[:-1])
def test_mean_gradients_fail_with_reduction_sum(learner, convention):
    cls = MeanGradRNN if convention is None else adapt(learner, convention)
    with pytest.raises(ParityMismatch) as info:
        run_property(cls, row_by_name("tanh_basic"))
    # Only the weight and bias gradients are off (by the factor B); dx and dh0 are right.
    assert info.value.failed and all(t.startswith("grad ") for t in info.value.failed)


@pytest.mark.parametrize("learner, convention, spec",
                         [(RNN, None, "rnn_parity.scratch:RNN"), (cs231n_rnn, "cs231n", "my_layers")],
                         ids=["no_convention", "cs231n"])
def test_sum_gradients_fail_with_reduction_mean_and_the_verdict_says_so(learner, convention, spec):
    with pytest.raises(ParityMismatch) as info:
        run_property(adapt(learner, convention, "mean", spec), row_by_name("tanh_basic"))
    assert all(t.startswith("grad ") for t in info.value.failed)
    message = info.value.args[0]  # without the diagnosis
    cli = f"{spec}{f' --convention {convention}' if convention else ''} --reduction mean"
    assert f"of {cli} differs" in message  # the verdict names the reduction assumed
    assert f"--rnn-impl {cli} " in message  # and so does the reproduce line


class _MeanCell(RNNCell):
    """scratch's RNNCell with its weight and bias gradients averaged over the batch."""

    def backward(self, d_h_next):
        out = super().backward(d_h_next)
        self.grads = {k: v / d_h_next.shape[0] for k, v in self.grads.items()}
        return out


def test_reduction_mean_applies_to_cells_too():
    from parity_tests.core.contract import with_reduction

    row = row_by_name("cell_tanh")
    ran, _ = run_property(with_reduction(_MeanCell, "mean"), row)
    assert ran > 0
    with pytest.raises(ParityMismatch, match="grad"):
        run_property(_MeanCell, row)
