"""Output layer, losses and a whole sequence model, with hand-written gradients.

    y = h V^T + c                      Linear head, V (O, H), c (O,)  (torch.nn.Linear naming)
    dh = dy V,  dV = dy^T h,  dc = sum_rows dy

applied to the last layer's output at every step (``head="every"``, seed 004) or at the last
step only (``head="last"``, seed 000's ``self.l2(h[:, -1])``), or no head at all (``None``:
y is the last hidden state itself, seed 002's counting RNN with W_out fixed to 1).

Losses and their gradients dL/dy (N = number of elements, or of rows for cross-entropy):

    "mse"            L = mean (y - t)^2                     dy = 2 (y - t) / N   (torch MSELoss)
    "half_sse"       L = 1/2 sum ||y - t||^2                dy = y - t           (seed 000)
    "sse"            L = sum (y - t)^2                      dy = 2 (y - t)       (seed 002)
    "cross_entropy"  L = mean_rows -log softmax(y)[t]       dy = (softmax(y) - onehot(t)) / N
                     y logits (..., C), t class indices (...)   (torch CrossEntropyLoss, seed 003)
"""

from __future__ import annotations

import numpy as np

from .modules import RNN
from .linalg import matmul

LOSSES = ("mse", "half_sse", "sse", "cross_entropy")
HEADS = ("last", "every", None)


def linear_forward(h, weight, bias):
    """h (..., H) -> y (..., O) = h V^T + c."""
    y = matmul(h, weight.T)
    return y + bias if bias is not None else y


def linear_backward(dy, h, weight):
    """dy (..., O), h (..., H) -> (dh (..., H), dV (O, H), dc (O,))."""
    dy2 = dy.reshape(-1, dy.shape[-1])
    return matmul(dy, weight), dy2.T @ h.reshape(-1, h.shape[-1]), dy2.sum(axis=0)


def _log_softmax(y):
    z = y - y.max(axis=-1, keepdims=True)  # shift: exp never overflows
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def loss_forward(name: str, y, target) -> float:
    if name == "mse":
        return float(np.mean((y - target) ** 2))
    if name == "half_sse":
        return float(0.5 * np.sum((y - target) ** 2))
    if name == "sse":
        return float(np.sum((y - target) ** 2))
    if name == "cross_entropy":
        logp = _log_softmax(y).reshape(-1, y.shape[-1])
        return float(-np.mean(logp[np.arange(logp.shape[0]), target.reshape(-1)]))
    raise ValueError(f"loss must be one of {LOSSES}, got {name!r}")


def loss_backward(name: str, y, target):
    """dL/dy, same shape and dtype as y."""
    if name == "mse":
        return 2 * (y - target) / y.size
    if name == "half_sse":
        return y - target
    if name == "sse":
        return 2 * (y - target)
    if name == "cross_entropy":
        p = np.exp(_log_softmax(y))
        flat = p.reshape(-1, y.shape[-1])
        flat[np.arange(flat.shape[0]), target.reshape(-1)] -= 1
        return p / flat.shape[0]
    raise ValueError(f"loss must be one of {LOSSES}, got {name!r}")


class SequenceModel:
    """RNN (+ optional Linear head) + loss, like seeds 000/002/003/004 build it.

    ``params`` / ``grads`` keys: ``rnn.<torch RNN name>``, ``head.weight``, ``head.bias``,
    the names of the same torch model (``reference.torch_models.TorchSequenceModel``).
    ``forward(x, target) -> loss``; ``backward(truncate=None) -> grads``.
    """

    def __init__(self, input_size, hidden_size, output_size=None, *, nonlinearity="tanh", num_layers=1,
                 bias=True, bidirectional=False, batch_first=True, head="last", loss="mse",
                 dtype=np.float64, seed=None):
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {head!r}")
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        if head is not None and output_size is None:
            raise ValueError("output_size is required with a head")
        self.rnn = RNN(input_size, hidden_size, num_layers, nonlinearity, bias, batch_first, bidirectional,
                       dtype=dtype, seed=seed)
        self.head, self.loss = head, loss
        self.params = {f"rnn.{k}": v for k, v in self.rnn.params.items()}
        if head is not None:
            rng = np.random.default_rng(None if seed is None else seed + 1)
            k = 1 / np.sqrt(self.rnn.spec.num_directions * hidden_size)  # torch.nn.Linear's init
            fan = self.rnn.spec.num_directions * hidden_size
            self.params["head.weight"] = rng.uniform(-k, k, (output_size, fan)).astype(dtype)
            self.params["head.bias"] = rng.uniform(-k, k, output_size).astype(dtype)
        self.grads: dict = {}
        self._cache = None

    def _time_axis(self):
        return 1 if self.rnn.batch_first else 0

    def predict(self, x, h0=None):
        """y: (B, O) for head "last", (B, T, O) or (T, B, O) for "every", h_T for None."""
        self.rnn.params = {k[4:]: v for k, v in self.params.items() if k.startswith("rnn.")}
        out, h_n = self.rnn.forward(x, h0)
        return self.head_forward(out, h_n)

    def head_forward(self, out, h_n):
        """From the RNN's output to the prediction y (cached for backward)."""
        last = np.take(out, -1, axis=self._time_axis())
        if self.head is None:
            y, h_in = last, None
        else:
            h_in = last if self.head == "last" else out
            y = linear_forward(h_in, self.params["head.weight"], self.params["head.bias"])
        self._cache = (out, h_n, h_in, y)
        return y

    def forward(self, x, target, h0=None) -> float:
        y = self.predict(x, h0)
        self._target = target
        return loss_forward(self.loss, y, target)

    def head_backward(self) -> tuple:
        """From the loss back to the RNN's output: (d_out shaped like the output, the head's
        gradients {"head.weight", "head.bias"} or {} without a head)."""
        out, h_n, h_in, y = self._cache
        dy = loss_backward(self.loss, y, self._target)
        grads = {}
        d_out = np.zeros_like(out)
        idx = [slice(None)] * 3
        idx[self._time_axis()] = -1
        if self.head is None:
            d_out[tuple(idx)] = dy
        else:
            dh, grads["head.weight"], grads["head.bias"] = linear_backward(dy, h_in, self.params["head.weight"])
            if self.head == "last":
                d_out[tuple(idx)] = dh
            else:
                d_out = dh
        return d_out, grads

    def backward(self, *, truncate=None) -> dict:
        if self._cache is None:
            raise ValueError("backward() called before forward()")
        d_out, grads = self.head_backward()
        self.rnn.backward(d_out, None, truncate=truncate)
        grads.update({f"rnn.{k}": v for k, v in self.rnn.grads.items()})
        self.grads = {k: grads[k] for k in self.params}
        return self.grads
