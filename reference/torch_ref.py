"""torch.nn.RNN / torch.nn.RNNCell as the oracle, always in float64.

The reference gets exactly the implementation's numbers: the same weights (loaded by name,
no transposes, through ``load_weights`` only), the same input and initial state, and the
same upstream gradients. Inputs given in float32 are widened to float64 *exactly* (every
float32 is a float64), so a float32 implementation is measured against the exact-arithmetic
answer for its own rounded inputs, not against different data.

Gradients are one vector-Jacobian product through autograd:
    (dx, dh0, dparams) = J^T (d_output, d_h_n)
for the map (x, h0, params) -> (output, h_n).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

DTYPE = torch.float64


@dataclass
class RNNResult:
    output: np.ndarray
    h_n: np.ndarray
    dx: np.ndarray
    dh0: np.ndarray
    grads: dict


@dataclass
class CellResult:
    h_next: np.ndarray
    dx: np.ndarray
    dh: np.ndarray
    grads: dict


def _t(a) -> torch.Tensor:
    """numpy -> float64 tensor, copied (never aliases the caller's array)."""
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=DTYPE)


def load_weights(module: torch.nn.Module, params: dict) -> None:
    """Copy ``params`` into ``module`` by parameter name: names map 1:1, no transposes.

    Raises ValueError naming every missing or unexpected key and any shape mismatch, so a
    wrong name can never leave torch's random initial weight in place silently.
    """
    own = dict(module.named_parameters())
    missing, extra = sorted(set(own) - set(params)), sorted(set(params) - set(own))
    if missing or extra:
        raise ValueError(f"load_weights: missing {missing}, unexpected {extra}")
    with torch.no_grad():
        for name, p in own.items():
            value = np.asarray(params[name])
            if tuple(value.shape) != tuple(p.shape):
                raise ValueError(
                    f"load_weights: {name} must have shape {tuple(p.shape)}, got {value.shape}"
                )
            p.copy_(_t(value))


def build_torch_rnn(params=None, **rnn_kwargs) -> torch.nn.RNN:
    """``torch.nn.RNN(**rnn_kwargs)`` in float64, loaded with ``params`` if given."""
    module = torch.nn.RNN(**rnn_kwargs, dtype=DTYPE)
    if params is not None:
        load_weights(module, params)
    return module


def build_torch_cell(params=None, **cell_kwargs) -> torch.nn.RNNCell:
    module = torch.nn.RNNCell(**cell_kwargs, dtype=DTYPE)
    if params is not None:
        load_weights(module, params)
    return module


def torch_param_shapes(**rnn_kwargs) -> dict:
    """Names and shapes of ``torch.nn.RNN(**rnn_kwargs).named_parameters()``, in order."""
    return dict(_meta_shapes(torch.nn.RNN, tuple(sorted(rnn_kwargs.items()))))


def torch_cell_param_shapes(**cell_kwargs) -> dict:
    """Names and shapes of ``torch.nn.RNNCell(**cell_kwargs).named_parameters()``."""
    return dict(_meta_shapes(torch.nn.RNNCell, tuple(sorted(cell_kwargs.items()))))


@functools.lru_cache(maxsize=None)
def _meta_shapes(cls, kwargs: tuple) -> tuple:
    # batch_first does not shape parameters; the meta device allocates nothing.
    with torch.device("meta"):
        module = cls(**dict(kwargs))
    return tuple((n, tuple(p.shape)) for n, p in module.named_parameters())


def torch_rnn_vjp(rnn_kwargs: dict, params: dict, x, h0, d_output, d_h_n, lengths=None, truncate=None) -> RNNResult:
    """Forward and VJP of ``torch.nn.RNN(**rnn_kwargs)`` with the given weights.

    x is shaped as the module expects (batch-first or not, batched or not); h0 is
    (L*D, B, H) or None for zeros -- the zeros then still get a gradient, dh0, so the
    implementation's dh0 for h0=None can be checked too.

    ``lengths`` (B,): torch's own variable-length path, pack_padded_sequence(...,
    enforce_sorted=False) -> RNN -> pad_packed_sequence(total_length=T), batch order kept.
    ``truncate=k``: truncated BPTT the torch way: the module runs k steps at a time and
    the hidden state is detached between chunks (unidirectional only).
    """
    module = build_torch_rnn(params, **rnn_kwargs)
    xt = _t(x).requires_grad_(True)
    L = rnn_kwargs.get("num_layers", 1) * (2 if rnn_kwargs.get("bidirectional") else 1)
    batched = xt.dim() == 3
    if h0 is None:
        B = xt.shape[0 if rnn_kwargs.get("batch_first") else 1] if batched else None
        shape = (L, B, rnn_kwargs["hidden_size"]) if batched else (L, rnn_kwargs["hidden_size"])
        h0t = torch.zeros(shape, dtype=DTYPE, requires_grad=True)
    else:
        h0t = _t(h0).requires_grad_(True)
    bf = rnn_kwargs.get("batch_first", False)
    if lengths is not None:
        from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

        T = xt.shape[1 if bf else 0]
        packed = pack_padded_sequence(xt, torch.as_tensor(np.asarray(lengths), dtype=torch.int64), batch_first=bf, enforce_sorted=False)
        out_packed, h_n = module(packed, h0t)
        output, _ = pad_packed_sequence(out_packed, batch_first=bf, total_length=T)
    elif truncate is not None:
        if rnn_kwargs.get("bidirectional"):
            raise ValueError("truncated BPTT reference is for unidirectional RNNs")
        axis = 1 if bf else 0
        chunks, h = [], h0t
        for start in range(0, xt.shape[axis], truncate):
            if start:
                h = h.detach()  # gradient stops here: truncated BPTT
            out_c, h = module(xt.narrow(axis, start, min(truncate, xt.shape[axis] - start)), h)
            chunks.append(out_c)
        output, h_n = torch.cat(chunks, dim=axis), h
    else:
        output, h_n = module(xt, h0t)
    names = [n for n, _ in module.named_parameters()]
    inputs = [xt, h0t, *module.parameters()]
    grads = torch.autograd.grad(
        (output, h_n), inputs, grad_outputs=(_t(d_output), _t(d_h_n)), allow_unused=True
    )
    dx, dh0, *dparams = [_np_or_zeros(g, i) for g, i in zip(grads, inputs)]
    return RNNResult(
        output=output.detach().numpy(),
        h_n=h_n.detach().numpy(),
        dx=dx,
        dh0=dh0,
        grads=dict(zip(names, dparams)),
    )


def torch_cell_vjp(cell_kwargs: dict, params: dict, x, h, d_h_next) -> CellResult:
    module = build_torch_cell(params, **cell_kwargs)
    xt = _t(x).requires_grad_(True)
    if h is None:
        shape = (*xt.shape[:-1], cell_kwargs["hidden_size"])
        ht = torch.zeros(shape, dtype=DTYPE, requires_grad=True)
    else:
        ht = _t(h).requires_grad_(True)
    h_next = module(xt, ht)
    names = [n for n, _ in module.named_parameters()]
    inputs = [xt, ht, *module.parameters()]
    grads = torch.autograd.grad(h_next, inputs, grad_outputs=_t(d_h_next), allow_unused=True)
    dx, dh, *dparams = [_np_or_zeros(g, i) for g, i in zip(grads, inputs)]
    return CellResult(h_next=h_next.detach().numpy(), dx=dx, dh=dh, grads=dict(zip(names, dparams)))


def _np_or_zeros(grad, like) -> np.ndarray:
    # allow_unused: a tensor that does not influence the result has gradient zero.
    return np.zeros(tuple(like.shape)) if grad is None else grad.detach().numpy().copy()
