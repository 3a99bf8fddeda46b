"""Adapters: an RNN (or an LSTM) written in a learner's convention, wrapped into the contract.

    pytest --rnn-impl mymodule:MyRNN --convention column     # seeds 000 / 001 (a class)
    pytest --rnn-impl mymodule:MyRNN --convention rows       # seed 003 (a class)
    pytest --rnn-impl my_layers --convention cs231n          # CS231n (a module of functions)
    pytest --rnn-impl my_rnn --convention columns            # deeplearning.ai (a module of functions)
    pytest --rnn-impl mymodule:MyRNN --reduction mean        # weight grads are batch means
    pytest --lstm-impl my_layers --convention cs231n         # CS231n's LSTM (_CS231nLSTMAdapter)
    pytest --lstm-impl my_lstm --convention columns          # deeplearning.ai's LSTM (_ColumnsLSTMAdapter)
    pytest --cell-impl my_layers --convention cs231n         # the step functions as cells (RNNCell, and
    pytest --lstm-cell-impl my_layers --convention cs231n    # LSTMCell: every tensor compared)

``column`` (a class; column vectors, one sample at a time):  W (H, I), U (H, H), b (H, 1)
    Cls(input_size, hidden_size); the adapter assigns W, U, b
    forward(xs (T, I, 1), h0 (H, 1)) -> hs (T, H, 1)
    backward(dhs (T, H, 1), dh_last (H, 1)) -> (dxs (T, I, 1), dh0 (H, 1)); sets dW, dU, db
``rows`` (a class; batch-first rows):  Wx (I, H), Wh (H, H), B (H,)
    Cls(n_features, n_nodes); the adapter assigns Wx, Wh, B
    forward(X (batch, T, I), h0 (batch, H)) -> hs (batch, T, H)
    backward(dhs (batch, T, H), dh_last (batch, H)) -> (dX, dh0); sets dWx, dWh, dB
``cs231n`` (a module of functions, CS231n assignment 3):
    rnn_forward(x (N, T, D), h0 (N, H), Wx (D, H), Wh (H, H), b (H,)) -> (h (N, T, H), cache)
    rnn_backward(dh (N, T, H), cache) -> (dx (N, T, D), dh0 (N, H), dWx (D, H), dWh (H, H), db (H,))
``columns`` (a module of functions, deeplearning.ai "Building your RNN step by step"):
    rnn_forward(x (n_x, m, T), a0 (n_a, m), parameters) -> (a (n_a, m, T), y_pred, caches)
        or (a, caches); parameters = {"Wax" (n_a, n_x), "Waa" (n_a, n_a), "ba" (n_a, 1),
        "Wya" (1, n_a) zeros, "by" (1, 1) zeros}
    rnn_backward(da (n_a, m, T), caches) -> {"dx" (n_x, m, T), "da0" (n_a, m),
        "dWax" (n_a, n_x), "dWaa" (n_a, n_a), "dba" (n_a, 1)}  (other keys ignored)

In the module conventions ``dh`` / ``da`` is the upstream gradient on every hidden state;
h_n is the last one, so the adapter adds torch's d_h_n into the last time step's slice.

``cs231n`` for the LSTM (``--lstm-impl my_layers``; ``_CS231nLSTMAdapter``):
    lstm_forward(x (N, T, D), h0 (N, H), Wx (D, 4H), Wh (H, 4H), b (4H,)) -> (h (N, T, H), cache)
    lstm_backward(dh (N, T, H), cache) -> (dx, dh0, dWx (D, 4H), dWh (H, 4H), db (4H,))
    gates i, f, o, g; no cell state in or out (c0 and d_c_n zero on both sides, c_n and dc0
    not compared: core.contract.ConventionLimits).

Every RNN convention is a single-layer, unidirectional tanh RNN with ONE bias (the LSTM's: a
single-layer, unidirectional LSTM without projection, one bias); every other
configuration is declined (NotImplementedError: reported as skipped). The single bias is
compared with torch's two by splitting: the adapter gives the learner b = b_ih + b_hh, and
reports the learner's db as the gradient of each (they are equal: a = ... + b_ih + b_hh).
The column convention handles one sample at a time, so the adapter loops over the batch
(re-running forward before each backward, since a learner caches only its last call) and
sums the weight gradients. A learner's results are cast to the dtype of the inputs (the
conventions take no dtype, and ``np.zeros((N, T, H))`` is float64).

``reduction="mean"`` (``--reduction mean``, with or without a convention): the learner's
weight and bias gradients are batch MEANS. The returned class says so with its class
attribute ``reduction = "mean"``, and ``core/runs.run_both`` compares those gradients with
torch's mean-reduced ones: torch's sum-reduced gradient divided by B (its error bound too);
dx and dh0 are compared as they are. The column convention's learner sees one sample at a
time, so its gradients are per sample whatever the course averages later: under ``mean``
the adapter AVERAGES them over the batch instead of summing, and a correct column learner
passes either way.

``adapt(target, convention, reduction, spec)`` returns a class under the contract whose
``cli`` attribute is the options as typed (``"my_layers --convention cs231n --reduction
mean"``): failure messages and reproduce lines print it (``core.contract.impl_name``).
"""

from __future__ import annotations

import inspect

import numpy as np

from ..core.contract import ContractViolation, ConventionLimits
from . import entry

CONVENTIONS = {
    "column": "seeds 000/001: a class, column vectors one sample at a time; W (H, I), U (H, H), b (H, 1)",
    "rows": "seed 003: a class, batch-first rows; Wx (I, H), Wh (H, H), B (H,)",
    "cs231n": "CS231n: a module with rnn_forward(x, h0, Wx, Wh, b) and rnn_backward(dh, cache); "
              "x (N, T, D), Wx (D, H), b (H,)",
    "columns": "deeplearning.ai: a module with rnn_forward(x, a0, parameters) and rnn_backward(da, caches); "
               "x (n_x, m, T), Wax (n_a, n_x), ba (n_a, 1)",
    "dlfs2": "Deep Learning from Scratch 2 (common/time_layers.py): the class TimeRNN(Wx, Wh, b, stateful), "
             "forward(xs) -> hs, backward(dhs) -> dxs; xs (N, T, D), Wx (D, H), b (H,)",
}
# The gated families' course conventions (--lstm-impl my_layers --convention cs231n).
LSTM_CONVENTIONS = {
    "cs231n": "CS231n: a module with lstm_forward(x, h0, Wx, Wh, b) and lstm_backward(dh, cache); "
              "x (N, T, D), Wx (D, 4H), b (4H,), gates i, f, o, g, c0 = 0",
    "columns": "deeplearning.ai: a module with lstm_forward(x, a0, parameters) and lstm_backward(da, caches); "
               "x (n_x, m, T), Wf, Wi, Wc, Wo (n_a, n_a + n_x) on [a_prev; x], bf.. (n_a, 1), c0 = 0",
    "dlfs2": "Deep Learning from Scratch 2 (common/time_layers.py): the class TimeLSTM(Wx, Wh, b, stateful), "
             "forward(xs) -> hs, backward(dhs) -> dxs; Wx (D, 4H), b (4H,), gates f, g, i, o",
}
LSTM_CELL_CONVENTIONS = {
    "cs231n": "CS231n: a module with lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b) and "
              "lstm_step_backward(dnext_h, dnext_c, cache); gates i, f, o, g",
    "columns": "deeplearning.ai: a module with lstm_cell_forward(xt, a_prev, c_prev, parameters) and "
               "lstm_cell_backward(da_next, dc_next, cache)",
    "dlfs2": "Deep Learning from Scratch 2: the class LSTM(Wx, Wh, b), forward(x, h_prev, c_prev) and "
             "backward(dh_next, dc_next); gates f, g, i, o",
}
RNN_CELL_CONVENTIONS = {
    "cs231n": "CS231n: a module with rnn_step_forward(x, prev_h, Wx, Wh, b) and rnn_step_backward(dnext_h, cache)",
    "columns": "deeplearning.ai: a module with rnn_cell_forward(xt, a_prev, parameters) and "
               "rnn_cell_backward(da_next, cache)",
    "dlfs2": "Deep Learning from Scratch 2: the class RNN(Wx, Wh, b), forward(x, h_prev) and backward(dh_next)",
}
# family -> its conventions: --convention applies to each given plug-in whose family has it.
FAMILY_CONVENTIONS = {"rnn": CONVENTIONS, "rnn_cell": RNN_CELL_CONVENTIONS, "lstm": LSTM_CONVENTIONS,
                      "lstm_cell": LSTM_CELL_CONVENTIONS}
# The plug-in option names a module (no ":Class") for these.
MODULE_CONVENTIONS = frozenset({"cs231n", "columns"})
REDUCTIONS = {
    "sum": "weight and bias gradients summed over the batch (torch's, for a summed loss)",
    "mean": "weight and bias gradients averaged over the batch (checked against torch's sum / B)",
}
# The functions a module convention calls, per family.
_MODULE_FUNCTIONS = ("rnn_forward", "rnn_backward")
_FAMILY_FUNCTIONS = {"rnn": _MODULE_FUNCTIONS, "lstm": ("lstm_forward", "lstm_backward")}
_CELL_FUNCTIONS = {("lstm_cell", "cs231n"): ("lstm_step_forward", "lstm_step_backward"),
                   ("lstm_cell", "columns"): ("lstm_cell_forward", "lstm_cell_backward"),
                   ("rnn_cell", "cs231n"): ("rnn_step_forward", "rnn_step_backward"),
                   ("rnn_cell", "columns"): ("rnn_cell_forward", "rnn_cell_backward")}


def _describe(value) -> str:
    if value is None:
        return "None"
    if isinstance(value, np.ndarray):
        return f"ndarray of shape {value.shape}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    return type(value).__name__


class _Adapter:
    """A single-layer, unidirectional tanh RNN in a learner's convention, under the contract
    (the base of the RNN conventions' adapters; ``_CS231nLSTMAdapter`` borrows its checks).

    A subclass says how to call the learner: ``_initial_params()``, ``_run_forward(xt (T, B,
    I), h0 (B, H), weights) -> hs (T, B, H)`` and ``_run_backward(xt, h0, weights, dy (T, B,
    H), d_last (B, H)) -> (dx (T, B, I), dh0 (B, H), (dW_ih (H, I), dW_hh (H, H), db (H,)))``,
    where ``weights = (W_ih (H, I), W_hh (H, H), b (H,))`` in torch's layout. Everything it
    is given is its own copy, so a learner that writes into its arguments cannot touch the
    caller's arrays.
    """

    Learner = None
    convention = ""
    cli = ""
    reduction = "sum"
    _sfx = "_l0"  # torch's parameter names: a layer's weight_ih_l0; a cell's weight_ih (its subclasses: "")

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, bidirectional=False):
        if num_layers != 1 or bidirectional or nonlinearity != "tanh":
            raise NotImplementedError(
                f"the {self.convention} convention is a single-layer, unidirectional tanh RNN"
            )
        self.I, self.H, self.bias, self.batch_first = input_size, hidden_size, bias, batch_first
        self.params = self._initial_params()
        if bias:
            self.params["bias_hh_l0"] = np.zeros_like(self.params["bias_ih_l0"])
        else:
            self.params.pop("bias_ih_l0")
        self.grads = {}

    def _weights(self, dtype):
        """(W_ih (H, I), W_hh (H, H), b (H,)) read from params now (the harness assigns them)."""
        if self.bias:
            b = self.params["bias_ih_l0"] + self.params["bias_hh_l0"]  # b = b_ih + b_hh
        else:
            b = np.zeros(self.H, dtype=dtype)
        return np.array(self.params["weight_ih_l0"]), np.array(self.params["weight_hh_l0"]), b

    def forward(self, x, h0=None):
        xt = np.array(x.swapaxes(0, 1) if self.batch_first else x)  # (T, B, I), our own copy
        T, B, _ = xt.shape
        h0 = np.zeros((B, self.H), dtype=x.dtype) if h0 is None else np.array(h0[0])
        weights = self._weights(x.dtype)
        self._saved = (xt, h0, weights)
        hs = self._run_forward(*self._copies()).astype(x.dtype, copy=False)  # (T, B, H)
        out = hs.swapaxes(0, 1) if self.batch_first else hs
        return np.ascontiguousarray(out), hs[-1][None].copy()

    def backward(self, d_output, d_h_n=None):
        xt, h0, _ = self._saved
        dtype = xt.dtype
        dy = np.array(d_output.swapaxes(0, 1) if self.batch_first else d_output)  # (T, B, H)
        d_last = np.zeros_like(h0) if d_h_n is None else np.array(d_h_n[0])
        dx, dh0, grads = self._run_backward(*self._copies(), dy, d_last)
        self._set_grads(*grads, dtype)
        dx = dx.swapaxes(0, 1) if self.batch_first else dx
        return np.ascontiguousarray(dx, dtype=dtype), np.asarray(dh0, dtype=dtype)[None].copy()

    def _param(self, name: str) -> np.ndarray:
        """torch's parameter ``name`` ("weight_ih", ...) as the harness assigned it, now."""
        return np.asarray(self.params[name + self._sfx])

    def _set_grads(self, dw_ih, dw_hh, db, dtype) -> None:
        """Fresh gradients under torch's names; the one bias's gradient is each of torch's two."""
        grads = {"weight_ih": dw_ih, "weight_hh": dw_hh, **({"bias_ih": db, "bias_hh": db} if self.bias else {})}
        self.grads = {name + self._sfx: np.array(g, dtype=dtype) for name, g in grads.items()}  # copies

    def _copies(self):
        xt, h0, (w_ih, w_hh, b) = self._saved
        return xt.copy(), h0.copy(), (w_ih.copy(), w_hh.copy(), b.copy())

    # -- checking what a module convention's functions return -------------------------
    def _call(self, name: str, *args):
        return getattr(self.Learner, name)(*args)

    def _tuple(self, fn: str, value, names: tuple, lengths: tuple):
        if not isinstance(value, (tuple, list)) or len(value) not in lengths:
            raise ContractViolation(
                f"{self.cli}: under the {self.convention} convention {fn} must return a tuple "
                f"{names}, got {_describe(value)}"
            )
        return value

    def _array_tuple(self, fn: str, value, shapes: dict) -> tuple:
        """A module convention's tuple of arrays (CS231n's), checked: the names of ``shapes``
        (name -> (shape, meaning)) in order, each a numpy array of its shape."""
        self._tuple(fn, value, tuple(shapes), (len(shapes),))
        for item, (name, (shape, meaning)) in zip(value, shapes.items()):
            self._array(fn, name, item, shape, meaning)
        return tuple(value)

    def _gradient_dict(self, fn: str, gradients, shapes: dict) -> dict:
        """A module convention's gradients dict (deeplearning.ai's), checked: every key of
        ``shapes`` (name -> (shape, meaning)) present, each a numpy array of its shape."""
        if not isinstance(gradients, dict) or set(shapes) - set(gradients):
            missing = sorted(set(shapes) - set(gradients)) if isinstance(gradients, dict) else list(shapes)
            raise ContractViolation(
                f"{self.cli}: under the {self.convention} convention {fn} must return a dict with keys "
                f"{list(shapes)}; got {_describe(gradients) if not isinstance(gradients, dict) else 'a dict'}"
                f" missing {missing}"
            )
        for name, (shape, meaning) in shapes.items():
            self._array(fn, f'gradients["{name}"]', gradients[name], shape, meaning)
        return gradients

    def _array(self, fn: str, name: str, value, shape: tuple, meaning: str):
        if not isinstance(value, np.ndarray):
            raise ContractViolation(
                f"{self.cli}: under the {self.convention} convention {fn} must return {name} "
                f"as a numpy array {meaning}, got {_describe(value)}"
            )
        if value.shape != tuple(shape):
            raise ContractViolation(
                f"{self.cli}: under the {self.convention} convention {fn} must return {name} "
                f"of shape {tuple(shape)} {meaning}, got {value.shape}"
            )
        return value


class _ClassAdapter(_Adapter):
    """A convention whose learner is a class with attributes for the weights."""

    def _initial_params(self):
        self.learner = self.Learner(self.I, self.H)
        return self._from_learner()


class _ColumnAdapter(_ClassAdapter):
    convention = "column"

    def _from_learner(self):
        L = self.learner
        return {"weight_ih_l0": np.array(L.W), "weight_hh_l0": np.array(L.U), "bias_ih_l0": np.array(L.b)[:, 0]}

    def _set(self, weights):
        L = self.learner
        L.W, L.U, L.b = weights[0], weights[1], weights[2][:, None]

    def _run_forward(self, xt, h0, weights):
        self._set(weights)
        cols = [self.learner.forward(xt[:, b, :, None], h0[b][:, None]) for b in range(xt.shape[1])]
        return np.stack([c[:, :, 0] for c in cols], axis=1)

    def _run_backward(self, xt, h0, weights, dy, d_last):
        self._set(weights)
        L = self.learner
        dx, dh0 = np.zeros_like(xt), np.zeros_like(h0)
        grads = None
        for b in range(xt.shape[1]):
            L.forward(xt[:, b, :, None], h0[b][:, None])
            dxs, dh0_b = L.backward(dy[:, b, :, None], d_last[b][:, None])
            dx[:, b], dh0[b] = dxs[:, :, 0], dh0_b[:, 0]
            g = (L.dW, L.dU, L.db[:, 0])
            grads = g if grads is None else tuple(s + t for s, t in zip(grads, g))
        if self.reduction == "mean":  # per-sample gradients: their batch mean, not their sum
            grads = tuple(g / xt.shape[1] for g in grads)
        return dx, dh0, grads


class _RowsAdapter(_ClassAdapter):
    convention = "rows"

    def _from_learner(self):
        L = self.learner
        return {"weight_ih_l0": np.array(L.Wx).T.copy(), "weight_hh_l0": np.array(L.Wh).T.copy(),
                "bias_ih_l0": np.array(L.B)}

    def _set(self, weights):
        L = self.learner
        L.Wx, L.Wh, L.B = weights[0].T.copy(), weights[1].T.copy(), weights[2]

    def _run_forward(self, xt, h0, weights):
        self._set(weights)
        return self.learner.forward(xt.swapaxes(0, 1), h0).swapaxes(0, 1)

    def _run_backward(self, xt, h0, weights, dy, d_last):
        self._set(weights)
        L = self.learner
        L.forward(xt.swapaxes(0, 1), h0)
        dX, dh0 = L.backward(dy.swapaxes(0, 1), d_last)
        return dX.swapaxes(0, 1), dh0, (L.dWx.T, L.dWh.T, L.dB)


class _ModuleAdapter(_Adapter):
    """A convention whose learner is a module of functions; the weights live only in params.

    backward re-runs the learner's forward on the saved inputs for a fresh cache (as the
    rows adapter does), so a backward that consumes its cache cannot break a second call.
    """

    def _initial_params(self):
        # The harness assigns its own weights; these only make a usable default object.
        rng = np.random.default_rng(0)
        return {"weight_ih_l0": rng.standard_normal((self.H, self.I)) * 0.1,
                "weight_hh_l0": rng.standard_normal((self.H, self.H)) * 0.1,
                "bias_ih_l0": np.zeros(self.H)}


class _CS231nAdapter(_ModuleAdapter):
    convention = "cs231n"

    def _forward_cache(self, xt, h0, weights):
        w_ih, w_hh, b = weights
        T, N, D = xt.shape
        x = np.ascontiguousarray(xt.swapaxes(0, 1))  # (N, T, D)
        h, cache = self._tuple("rnn_forward", self._call("rnn_forward", x, h0, w_ih.T.copy(), w_hh.T.copy(), b),
                               ("h", "cache"), (2,))
        self._array("rnn_forward", "h", h, (N, T, self.H), "(N, T, H): every hidden state")
        return h, cache

    def _run_forward(self, xt, h0, weights):
        return self._forward_cache(xt, h0, weights)[0].swapaxes(0, 1)

    def _run_backward(self, xt, h0, weights, dy, d_last):
        T, N, D = xt.shape
        H = self.H
        _, cache = self._forward_cache(xt, h0, weights)
        dh = np.ascontiguousarray(dy.swapaxes(0, 1))  # (N, T, H), our own copy
        dh[:, -1] += d_last  # h_n = h[:, -1]: its upstream gradient joins the last step's
        dx, dh0, dWx, dWh, db = self._array_tuple("rnn_backward", self._call("rnn_backward", dh, cache), {
            "dx": ((N, T, D), "(N, T, D)"), "dh0": ((N, H), "(N, H)"), "dWx": ((D, H), "(D, H)"),
            "dWh": ((H, H), "(H, H)"), "db": ((H,), "(H,)")})
        return dx.swapaxes(0, 1), dh0, (dWx.T, dWh.T, db)


class _ColumnsAdapter(_ModuleAdapter):
    convention = "columns"

    def _forward_cache(self, xt, h0, weights):
        w_ih, w_hh, b = weights
        T, m, n_x = xt.shape
        n_a, dtype = self.H, xt.dtype
        x = np.ascontiguousarray(xt.transpose(2, 1, 0))  # (n_x, m, T)
        # The course's rnn_forward reads n_y from Wya and computes y_pred: a zero output
        # layer of one unit keeps it running and is never compared.
        parameters = {"Wax": w_ih, "Waa": w_hh, "ba": b[:, None].copy(),
                      "Wya": np.zeros((1, n_a), dtype=dtype), "by": np.zeros((1, 1), dtype=dtype)}
        result = self._tuple("rnn_forward", self._call("rnn_forward", x, np.ascontiguousarray(h0.T), parameters),
                             ("a", "y_pred", "caches"), (2, 3))
        a, caches = result[0], result[-1]
        self._array("rnn_forward", "a", a, (n_a, m, T), "(n_a, m, T_x): every hidden state")
        return a, caches

    def _run_forward(self, xt, h0, weights):
        return self._forward_cache(xt, h0, weights)[0].transpose(2, 1, 0)

    def _run_backward(self, xt, h0, weights, dy, d_last):
        T, m, n_x = xt.shape
        n_a = self.H
        _, caches = self._forward_cache(xt, h0, weights)
        da = np.ascontiguousarray(dy.transpose(2, 1, 0))  # (n_a, m, T), our own copy
        da[:, :, -1] += d_last.T  # h_n = a[:, :, -1]: its upstream gradient joins the last step's
        g = self._gradient_dict("rnn_backward", self._call("rnn_backward", da, caches), {
            "dx": ((n_x, m, T), "(n_x, m, T_x)"), "da0": ((n_a, m), "(n_a, m)"),
            "dWax": ((n_a, n_x), "(n_a, n_x)"), "dWaa": ((n_a, n_a), "(n_a, n_a)"), "dba": ((n_a, 1), "(n_a, 1)")})
        return g["dx"].transpose(2, 1, 0), g["da0"].T, (g["dWax"], g["dWaa"], g["dba"][:, 0])


class _CS231nLSTMAdapter(_Adapter, ConventionLimits):
    """CS231n's LSTM functions (assignment 3, ``rnn_layers.py``) under the LSTM contract.

        lstm_forward(x (N, T, D), h0 (N, H), Wx (D, 4H), Wh (H, 4H), b (4H,)) -> (h (N, T, H), cache)
        lstm_backward(dh (N, T, H), cache) -> (dx (N, T, D), dh0 (N, H), dWx (D, 4H), dWh (H, 4H), db (4H,))

    Its gates are stacked i, f, o, g along the 4H columns (torch: i, f, g, o along the rows):
    the adapter hands it torch's weights transposed with the last two H-blocks swapped, and
    swaps its gradients back (exact: a permutation). One bias: b = b_ih + b_hh, and db is the
    gradient of each. h_n is the last hidden state, so d_h_n joins dh's last step.

    What the functions cannot express: they start from c0 = 0, return no cell state and take
    no gradient on it. The class declares it (``core.runs``): ``zero_inputs`` c0 and d_c_n
    (both sides get zeros: the case is the one the convention can express) and
    ``not_returned`` c_n and dc0 (it returns None there; they are compared nowhere). Handed a
    non-zero c0 or d_c_n anyway (a direct call), it raises NotImplementedError.
    (``core.contract.ConventionLimits``: only its subclasses are read for the two.)
    """

    convention = "cs231n"
    convention_order = "ifog"  # its gate blocks, in torch's letters (the diagnosis speaks in them)
    zero_inputs = ("c0", "d_c_n")
    not_returned = ("c_n", "dc0")
    _BLOCKS = [0, 1, 3, 2]  # the learner's block k is torch's block _BLOCKS[k]: CS231n's i, f, o, g
    _BACK = [0, 1, 3, 2]  # torch's block j is the learner's block _BACK[j] (this one is its own inverse)
    _BACKWARD = "lstm_backward"  # what messages call its backward

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 bidirectional=False, proj_size=0):
        if num_layers != 1 or bidirectional or proj_size:
            raise NotImplementedError(f"the {self.convention} convention is a single-layer, unidirectional LSTM "
                                      "without projection")
        self.I, self.H, self.bias, self.batch_first = input_size, hidden_size, bias, batch_first
        rng = np.random.default_rng(0)  # the harness assigns its own weights; these make a usable object
        H4 = 4 * hidden_size
        self.params = {f"weight_ih{self._sfx}": rng.standard_normal((H4, input_size)) * 0.1,
                       f"weight_hh{self._sfx}": rng.standard_normal((H4, hidden_size)) * 0.1}
        if bias:
            self.params[f"bias_ih{self._sfx}"], self.params[f"bias_hh{self._sfx}"] = np.zeros(H4), np.zeros(H4)
        self.grads = {}

    def _swap(self, rows, back: bool = False):
        """torch's (4H, ...) gate rows in the learner's order; ``back``: the learner's in torch's."""
        rows = np.asarray(rows)
        order = self._BACK if back else self._BLOCKS
        return np.ascontiguousarray(rows.reshape((4, self.H) + rows.shape[1:])[order].reshape(rows.shape))

    def _weights(self, dtype):
        """(Wx (D, 4H), Wh (H, 4H), b (4H,)) in CS231n's layout, read from params now."""
        b = self._swap(self._param("bias_ih") + self._param("bias_hh")) if self.bias else np.zeros(4 * self.H, dtype)
        return self._swap(self._param("weight_ih")).T.copy(), self._swap(self._param("weight_hh")).T.copy(), b

    def _forward_cache(self):
        x, h0, (Wx, Wh, b) = self._saved
        N, T, _ = x.shape
        h, cache = self._tuple("lstm_forward", self._call("lstm_forward", x.copy(), h0.copy(), Wx.copy(), Wh.copy(),
                                                          b.copy()), ("h", "cache"), (2,))
        self._array("lstm_forward", "h", h, (N, T, self.H), "(N, T, H): every hidden state")
        return h, cache

    def forward(self, x, hx=None):
        xb = np.array(x if self.batch_first else x.swapaxes(0, 1))  # (N, T, D), our own copy
        N = xb.shape[0]
        if hx is None:
            h0 = np.zeros((N, self.H), dtype=x.dtype)
        else:
            if hx[1] is not None and np.any(hx[1]):
                raise NotImplementedError(f"the {self.convention} convention's lstm_forward starts from c0 = 0")
            h0 = np.array(hx[0][0])
        self._saved = (xb, h0, self._weights(x.dtype))
        h = self._forward_cache()[0].astype(x.dtype, copy=False)
        out = h if self.batch_first else h.swapaxes(0, 1)
        return np.ascontiguousarray(out), (h[:, -1][None].copy(), None)

    def backward(self, d_output, d_h_n=None, d_c_n=None):
        if d_c_n is not None and np.any(d_c_n):
            raise NotImplementedError(f"the {self.convention} convention's {self._BACKWARD} takes no gradient on the "
                                      "final cell state")
        x, h0, _ = self._saved
        N, T, D = x.shape
        H, dtype = self.H, x.dtype
        _, cache = self._forward_cache()  # a fresh cache: a backward that consumes its own cannot break a second call
        dh = np.array(d_output if self.batch_first else d_output.swapaxes(0, 1))  # (N, T, H), our own copy
        if d_h_n is not None:
            dh[:, -1] += d_h_n[0]  # h_n = h[:, -1]: its upstream gradient joins the last step's
        dx, dh0, dw_ih, dw_hh, db = self._run_learner_backward(dh, cache, N, T, D)
        self._set_grads(dw_ih, dw_hh, db, dtype)
        dx = dx if self.batch_first else dx.swapaxes(0, 1)
        return np.ascontiguousarray(dx, dtype=dtype), (np.asarray(dh0, dtype=dtype)[None].copy(), None)

    def _run_learner_backward(self, dh, cache, N, T, D):
        """lstm_backward on dh (N, T, H) -> (dx (N, T, D), dh0 (N, H), dW_ih, dW_hh, db in torch's layout)."""
        H = self.H
        dx, dh0, dWx, dWh, db = self._array_tuple("lstm_backward", self._call("lstm_backward", dh, cache), {
            "dx": ((N, T, D), "(N, T, D)"), "dh0": ((N, H), "(N, H)"), "dWx": ((D, 4 * H), "(D, 4H)"),
            "dWh": ((H, 4 * H), "(H, 4H)"), "db": ((4 * H,), "(4H,)")})
        return dx, dh0, self._swap(dWx.T, True), self._swap(dWh.T, True), self._swap(db, True)


def _gate_shapes(H: int, D: int) -> dict:
    """deeplearning.ai's gate gradients, in its order dWf, dbf, dWi, ..., dbo: name -> (shape, meaning)."""
    return {f"d{w}{k}": ((H, H + D), "(n_a, n_a + n_x)") if w == "W" else ((H, 1), "(n_a, 1)")
            for k in "fico" for w in "Wb"}


class _ColumnsLSTMAdapter(_CS231nLSTMAdapter):
    """deeplearning.ai's LSTM functions ("Building your RNN step by step", course 5 week 1)
    under the LSTM contract.

        lstm_forward(x (n_x, m, T), a0 (n_a, m), parameters) -> (a (n_a, m, T), y, c (n_a, m, T), caches)
            parameters: Wf, Wi, Wc, Wo (n_a, n_a + n_x) acting on [a_prev; x_t], bf, bi, bc, bo
            (n_a, 1), and the output layer Wy (n_y, n_a), by (n_y, 1)
        lstm_backward(da (n_a, m, T), caches) -> {"dx" (n_x, m, T), "da0" (n_a, m),
            "dWf", "dbf", "dWi", "dbi", "dWc", "dbc", "dWo", "dbo"}  (other keys ignored)

    Gate by gate: torch's block k of W_hh and of W_ih are the first n_a and the last n_x
    columns of W_k (f, i, c = g, o); b_k = b_ih + b_hh of that block. The output layer gets
    zeros (one unit: yt_pred is never compared). Its forward returns every cell state, so
    c_n = c[:, :, -1] is compared; it starts from c0 = 0 and its backward takes no gradient on
    the cell state and returns none for c0: ``zero_inputs`` c0, d_c_n and ``not_returned``
    dc0 only.
    """

    convention = "columns"
    convention_order = None  # four named matrices: no stacked order to read wrong
    gate_matrices = {"i": "Wi", "f": "Wf", "g": "Wc", "o": "Wo"}  # torch's gate -> its matrix (the diagnosis)
    not_returned = ("dc0",)
    _GATES = {"i": 0, "f": 1, "c": 2, "o": 3}  # the course's names -> torch's block (g is its c)

    def _weights(self, dtype):
        H = self.H
        w_ih, w_hh = self._param("weight_ih"), self._param("weight_hh")
        b = self._param("bias_ih") + self._param("bias_hh") if self.bias else np.zeros(4 * H, dtype)
        parameters = {}
        for k, j in self._GATES.items():
            rows = slice(j * H, (j + 1) * H)
            parameters["W" + k] = np.concatenate((w_hh[rows], w_ih[rows]), axis=1)  # on [a_prev; x_t]
            parameters["b" + k] = b[rows][:, None].copy()
        parameters["Wy"], parameters["by"] = np.zeros((1, H), dtype=dtype), np.zeros((1, 1), dtype=dtype)
        return parameters

    def _forward_cache(self):
        x, h0, parameters = self._saved  # x (N, T, D) batch-first, as the base keeps it
        N, T, D = x.shape
        n_a = self.H
        result = self._tuple("lstm_forward", self._call(
            "lstm_forward", np.ascontiguousarray(x.transpose(2, 0, 1)), np.ascontiguousarray(h0.T),
            {k: v.copy() for k, v in parameters.items()}), ("a", "y", "c", "caches"), (4,))
        a, c, caches = result[0], result[2], result[3]
        self._array("lstm_forward", "a", a, (n_a, N, T), "(n_a, m, T_x): every hidden state")
        self._array("lstm_forward", "c", c, (n_a, N, T), "(n_a, m, T_x): every cell state")
        self._c_n = np.array(c[:, :, -1].T)
        return a.transpose(1, 2, 0), caches  # h (N, T, H), as the base reads it

    def forward(self, x, hx=None):
        out, (h_n, _) = super().forward(x, hx)
        return out, (h_n, self._c_n.astype(x.dtype)[None].copy())

    def _run_learner_backward(self, dh, cache, N, T, D):
        H = self.H
        da = np.ascontiguousarray(dh.transpose(2, 0, 1))  # (n_a, m, T)
        g = self._gradient_dict("lstm_backward", self._call("lstm_backward", da, cache), {
            "dx": ((D, N, T), "(n_x, m, T_x)"), "da0": ((H, N), "(n_a, m)"), **_gate_shapes(H, D)})
        return (g["dx"].transpose(1, 2, 0), g["da0"].T) + self._torch_grads(g, H, D)

    def _torch_grads(self, g: dict, H: int, D: int) -> tuple:
        """dW_k on [a_prev; x_t] and db_k, gate by gate -> torch's (dW_ih (4H, D), dW_hh (4H, H), db (4H,))."""
        w_ih, w_hh, b = np.zeros((4 * H, D)), np.zeros((4 * H, H)), np.zeros(4 * H)
        for k, j in self._GATES.items():
            rows = slice(j * H, (j + 1) * H)
            w_hh[rows], w_ih[rows], b[rows] = g["dW" + k][:, :H], g["dW" + k][:, H:], g["db" + k][:, 0]
        return w_ih, w_hh, b


class _CS231nLSTMCellAdapter(_CS231nLSTMAdapter):
    """CS231n's LSTM step functions under the LSTMCell contract (``--lstm-cell-impl my_layers
    --convention cs231n``): the step a student writes first, checked alone.

        lstm_step_forward(x (N, D), prev_h (N, H), prev_c (N, H), Wx (D, 4H), Wh (H, 4H), b (4H,))
            -> (next_h, next_c, cache)
        lstm_step_backward(dnext_h (N, H), dnext_c (N, H), cache)
            -> (dx (N, D), dprev_h (N, H), dprev_c (N, H), dWx (D, 4H), dWh (H, 4H), db (4H,))

    The gates, the single bias and the copies are the layer's (``_CS231nLSTMAdapter``). The
    step takes and returns the cell state and its gradient, so nothing is left out: every
    tensor of the LSTMCell contract is compared."""

    zero_inputs = ()
    not_returned = ()
    _sfx = ""  # LSTMCell's weight_ih, ...

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__(input_size, hidden_size, bias=bias)  # params named weight_ih, ... (_sfx)

    def forward(self, x, hx=None):
        if x.ndim != 2:
            raise NotImplementedError(f"the {self.convention} convention's step takes a batch, x (N, D)")
        N = x.shape[0]
        h, c = (np.zeros((N, self.H), dtype=x.dtype),) * 2 if hx is None else (np.array(hx[0]), np.array(hx[1]))
        self._saved = (np.array(x), h, c, self._weights(x.dtype))
        next_h, next_c, _ = self._step_forward()
        return next_h.astype(x.dtype), next_c.astype(x.dtype)

    def _step_forward(self):
        x, h, c, weights = self._saved
        N, H = h.shape
        result = self._tuple(self._FORWARD, self._call(self._FORWARD, *self._forward_args(x, h, c, weights)),
                             self._FORWARD_RETURNS, (len(self._FORWARD_RETURNS),))
        next_h, next_c = self._states(result)
        self._array(self._FORWARD, "next_h", next_h, self._state_shape(N, H), self._state_meaning)
        self._array(self._FORWARD, "next_c", next_c, self._state_shape(N, H), self._state_meaning)
        return self._from_states(next_h), self._from_states(next_c), result[-1]

    _FORWARD, _FORWARD_RETURNS = "lstm_step_forward", ("next_h", "next_c", "cache")
    _state_meaning = "(N, H)"

    def _state_shape(self, N, H):
        return (N, H)

    def _states(self, result):
        return result[0], result[1]

    def _from_states(self, v):
        return np.asarray(v)

    def _forward_args(self, x, h, c, weights):
        Wx, Wh, b = weights
        return x.copy(), h.copy(), c.copy(), Wx.copy(), Wh.copy(), b.copy()

    def backward(self, d_h, d_c=None):
        x, h, _, _ = self._saved
        dtype = x.dtype
        _, _, cache = self._step_forward()  # a fresh cache
        d_c = np.zeros_like(h) if d_c is None else np.array(d_c)
        dx, dh, dc, dw_ih, dw_hh, db = self._step_backward(np.array(d_h), d_c, cache, *x.shape, h.shape[1])
        self._set_grads(dw_ih, dw_hh, db, dtype)
        return np.asarray(dx).astype(dtype), (np.asarray(dh).astype(dtype), np.asarray(dc).astype(dtype))

    def _step_backward(self, d_h, d_c, cache, N, D, H):
        dx, dh, dc, dWx, dWh, db = self._array_tuple(
            "lstm_step_backward", self._call("lstm_step_backward", d_h, d_c, cache), {
                "dx": ((N, D), "(N, D)"), "dprev_h": ((N, H), "(N, H)"), "dprev_c": ((N, H), "(N, H)"),
                "dWx": ((D, 4 * H), "(D, 4H)"), "dWh": ((H, 4 * H), "(H, 4H)"), "db": ((4 * H,), "(4H,)")})
        return dx, dh, dc, self._swap(dWx.T, True), self._swap(dWh.T, True), self._swap(db, True)


class _ColumnsLSTMCellAdapter(_CS231nLSTMCellAdapter):
    """deeplearning.ai's LSTM cell functions under the LSTMCell contract (``--lstm-cell-impl
    my_lstm --convention columns``), examples in columns, complete like CS231n's step:

        lstm_cell_forward(xt (n_x, m), a_prev (n_a, m), c_prev (n_a, m), parameters)
            -> (a_next, c_next, yt_pred, cache)
        lstm_cell_backward(da_next (n_a, m), dc_next (n_a, m), cache)
            -> {"dxt", "da_prev", "dc_prev", "dWf", "dbf", "dWi", "dbi", "dWc", "dbc", "dWo", "dbo"}

    The weights are the layer adapter's (``_ColumnsLSTMAdapter._weights``)."""

    convention = "columns"
    convention_order = None
    gate_matrices = _ColumnsLSTMAdapter.gate_matrices
    _weights = _ColumnsLSTMAdapter._weights
    _GATES = _ColumnsLSTMAdapter._GATES
    _torch_grads = _ColumnsLSTMAdapter._torch_grads
    _FORWARD, _FORWARD_RETURNS = "lstm_cell_forward", ("a_next", "c_next", "yt_pred", "cache")
    _state_meaning = "(n_a, m)"

    def _state_shape(self, N, H):
        return (H, N)

    def _from_states(self, v):
        return np.asarray(v).T

    def _forward_args(self, x, h, c, parameters):
        return (np.ascontiguousarray(x.T), np.ascontiguousarray(h.T), np.ascontiguousarray(c.T),
                {k: v.copy() for k, v in parameters.items()})

    def _step_backward(self, d_h, d_c, cache, N, D, H):
        g = self._gradient_dict("lstm_cell_backward", self._call(
            "lstm_cell_backward", np.ascontiguousarray(d_h.T), np.ascontiguousarray(d_c.T), cache), {
            "dxt": ((D, N), "(n_x, m)"), "da_prev": ((H, N), "(n_a, m)"), "dc_prev": ((H, N), "(n_a, m)"),
            **_gate_shapes(H, D)})
        return (g["dxt"].T, g["da_prev"].T, g["dc_prev"].T) + self._torch_grads(g, H, D)


class _CS231nRNNCellAdapter(_Adapter):
    """CS231n's RNN step functions under the RNNCell contract (``--cell-impl my_layers
    --convention cs231n``): the step a student writes first, checked alone.

        rnn_step_forward(x (N, D), prev_h (N, H), Wx (D, H), Wh (H, H), b (H,)) -> (next_h, cache)
        rnn_step_backward(dnext_h (N, H), cache) -> (dx (N, D), dprev_h (N, H), dWx, dWh, db)

    One bias (b = b_ih + b_hh, db the gradient of each), your copies and the dtype as for the
    RNN's conventions; a tanh cell (relu declined). Nothing is left out."""

    convention = "cs231n"
    _sfx = ""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh"):
        if nonlinearity != "tanh":
            raise NotImplementedError(f"the {self.convention} convention's step is a tanh cell")
        self.I, self.H, self.bias = input_size, hidden_size, bias
        rng = np.random.default_rng(0)  # the harness assigns its own weights
        self.params = {"weight_ih": rng.standard_normal((hidden_size, input_size)) * 0.1,
                       "weight_hh": rng.standard_normal((hidden_size, hidden_size)) * 0.1}
        if bias:
            self.params["bias_ih"], self.params["bias_hh"] = np.zeros(hidden_size), np.zeros(hidden_size)
        self.grads = {}

    def _torch_weights(self, dtype):
        b = self._param("bias_ih") + self._param("bias_hh") if self.bias else np.zeros(self.H, dtype)
        return np.array(self._param("weight_ih")), np.array(self._param("weight_hh")), b

    def forward(self, x, h=None):
        if x.ndim != 2:
            raise NotImplementedError(f"the {self.convention} convention's step takes a batch, x (N, D)")
        h = np.zeros((x.shape[0], self.H), dtype=x.dtype) if h is None else np.array(h)
        self._saved = (np.array(x), h, self._torch_weights(x.dtype))
        return np.asarray(self._step_forward()[0]).astype(x.dtype)

    def _step_forward(self):
        x, h, (w_ih, w_hh, b) = self._saved
        result = self._tuple("rnn_step_forward", self._call("rnn_step_forward", x.copy(), h.copy(), w_ih.T.copy(),
                                                            w_hh.T.copy(), b.copy()), ("next_h", "cache"), (2,))
        self._array("rnn_step_forward", "next_h", result[0], h.shape, "(N, H)")
        return result

    def backward(self, d_h):
        x, h, _ = self._saved
        dtype = x.dtype
        _, cache = self._step_forward()  # a fresh cache
        dx, dh, dw_ih, dw_hh, db = self._learner_backward(np.array(d_h), cache, *x.shape, self.H)
        self._set_grads(dw_ih, dw_hh, db, dtype)
        return np.asarray(dx).astype(dtype), np.asarray(dh).astype(dtype)

    def _learner_backward(self, d_h, cache, N, D, H):
        """rnn_step_backward -> (dx (N, D), dh (N, H), dW_ih (H, D), dW_hh (H, H), db (H,)), torch's layout."""
        dx, dh, dWx, dWh, db = self._array_tuple("rnn_step_backward", self._call("rnn_step_backward", d_h, cache), {
            "dx": ((N, D), "(N, D)"), "dprev_h": ((N, H), "(N, H)"), "dWx": ((D, H), "(D, H)"),
            "dWh": ((H, H), "(H, H)"), "db": ((H,), "(H,)")})
        return dx, dh, dWx.T, dWh.T, db


class _ColumnsRNNCellAdapter(_CS231nRNNCellAdapter):
    """deeplearning.ai's RNN cell functions under the RNNCell contract (``--cell-impl my_rnn
    --convention columns``):

        rnn_cell_forward(xt (n_x, m), a_prev (n_a, m), parameters) -> (a_next, yt_pred, cache)
        rnn_cell_backward(da_next (n_a, m), cache) -> {"dxt", "da_prev", "dWax", "dWaa", "dba"}

    ``parameters`` as for the RNN's ``columns`` (Wax, Waa, ba, and a zero output layer)."""

    convention = "columns"

    def _step_forward(self):
        x, h, (w_ih, w_hh, b) = self._saved
        N, H = h.shape
        parameters = {"Wax": w_ih.copy(), "Waa": w_hh.copy(), "ba": b[:, None].copy(),
                      "Wya": np.zeros((1, H), dtype=x.dtype), "by": np.zeros((1, 1), dtype=x.dtype)}
        result = self._tuple("rnn_cell_forward", self._call("rnn_cell_forward", np.ascontiguousarray(x.T),
                                                            np.ascontiguousarray(h.T), parameters),
                             ("a_next", "yt_pred", "cache"), (3,))
        self._array("rnn_cell_forward", "a_next", result[0], (H, N), "(n_a, m)")
        return result[0].T, result[-1]

    def _learner_backward(self, d_h, cache, N, D, H):
        g = self._gradient_dict("rnn_cell_backward", self._call(
            "rnn_cell_backward", np.ascontiguousarray(d_h.T), cache), {
            "dxt": ((D, N), "(n_x, m)"), "da_prev": ((H, N), "(n_a, m)"), "dWax": ((H, D), "(n_a, n_x)"),
            "dWaa": ((H, H), "(n_a, n_a)"), "dba": ((H, 1), "(n_a, 1)")})
        return g["dxt"].T, g["da_prev"].T, g["dWax"], g["dWaa"], g["dba"][:, 0]


# -- ゼロから作るDeep Learning 2 (deep-learning-from-scratch-2), common/time_layers.py ------
_DLFS2_FLOAT32 = ("the book's {cls} keeps {what} in a float32 buffer (np.empty(..., dtype='f')), so its results are "
                  "float32 whatever the input: float64 cases are declined and the float32 rows check it; allocate "
                  "{what} with the input's dtype to be checked in float64 too")


def _dlfs2_precision(cls: str, what: str, requested, returned) -> None:
    """Decline a float64 case the book's float32 buffers cannot express (NotImplementedError:
    reported as declined, with this reason). Its values would be float32 rounding, ~1e9
    times float64's budget: every float64 row would fail on a correct layer."""
    if np.dtype(requested) == np.float64 and np.asarray(returned).dtype == np.float32:
        raise NotImplementedError(_DLFS2_FLOAT32.format(cls=cls, what=what))


class _DLFS2RNNAdapter(_Adapter):
    """The book's ``TimeRNN`` under the RNN contract (``--rnn-impl time_layers:TimeRNN
    --convention dlfs2``):

        TimeRNN(Wx (D, H), Wh (H, H), b (H,), stateful=True); set_state(h0 (N, H))
        forward(xs (N, T, D)) -> hs (N, T, H)
        backward(dhs (N, T, H)) -> dxs (N, T, D); sets dh (dh0) and grads [dWx, dWh, db]

    A fresh layer per call, built on the weights the harness assigned (the book's layers take
    their weights in the constructor), ``stateful=True`` with ``set_state(h0)`` so that h0 is
    the case's. h_n is hs[:, -1], so d_h_n joins dhs's last step. One bias as for every RNN
    convention. The book's hs and dxs buffers are float32: ``_dlfs2_precision``."""

    convention = "dlfs2"
    _initial_params = _ModuleAdapter._initial_params

    def _layer(self, xt, h0, weights):
        w_ih, w_hh, b = weights
        layer = self.Learner(w_ih.T.copy(), w_hh.T.copy(), b.copy(), stateful=True)
        layer.set_state(h0.copy())
        xs = np.ascontiguousarray(xt.swapaxes(0, 1))  # (N, T, D)
        hs = layer.forward(xs)
        self._array("forward", "hs", hs, xs.shape[:2] + (self.H,), "(N, T, H): every hidden state")
        _dlfs2_precision(self.Learner.__name__, "hs", xt.dtype, hs)
        return layer, hs

    def _run_forward(self, xt, h0, weights):
        return self._layer(xt, h0, weights)[1].swapaxes(0, 1)

    def _run_backward(self, xt, h0, weights, dy, d_last):
        layer, _ = self._layer(xt, h0, weights)
        dhs = np.ascontiguousarray(dy.swapaxes(0, 1))  # (N, T, H), our own copy
        dhs[:, -1] += d_last  # h_n = hs[:, -1]
        dxs = layer.backward(dhs)
        self._array("backward", "dxs", dxs, xt.swapaxes(0, 1).shape, "(N, T, D)")
        _dlfs2_precision(self.Learner.__name__, "dxs", xt.dtype, dxs)
        dWx, dWh, db = self._tuple("backward", layer.grads, ("dWx", "dWh", "db"), (3,))
        return dxs.swapaxes(0, 1), np.asarray(layer.dh), (np.asarray(dWx).T, np.asarray(dWh).T, db)


class _DLFS2RNNCellAdapter(_CS231nRNNCellAdapter):
    """The book's ``RNN`` (one step) under the RNNCell contract (``--cell-impl
    time_layers:RNN --convention dlfs2``): ``RNN(Wx (D, H), Wh (H, H), b (H,))``,
    ``forward(x (N, D), h_prev (N, H)) -> h_next``, ``backward(dh_next) -> (dx, dh_prev)``,
    ``grads`` [dWx, dWh, db]. Every tensor of the contract is compared."""

    convention = "dlfs2"

    def _step_forward(self):
        x, h, (w_ih, w_hh, b) = self._saved
        self._cell = self.Learner(w_ih.T.copy(), w_hh.T.copy(), b.copy())
        next_h = self._cell.forward(x.copy(), h.copy())
        self._array("forward", "h_next", next_h, h.shape, "(N, H)")
        return next_h, None

    def _learner_backward(self, d_h, cache, N, D, H):
        dx, dh = self._tuple("backward", self._cell.backward(d_h), ("dx", "dh_prev"), (2,))
        self._array("backward", "dx", dx, (N, D), "(N, D)")
        self._array("backward", "dh_prev", dh, (N, H), "(N, H)")
        dWx, dWh, db = self._tuple("backward", self._cell.grads, ("dWx", "dWh", "db"), (3,))
        return dx, dh, np.asarray(dWx).T, np.asarray(dWh).T, db


class _DLFS2LSTMAdapter(_CS231nLSTMAdapter):
    """The book's ``TimeLSTM`` under the LSTM contract (``--lstm-impl time_layers:TimeLSTM
    --convention dlfs2``):

        TimeLSTM(Wx (D, 4H), Wh (H, 4H), b (4H,), stateful=True); set_state(h0, c0)
        forward(xs (N, T, D)) -> hs (N, T, H); its h and c are then h_n and c_n
        backward(dhs (N, T, H)) -> dxs; sets dh (dh0) and grads [dWx, dWh, db]

    Gates f, g, i, o along the 4H columns (the book's ``A[:, :H]`` is f): a permutation of
    torch's i, f, g, o blocks, exact. One bias (b = b_ih + b_hh). c0 is the case's; its
    backward starts from dc = 0 and keeps no dc0: ``zero_inputs`` d_c_n and ``not_returned``
    dc0 (``core.contract.ConventionLimits``). The float32 buffers: ``_dlfs2_precision``."""

    convention = "dlfs2"
    convention_order = "fgio"
    zero_inputs = ("d_c_n",)
    not_returned = ("dc0",)
    _BLOCKS = [1, 2, 0, 3]  # the book's f, g, i, o are torch's blocks 1, 2, 0, 3
    _BACK = [2, 0, 1, 3]  # torch's i, f, g, o are the book's blocks 2, 0, 1, 3
    _BACKWARD = "TimeLSTM.backward(dhs)"

    def _forward_cache(self):
        """A fresh layer on the saved weights, run forward: (hs (N, T, H), the layer, whose
        backward is the base's ``_run_learner_backward``'s "cache")."""
        x, h0, (Wx, Wh, b) = self._saved
        layer = self.Learner(Wx.copy(), Wh.copy(), b.copy(), stateful=True)
        layer.set_state(h0.copy(), self._c0.copy())
        hs = layer.forward(x.copy())
        self._array("forward", "hs", hs, x.shape[:2] + (self.H,), "(N, T, H): every hidden state")
        _dlfs2_precision(self.Learner.__name__, "hs", x.dtype, hs)
        for name in ("h", "c"):
            self._array("forward", f"its {name} after forward", getattr(layer, name, None), h0.shape, "(N, H)")
        return hs, layer

    def forward(self, x, hx=None):
        xb = np.array(x if self.batch_first else x.swapaxes(0, 1))  # (N, T, D), our own copy
        zeros = np.zeros((xb.shape[0], self.H), dtype=x.dtype)
        h0 = zeros if hx is None else np.array(hx[0][0])
        self._c0 = zeros if hx is None or hx[1] is None else np.array(hx[1][0])
        self._saved = (xb, h0, self._weights(x.dtype))
        hs, layer = self._forward_cache()
        out = hs if self.batch_first else hs.swapaxes(0, 1)
        return (np.ascontiguousarray(out, dtype=x.dtype),
                (np.asarray(layer.h, dtype=x.dtype)[None].copy(), np.asarray(layer.c, dtype=x.dtype)[None].copy()))

    def _run_learner_backward(self, dh, layer, N, T, D):
        """The layer's backward(dhs) -> (dx, dh0, dW_ih, dW_hh, db in torch's layout)."""
        dxs = layer.backward(dh)
        self._array("backward", "dxs", dxs, (N, T, D), "(N, T, D)")
        _dlfs2_precision(self.Learner.__name__, "dxs", dh.dtype, dxs)
        dWx, dWh, db = self._tuple("backward", layer.grads, ("dWx", "dWh", "db"), (3,))
        return (dxs, np.asarray(layer.dh), self._swap(np.asarray(dWx).T, True), self._swap(np.asarray(dWh).T, True),
                self._swap(db, True))


class _DLFS2LSTMCellAdapter(_CS231nLSTMCellAdapter):
    """The book's ``LSTM`` (one step) under the LSTMCell contract (``--lstm-cell-impl
    time_layers:LSTM --convention dlfs2``): ``LSTM(Wx, Wh, b)``, ``forward(x, h_prev,
    c_prev) -> (h_next, c_next)``, ``backward(dh_next, dc_next) -> (dx, dh_prev, dc_prev)``,
    ``grads`` [dWx, dWh, db]; gates f, g, i, o. Every tensor of the contract is compared."""

    convention = "dlfs2"
    convention_order = "fgio"
    _BLOCKS, _BACK = _DLFS2LSTMAdapter._BLOCKS, _DLFS2LSTMAdapter._BACK
    _FORWARD, _FORWARD_RETURNS = "forward", ("h_next", "c_next")

    def _step_forward(self):
        x, h, c, (Wx, Wh, b) = self._saved
        self._cell = self.Learner(Wx.copy(), Wh.copy(), b.copy())
        next_h, next_c = self._tuple("forward", self._cell.forward(x.copy(), h.copy(), c.copy()),
                                     self._FORWARD_RETURNS, (2,))
        for name, v in (("h_next", next_h), ("c_next", next_c)):
            self._array("forward", name, v, h.shape, "(N, H)")
        return np.asarray(next_h), np.asarray(next_c), None

    def _step_backward(self, d_h, d_c, cache, N, D, H):
        dx, dh, dc = self._tuple("backward", self._cell.backward(d_h, d_c), ("dx", "dh_prev", "dc_prev"), (3,))
        for name, v, shape, meaning in (("dx", dx, (N, D), "(N, D)"), ("dh_prev", dh, (N, H), "(N, H)"),
                                        ("dc_prev", dc, (N, H), "(N, H)")):
            self._array("backward", name, v, shape, meaning)
        dWx, dWh, db = self._tuple("backward", self._cell.grads, ("dWx", "dWh", "db"), (3,))
        return dx, dh, dc, self._swap(np.asarray(dWx).T, True), self._swap(np.asarray(dWh).T, True), \
            self._swap(db, True)


_BASES = {"column": _ColumnAdapter, "rows": _RowsAdapter, "cs231n": _CS231nAdapter, "columns": _ColumnsAdapter,
          "dlfs2": _DLFS2RNNAdapter}
_FAMILY_BASES = {"rnn": _BASES,
                 "lstm": {"cs231n": _CS231nLSTMAdapter, "columns": _ColumnsLSTMAdapter, "dlfs2": _DLFS2LSTMAdapter},
                 "lstm_cell": {"cs231n": _CS231nLSTMCellAdapter, "columns": _ColumnsLSTMCellAdapter,
                               "dlfs2": _DLFS2LSTMCellAdapter},
                 "rnn_cell": {"cs231n": _CS231nRNNCellAdapter, "columns": _ColumnsRNNCellAdapter,
                              "dlfs2": _DLFS2RNNCellAdapter}}


def module_functions(family: str, convention: str | None = None) -> tuple:
    """The functions a module convention of ``family`` calls ("rnn": rnn_forward, rnn_backward;
    the LSTMCell's differ by course: CS231n's lstm_step_*, deeplearning.ai's lstm_cell_*)."""
    if family.endswith("_cell"):
        return _CELL_FUNCTIONS[family, convention or "cs231n"]
    return _FAMILY_FUNCTIONS[family]


def _module_name(target) -> str:
    """A module's name; any other object with the functions is named by its type."""
    return getattr(target, "__name__", None) or type(target).__name__


def _command_line(target, convention, reduction, spec) -> str:
    if spec is None:
        spec = (_module_name(target) if convention in MODULE_CONVENTIONS
                else f"{target.__module__}:{target.__qualname__}")
    return (f"{spec}{f' --convention {convention}' if convention else ''}"
            f"{' --reduction mean' if reduction == 'mean' else ''}")


# How each module convention calls its forward function: a module written for the other
# course (same function names, other arguments) is told which convention it is, instead of
# failing every case with "lstm_forward() takes 3 positional arguments but 5 were given".
_FORWARD_CALLS = {
    ("rnn", "cs231n"): "rnn_forward(x, h0, Wx, Wh, b)", ("rnn", "columns"): "rnn_forward(x, a0, parameters)",
    ("lstm", "cs231n"): "lstm_forward(x, h0, Wx, Wh, b)", ("lstm", "columns"): "lstm_forward(x, a0, parameters)",
    ("lstm_cell", "cs231n"): "lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)",
    ("lstm_cell", "columns"): "lstm_cell_forward(xt, a_prev, c_prev, parameters)",
    ("rnn_cell", "cs231n"): "rnn_step_forward(x, prev_h, Wx, Wh, b)",
    ("rnn_cell", "columns"): "rnn_cell_forward(xt, a_prev, parameters)",
}


def _takes(fn, n: int) -> bool | None:
    """Can ``fn`` be called with ``n`` positional arguments? None when its signature cannot
    be read or takes *args."""
    try:  # the function as called, not what a decorator wraps
        params = list(inspect.signature(fn, follow_wrapped=False).parameters.values())
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return None
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    return len(required) <= n <= len(positional)


def _check_target(target, convention, family: str = "rnn") -> None:
    option = entry(family).option
    if convention in MODULE_CONVENTIONS:
        functions = module_functions(family, convention)
        missing = [f for f in functions if not callable(getattr(target, f, None))]
        if missing:
            raise TypeError(
                f"target: the {convention} convention takes a module with functions "
                f"{' and '.join(functions)} ({option} names the module, no ':Class'); "
                f"{_module_name(target)} has no {' and no '.join(missing)}"
            )
        call = _FORWARD_CALLS.get((family, convention))
        if call is not None:
            name, args = call.split("(")
            if _takes(getattr(target, name), args.count(",") + 1) is False:
                others = [c for (f, c), other in _FORWARD_CALLS.items() if f == family and c != convention
                          and other.split("(")[0] == name
                          and _takes(getattr(target, name), other.count(",") + 1)]
                hint = (f"; it fits the {others[0]} convention's {_FORWARD_CALLS[family, others[0]]}: "
                        f"--convention {others[0]}") if others else ""
                raise TypeError(
                    f"target: the {convention} convention calls {call}, but {_module_name(target)}.{name}"
                    f"{inspect.signature(getattr(target, name))} cannot take those arguments{hint}"
                )
    elif not inspect.isclass(target):
        what = f"the {convention} convention wraps" if convention else f"without --convention, {option} names"
        raise TypeError(
            f"target: {what} a class ({option} module:Class), got "
            f"{getattr(target, '__name__', None) or _describe(target)} ({type(target).__name__})"
        )


def adapt(target, convention: str | None, reduction: str = "sum", spec: str | None = None, family: str = "rnn"):
    """A class under the contract of ``family`` (a key of ``FAMILY_CONVENTIONS``: "rnn",
    "rnn_cell", "lstm", "lstm_cell") for ``target`` written in ``convention``.

    ``target``: the class (``column``, ``rows``, or no convention) or the module (a name in
    ``MODULE_CONVENTIONS``: any object with functions ``rnn_forward`` and ``rnn_backward``,
    for the LSTM ``lstm_forward`` and ``lstm_backward``).
    ``convention``: a key of ``FAMILY_CONVENTIONS[family]``, or None for a class already under the
    contract. ``reduction``: ``"sum"`` (torch's) or ``"mean"`` (weight and bias gradients
    averaged over the batch). ``spec``: the plug-in as typed (``"my_layers"``,
    ``"mymod:MyRNN"``), for the ``cli`` attribute; derived from ``target`` when None.

    ``adapt(cls, None, "sum")`` is ``cls`` itself; ``adapt(cls, None, "mean")`` a subclass of
    it. Otherwise an adapter class. Either carries ``cli`` (the options as typed, e.g.
    ``"my_layers --convention cs231n --reduction mean"``) and ``reduction``, which
    ``core/runs.run_both`` reads (``"mean"``: the weight and bias gradients are compared
    with torch's divided by the batch size); an adapter also ``Learner`` (the target) and
    ``convention``. An unknown convention or reduction is a ValueError naming the argument
    and the choices, a target of the wrong kind a TypeError.
    """
    if family not in FAMILY_CONVENTIONS:
        raise ValueError(f"family must be one of {list(FAMILY_CONVENTIONS)}, got {family!r}")
    known = FAMILY_CONVENTIONS[family]
    if convention is not None and convention not in known:
        raise ValueError(f"convention must be one of {list(known)} (or None), got {convention!r}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {list(REDUCTIONS)}, got {reduction!r}")
    if spec is not None and not isinstance(spec, str):
        raise TypeError(f"spec must be the plug-in as typed (a str) or None, got {type(spec).__name__}")
    _check_target(target, convention, family)
    if convention is None and reduction == "sum":
        return target

    cli = _command_line(target, convention, reduction, spec)
    if convention in MODULE_CONVENTIONS:
        module = qual = _module_name(target)
    else:
        module, qual = target.__module__, target.__qualname__
    name = qual.rsplit(".", 1)[-1]
    if convention is not None:
        return type(name, (_FAMILY_BASES[family][convention],),
                    {"Learner": target, "cli": cli, "reduction": reduction, "__module__": module,
                     "__qualname__": f"{qual}[{convention} adapter]"})
    # A class under the contract, declared to average: core/runs.run_both reads
    # ``reduction`` and compares its gradients with torch's divided by B.
    return type(name, (target,), {"cli": cli, "reduction": reduction, "__module__": module,
                                  "__qualname__": qual})


def rows_to_torch(Wx, Wh, B) -> dict:
    """Seed 003's (Wx (I, H), Wh (H, H), B (H,)) as torch.nn.RNN parameters: transposed
    weights, and the single bias split as b_ih = B, b_hh = 0 (b_ih + b_hh = B)."""
    Wx, Wh, B = (np.asarray(a, dtype=np.float64) for a in (Wx, Wh, B))
    return {"weight_ih_l0": Wx.T.copy(), "weight_hh_l0": Wh.T.copy(), "bias_ih_l0": B.copy(),
            "bias_hh_l0": np.zeros_like(B)}
