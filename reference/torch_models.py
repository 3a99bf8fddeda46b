"""torch counterparts of scratch.model.SequenceModel, for loss/gradient and training parity.

``TorchSequenceModel`` is ``torch.nn.RNN`` (+ ``torch.nn.Linear`` head) + a torch loss, with
parameter names ``rnn.*`` / ``head.*`` equal to scratch's. For ``nonlinearity="identity"``
(seed 002's linear recurrence) torch has no module, so ``LoopRNN`` writes the recurrence as
explicit torch ops with the same parameter names, differentiated by autograd; the
finite-difference oracle (``reference.finite_diff``) cross-checks it in the suite.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

DTYPE = torch.float64


class LoopRNN(nn.Module):
    """Unidirectional multi-layer Elman RNN as a loop of torch ops; ``nonlinearity`` may be
    "tanh", "relu" or "identity". Same parameter names and shapes as torch.nn.RNN."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False):
        super().__init__()
        self.phi = {"tanh": torch.tanh, "relu": torch.relu, "identity": lambda a: a}[nonlinearity]
        self.num_layers, self.bias, self.batch_first, self.hidden_size = num_layers, bias, batch_first, hidden_size
        for k in range(num_layers):
            n_in = input_size if k == 0 else hidden_size
            setattr(self, f"weight_ih_l{k}", nn.Parameter(torch.zeros(hidden_size, n_in, dtype=DTYPE)))
            setattr(self, f"weight_hh_l{k}", nn.Parameter(torch.zeros(hidden_size, hidden_size, dtype=DTYPE)))
            if bias:
                setattr(self, f"bias_ih_l{k}", nn.Parameter(torch.zeros(hidden_size, dtype=DTYPE)))
                setattr(self, f"bias_hh_l{k}", nn.Parameter(torch.zeros(hidden_size, dtype=DTYPE)))

    def forward(self, x, h0=None):
        xs = x.transpose(0, 1) if self.batch_first else x  # (T, B, I)
        T, B = xs.shape[:2]
        h_n = []
        for k in range(self.num_layers):
            w_ih, w_hh = getattr(self, f"weight_ih_l{k}"), getattr(self, f"weight_hh_l{k}")
            h = torch.zeros(B, self.hidden_size, dtype=x.dtype) if h0 is None else h0[k]
            outs = []
            for t in range(T):
                a = xs[t] @ w_ih.T + h @ w_hh.T
                if self.bias:
                    a = a + getattr(self, f"bias_ih_l{k}") + getattr(self, f"bias_hh_l{k}")
                h = self.phi(a)
                outs.append(h)
            xs = torch.stack(outs)
            h_n.append(h)
        out = xs.transpose(0, 1) if self.batch_first else xs
        return out, torch.stack(h_n)


def torch_loss(name: str, y, target):
    if name == "mse":
        return nn.functional.mse_loss(y, target)
    if name == "half_sse":
        return 0.5 * ((y - target) ** 2).sum()
    if name == "sse":
        return ((y - target) ** 2).sum()
    if name == "cross_entropy":
        return nn.functional.cross_entropy(y.reshape(-1, y.shape[-1]), target.reshape(-1))
    raise ValueError(f"unknown loss {name!r}")


class TorchSequenceModel(nn.Module):
    def __init__(self, input_size, hidden_size, output_size=None, *, nonlinearity="tanh", num_layers=1, bias=True,
                 bidirectional=False, batch_first=True, head="last", loss="mse"):
        super().__init__()
        kw = dict(num_layers=num_layers, nonlinearity=nonlinearity, bias=bias, batch_first=batch_first)
        if nonlinearity == "identity":
            if bidirectional:
                raise ValueError("the identity recurrence reference is unidirectional")
            self.rnn = LoopRNN(input_size, hidden_size, **kw)
        else:
            self.rnn = nn.RNN(input_size, hidden_size, bidirectional=bidirectional, dtype=DTYPE, **kw)
        D = 2 if bidirectional else 1
        self.head_kind, self.loss_name, self.batch_first = head, loss, batch_first
        if head is not None:
            self.head = nn.Linear(D * hidden_size, output_size, dtype=DTYPE)

    def predict(self, x):
        out, _ = self.rnn(x)
        last = out[:, -1] if self.batch_first else out[-1]
        if self.head_kind is None:
            return last
        return self.head(last if self.head_kind == "last" else out)

    def forward(self, x, target):
        return torch_loss(self.loss_name, self.predict(x), target)


def as_target(target):
    """numpy target -> tensor: class indices stay int64, values become float64."""
    arr = np.asarray(target)
    return torch.as_tensor(arr, dtype=torch.int64 if arr.dtype.kind in "iu" else DTYPE)


def model_loss_and_grads(model_kwargs: dict, params: dict, x, target):
    """Loss and dL/dparams of the torch model loaded with ``params`` (names 1:1)."""
    from .torch_ref import load_weights

    model = TorchSequenceModel(**model_kwargs)
    load_weights(model, params)
    loss = model(torch.as_tensor(np.asarray(x, dtype=np.float64)), as_target(target))
    names = [n for n, _ in model.named_parameters()]
    grads = torch.autograd.grad(loss, list(model.parameters()))
    return loss.item(), {n: g.numpy().copy() for n, g in zip(names, grads)}
