"""torch modules as the oracle, always in float64, for every family alike.

The reference gets exactly the implementation's numbers: the same weights (loaded by name,
no transposes, through ``load_weights`` only), the same inputs and states, and the same
upstream gradients. Inputs given in float32 are widened to float64 *exactly* (every float32
is a float64), so a float32 implementation is measured against the exact-arithmetic answer
for its own rounded inputs, not against different data.

Gradients are one vector-Jacobian product through autograd:
    (d inputs, d params) = J^T (upstream)
for the map (inputs, params) -> outputs, with inputs and outputs nested exactly as the
module takes and returns them (``RNN(x, h0) -> (output, h_n)``, ``LSTM(x, (h0, c0)) ->
(output, (h_n, c_n))``, ``RNNCell(x, h) -> h'``), so ``vjp`` serves every family.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

DTYPE = torch.float64


def as_tensor(a) -> torch.Tensor:
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
            p.copy_(as_tensor(value))


def build(module_name: str, params=None, **kwargs) -> torch.nn.Module:
    """``torch.nn.<module_name>(**kwargs)`` in float64, loaded with ``params`` if given."""
    module = getattr(torch.nn, module_name)(**kwargs, dtype=DTYPE)
    if params is not None:
        load_weights(module, params)
    return module


def param_shapes(module_name: str, **kwargs) -> dict:
    """Names and shapes of ``torch.nn.<module_name>(**kwargs).named_parameters()``, in order."""
    return dict(_meta_shapes(module_name, tuple(sorted(kwargs.items()))))


@functools.lru_cache(maxsize=None)
def _meta_shapes(module_name: str, kwargs: tuple) -> tuple:
    # batch_first does not shape parameters; the meta device allocates nothing.
    with torch.device("meta"):
        module = getattr(torch.nn, module_name)(**dict(kwargs))
    return tuple((n, tuple(p.shape)) for n, p in module.named_parameters())


def _map(fn, structure):
    if isinstance(structure, (tuple, list)):
        return tuple(_map(fn, s) for s in structure)
    return fn(structure)


def _leaves(structure) -> list:
    if isinstance(structure, (tuple, list)):
        return [leaf for s in structure for leaf in _leaves(s)]
    return [structure]


def vjp(module: torch.nn.Module, args, upstream, call=None):
    """Forward and VJP of ``module`` at ``args`` (numpy arrays, nested as the module takes
    them; no None) with ``upstream`` gradients (nested as it returns).

    ``call(module, *tensor_args)`` runs the module (default: ``module(*args)``).
    Returns ``(outputs, input_grads, param_grads)``: the first two as flat lists of numpy
    float64 arrays in structure order, the last a dict in torch's parameter order. An input
    that does not influence the result gets a zero gradient.
    """
    targs = _map(lambda a: as_tensor(a).requires_grad_(True), tuple(args))
    outputs = (call or (lambda m, *a: m(*a)))(module, *targs)
    outs = _leaves(outputs)
    names = [n for n, _ in module.named_parameters()]
    inputs = _leaves(targs) + list(module.parameters())
    grads = torch.autograd.grad(
        outs, inputs, grad_outputs=[as_tensor(u) for u in _leaves(upstream)], allow_unused=True
    )
    grads = [np.zeros(tuple(i.shape)) if g is None else g.detach().numpy().copy() for g, i in zip(grads, inputs)]
    n_in = len(_leaves(targs))
    return [o.detach().numpy() for o in outs], grads[:n_in], dict(zip(names, grads[n_in:]))


# ---------------------------------------------------------------------------------------
# scratch's extensions (variable lengths, truncated BPTT), for every sequence family.
# ---------------------------------------------------------------------------------------
def extension_call(lengths=None, truncate=None, batch_first=False):
    """How ``torch.nn.RNN`` / ``LSTM`` / ``GRU`` is run for scratch's extensions (``vjp``'s
    ``call``); None when a case has neither.

    ``lengths`` (B,): torch's own variable-length path, pack_padded_sequence(...,
    enforce_sorted=False) -> module -> pad_packed_sequence(total_length=T), batch order kept
    (the LSTM's state is the tuple (h0, c0), which torch sorts and unsorts itself).
    ``truncate=k``: the module runs k steps at a time and every state is detached between
    chunks: h, and for the LSTM the tuple (h, c), both (unidirectional only; seed 000's
    update sums only the last tau steps).
    """
    if lengths is None and truncate is None:
        return None

    def call(module, x, hx):
        if lengths is not None:
            from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

            T = x.shape[1 if batch_first else 0]
            packed = pack_padded_sequence(x, torch.as_tensor(np.asarray(lengths), dtype=torch.int64),
                                          batch_first=batch_first, enforce_sorted=False)
            out_packed, finals = module(packed, hx)
            return pad_packed_sequence(out_packed, batch_first=batch_first, total_length=T)[0], finals
        if module.bidirectional:
            raise ValueError(f"truncated BPTT reference is for unidirectional {type(module).__name__}s")
        axis = 1 if batch_first else 0
        chunks, state = [], hx
        for start in range(0, x.shape[axis], truncate):
            if start:  # the gradient stops here: truncated BPTT
                state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
            out_c, state = module(x.narrow(axis, start, min(truncate, x.shape[axis] - start)), state)
            chunks.append(out_c)
        return torch.cat(chunks, dim=axis), state

    return call


def per_sequence(one, x, init: tuple, d_output, d_final: tuple, lengths) -> dict:
    """The running error bounds of a batch with variable ``lengths`` (B,), from ``one(x,
    init, d_output, d_final) -> {tensor: M}`` run on each sequence alone (its valid steps, a
    batch of one: exactly the computation torch's packed path does for it); parameter
    gradients are sums over the batch, so their bounds add. Any family's bounds.
    TIME-MAJOR: x (T, B, I), d_output (T, B, ...); ``init`` / ``d_final`` tuples of
    (L*D, B, ...) arrays (an init may be None: zeros)."""
    T, B = np.shape(x)[:2]
    if len(lengths) != B:
        raise ValueError(f"lengths must have one entry per batch element ({B}), got {len(lengths)}")
    total: dict = {}
    for b, n in enumerate(lengths):
        n = int(n)
        if not 1 <= n <= T:
            raise ValueError(f"lengths must lie in [1, {T}], got {n} at batch {b}")
        rows = slice(b, b + 1)
        m = one(np.asarray(x)[:n, rows], tuple(None if v is None else np.asarray(v)[:, rows] for v in init),
                np.asarray(d_output)[:n, rows], tuple(np.asarray(g)[:, rows] for g in d_final))
        for name, v in m.items():
            if name.startswith("grad "):
                total[name] = total.get(name, 0) + v
            elif name in ("output", "dx"):  # (n, 1, F): time steps past n stay 0
                total.setdefault(name, np.zeros((T, B) + v.shape[2:]))[:n, b] = v[:, 0]
            else:  # a state or its gradient, (L*D, 1, F)
                total.setdefault(name, np.zeros((v.shape[0], B) + v.shape[2:]))[:, b] = v[:, 0]
    return total
