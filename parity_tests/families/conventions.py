"""Adapters: a class written in a learner's convention, wrapped into the contract.

    pytest --rnn-impl mymodule:MyRNN --convention column     # seeds 000 / 001
    pytest --rnn-impl mymodule:MyRNN --convention rows       # seed 003

``column`` (column vectors, one sample at a time):  W (H, I), U (H, H), b (H, 1)
    forward(xs (T, I, 1), h0 (H, 1)) -> hs (T, H, 1)
    backward(dhs (T, H, 1), dh_last (H, 1)) -> (dxs (T, I, 1), dh0 (H, 1)); sets dW, dU, db
``rows`` (batch-first rows):  Wx (I, H), Wh (H, H), B (H,)
    forward(X (batch, T, I), h0 (batch, H)) -> hs (batch, T, H)
    backward(dhs (batch, T, H), dh_last (batch, H)) -> (dX, dh0); sets dWx, dWh, dB

Both conventions are single-layer, unidirectional tanh RNNs with ONE bias; every other
configuration is declined (NotImplementedError: reported as skipped). The single bias is
compared with torch's two by splitting: the adapter gives the learner b = b_ih + b_hh, and
reports the learner's db as the gradient of each (they are equal: a = ... + b_ih + b_hh).
The column convention handles one sample at a time, so the adapter loops over the batch
(re-running forward before each backward, since a learner caches only its last call) and
sums the weight gradients.
"""

from __future__ import annotations

import numpy as np

CONVENTIONS = ("column", "rows")


class _Adapter:
    Learner = None
    convention = ""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, bidirectional=False):
        if num_layers != 1 or bidirectional or nonlinearity != "tanh":
            raise NotImplementedError(
                f"the {self.convention} convention is a single-layer, unidirectional tanh RNN"
            )
        self.I, self.H, self.bias, self.batch_first = input_size, hidden_size, bias, batch_first
        self.learner = self.Learner(input_size, hidden_size)
        self.params = self._from_learner()
        if bias:
            self.params["bias_hh_l0"] = np.zeros_like(self.params["bias_ih_l0"])
        else:
            self.params.pop("bias_ih_l0")
        self.grads = {}

    def _bias(self, dtype):
        if self.bias:
            return self.params["bias_ih_l0"] + self.params["bias_hh_l0"]  # b = b_ih + b_hh
        return np.zeros(self.H, dtype=dtype)

    def forward(self, x, h0=None):
        xt = x.swapaxes(0, 1) if self.batch_first else x  # (T, B, I)
        T, B, _ = xt.shape
        h0 = np.zeros((1, B, self.H), dtype=x.dtype) if h0 is None else h0
        self._to_learner(x.dtype)
        self._saved = (xt, h0)
        hs = self._run_forward(xt, h0[0])  # (T, B, H)
        out = hs.swapaxes(0, 1) if self.batch_first else hs
        return np.ascontiguousarray(out), hs[-1][None].copy()

    def backward(self, d_output, d_h_n=None):
        xt, h0 = self._saved
        dy = d_output.swapaxes(0, 1) if self.batch_first else d_output
        d_last = np.zeros_like(h0[0]) if d_h_n is None else d_h_n[0]
        dx, dh0, grads = self._run_backward(xt, h0[0], dy, d_last)
        self.grads = {"weight_ih_l0": grads[0], "weight_hh_l0": grads[1]}
        if self.bias:
            self.grads["bias_ih_l0"], self.grads["bias_hh_l0"] = grads[2], grads[2].copy()
        dx = dx.swapaxes(0, 1) if self.batch_first else dx
        return np.ascontiguousarray(dx), dh0[None]


class _ColumnAdapter(_Adapter):
    convention = "column"

    def _from_learner(self):
        L = self.learner
        return {"weight_ih_l0": np.array(L.W), "weight_hh_l0": np.array(L.U), "bias_ih_l0": np.array(L.b)[:, 0]}

    def _to_learner(self, dtype):
        L = self.learner
        L.W, L.U = self.params["weight_ih_l0"].copy(), self.params["weight_hh_l0"].copy()
        L.b = self._bias(dtype)[:, None].copy()

    def _run_forward(self, xt, h0):
        cols = [self.learner.forward(xt[:, b, :, None], h0[b][:, None]) for b in range(xt.shape[1])]
        return np.stack([c[:, :, 0] for c in cols], axis=1)

    def _run_backward(self, xt, h0, dy, d_last):
        L = self.learner
        dx, dh0 = np.zeros_like(xt), np.zeros_like(h0)
        grads = None
        for b in range(xt.shape[1]):
            L.forward(xt[:, b, :, None], h0[b][:, None])
            dxs, dh0_b = L.backward(dy[:, b, :, None], d_last[b][:, None])
            dx[:, b], dh0[b] = dxs[:, :, 0], dh0_b[:, 0]
            g = (L.dW, L.dU, L.db[:, 0])
            grads = g if grads is None else tuple(s + t for s, t in zip(grads, g))
        return dx, dh0, grads


class _RowsAdapter(_Adapter):
    convention = "rows"

    def _from_learner(self):
        L = self.learner
        return {"weight_ih_l0": np.array(L.Wx).T.copy(), "weight_hh_l0": np.array(L.Wh).T.copy(),
                "bias_ih_l0": np.array(L.B)}

    def _to_learner(self, dtype):
        L = self.learner
        L.Wx, L.Wh = self.params["weight_ih_l0"].T.copy(), self.params["weight_hh_l0"].T.copy()
        L.B = self._bias(dtype).copy()

    def _run_forward(self, xt, h0):
        return self.learner.forward(xt.swapaxes(0, 1), h0).swapaxes(0, 1)

    def _run_backward(self, xt, h0, dy, d_last):
        L = self.learner
        L.forward(xt.swapaxes(0, 1), h0)
        dX, dh0 = L.backward(dy.swapaxes(0, 1), d_last)
        return dX.swapaxes(0, 1), dh0, (L.dWx.T, L.dWh.T, L.dB)


def adapt(learner_cls, convention: str):
    """Wrap ``learner_cls`` (written in ``convention``) into a class under the contract."""
    bases = {"column": _ColumnAdapter, "rows": _RowsAdapter}
    if convention not in bases:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    return type(
        f"{learner_cls.__name__}",
        (bases[convention],),
        {"Learner": learner_cls, "__module__": learner_cls.__module__,
         "__qualname__": f"{learner_cls.__qualname__}[{convention} adapter]"},
    )


def rows_to_torch(Wx, Wh, B) -> dict:
    """Seed 003's (Wx (I, H), Wh (H, H), B (H,)) as torch.nn.RNN parameters: transposed
    weights, and the single bias split as b_ih = B, b_hh = 0 (b_ih + b_hh = B)."""
    Wx, Wh, B = (np.asarray(a, dtype=np.float64) for a in (Wx, Wh, B))
    return {"weight_ih_l0": Wx.T.copy(), "weight_hh_l0": Wh.T.copy(), "bias_ih_l0": B.copy(),
            "bias_hh_l0": np.zeros_like(B)}
