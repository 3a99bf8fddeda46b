"""Elman RNN forward pass and hand-written backprop-through-time, as pure NumPy functions.

Notation (torch's, so the parameter names line up 1:1 with ``torch.nn.RNN``)::

    a_t = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh        pre-activation   (B, H)
    h_t = phi(a_t)                                          hidden state     (B, H)

with x_t of shape (B, I), W_ih (H, I), W_hh (H, H), b_ih and b_hh (H,). A layer runs this
recurrence once per direction; the reverse direction reads the sequence from t = T-1 down
to 0 and its outputs are put back in original time order. Layer k > 0 reads the
concatenated outputs of layer k-1, so its W_ih is (H, D*H) with D = 2 if bidirectional.

Backward (L is any scalar loss, g_t = dL/dh_t arriving from the output at step t)::

    dh_t  = g_t + dh_{t+1}-carried                 total gradient reaching h_t
    da_t  = dh_t * phi'(a_t)                       phi' read from h_t (see ``_ACTIVATIONS``)
    carried back to h_{t-1}:  da_t W_hh
    dx_t  = da_t W_ih
    dW_ih = sum_t da_t^T x_t      dW_hh = sum_t da_t^T h_{t-1}      db_ih = db_hh = sum_t,b da_t

Every function computes in the dtype of its inputs: nothing here up- or down-casts.
All arrays are time-major (T, B, ...); batch_first and unbatched input are handled by the
class shell in ``scratch.rnn``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = [
    "RNNSpec",
    "param_shapes",
    "cell_forward",
    "cell_backward",
    "forward",
    "backward",
]


# ---------------------------------------------------------------------------------------
# Activations. Both derivatives are written in terms of the OUTPUT h = phi(a), which is
# exactly what torch's autograd uses (tanh_backward and threshold_backward read the
# result), so only hidden states need caching:
#   tanh:  phi'(a) = 1 - tanh(a)^2 = 1 - h^2        (NOT 1 - tanh(h)^2: h is already tanh'd)
#   relu:  phi'(a) = [a > 0] = [h > 0]               so relu'(0) = 0, torch's convention
# ---------------------------------------------------------------------------------------
def _relu(a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.maximum(a, 0, out=out)


def _tanh_grad(h: np.ndarray) -> np.ndarray:
    return 1 - h * h


def _relu_grad(h: np.ndarray) -> np.ndarray:
    return (h > 0).astype(h.dtype)


def _identity(a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.positive(a, out=out)


def _identity_grad(h: np.ndarray) -> np.ndarray:
    return np.ones_like(h)


# "identity" (a linear recurrence, seed 002's s_k = x_k w_x + s_{k-1} w_rec) is scratch's
# own extension: torch.nn.RNN has no such nonlinearity.
_ACTIVATIONS: dict[str, tuple[Callable, Callable]] = {
    "tanh": (np.tanh, _tanh_grad),
    "relu": (_relu, _relu_grad),
    "identity": (_identity, _identity_grad),
}
NONLINEARITIES = tuple(_ACTIVATIONS)


@dataclass(frozen=True)
class RNNSpec:
    """The structural arguments of ``torch.nn.RNN`` that shape the computation."""

    input_size: int
    hidden_size: int
    num_layers: int = 1
    nonlinearity: str = "tanh"
    bias: bool = True
    bidirectional: bool = False

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def directions(self) -> tuple[str, ...]:
        return ("", "_reverse") if self.bidirectional else ("",)


def param_shapes(spec: RNNSpec) -> dict[str, tuple[int, ...]]:
    """Names and shapes of ``torch.nn.RNN(...).named_parameters()``, in torch's order."""
    H, D = spec.hidden_size, spec.num_directions
    shapes: dict[str, tuple[int, ...]] = {}
    for layer in range(spec.num_layers):
        in_size = spec.input_size if layer == 0 else D * H
        for sfx in spec.directions():
            shapes[f"weight_ih_l{layer}{sfx}"] = (H, in_size)
            shapes[f"weight_hh_l{layer}{sfx}"] = (H, H)
            if spec.bias:
                shapes[f"bias_ih_l{layer}{sfx}"] = (H,)
                shapes[f"bias_hh_l{layer}{sfx}"] = (H,)
    return shapes


# ---------------------------------------------------------------------------------------
# One step: the RNNCell.
# ---------------------------------------------------------------------------------------
def cell_forward(x, h, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """h_next = phi(x W_ih^T + b_ih + h W_hh^T + b_hh).

    x (B, I), h (B, H), w_ih (H, I), w_hh (H, H), biases (H,) or None -> h_next (B, H).
    """
    phi, _ = _ACTIVATIONS[nonlinearity]
    a = x @ w_ih.T + h @ w_hh.T
    if b_ih is not None:
        a += b_ih
        a += b_hh
    return phi(a)


def cell_backward(d_h_next, x, h, h_next, w_ih, w_hh, nonlinearity="tanh", bias=True):
    """Gradients of one cell step given dL/dh_next (B, H).

    da = d_h_next * phi'(a);  dx = da W_ih (B, I);  dh = da W_hh (B, H);
    dW_ih = da^T x (H, I);    dW_hh = da^T h (H, H);  db_ih = db_hh = sum_b da (H,).
    Note which weight goes with which: x entered through W_ih, so dx needs W_ih.
    Returns (dx, dh, grads) with grads keyed like ``torch.nn.RNNCell``.
    """
    _, dphi = _ACTIVATIONS[nonlinearity]
    da = d_h_next * dphi(h_next)
    grads = {"weight_ih": da.T @ x, "weight_hh": da.T @ h}
    if bias:
        db = da.sum(axis=0)
        grads["bias_ih"] = db
        grads["bias_hh"] = db.copy()
    return da @ w_ih, da @ w_hh, grads


# ---------------------------------------------------------------------------------------
# One direction of one layer over a whole sequence.
# ---------------------------------------------------------------------------------------
def _processing_order(T: int, lengths, reverse: bool):
    """How a direction reads the sequence, as (order, mask).

    Without ``lengths``: order is None (plain slicing, x or x[::-1]) and mask None.
    With ``lengths`` (B,): order[s, b] is the time step that step s of sequence b reads
    and mask[s, b] says whether it is a real one. Every sequence is a prefix of the
    batch's time axis, so both directions are "a masked prefix recurrence over a
    permuted sequence": the reverse direction of sequence b reads t = len_b - 1 down to
    0, so it starts at its own last valid step, as torch's packed sequences do.
    """
    if lengths is None:
        return None, None
    s = np.arange(T)[:, None]
    mask = s < lengths[None, :]  # (T, B)
    order = np.where(mask, lengths[None, :] - 1 - s, s) if reverse else np.broadcast_to(s, mask.shape)
    return order, mask


def _gather(a, order, reverse):
    """a (T, B, ...) in time order -> processing order."""
    if order is None:
        return a[::-1] if reverse else a
    return a[order, np.arange(a.shape[1])[None, :]]


def _direction_forward(x, h0, w_ih, w_hh, b_ih, b_hh, phi, reverse, order=None, mask=None, hs=None):
    """Run the recurrence over x (T, B, I) from h0 (B, H).

    Returns hs (T+1, B, H) in PROCESSING order: hs[0] = h0 and hs[s+1] the state after
    step s; for the reverse direction step s reads x[T-1-s]. Keeping h0 in the same
    buffer lets the backward pass read h_{s-1} as hs[s] without an extra copy; these
    hidden states are the whole BPTT cache of this direction. ``hs`` may be given: a
    (T+1, B, H) view to write into (``forward`` passes a view of the layer's buffer).
    With a ``mask`` (variable lengths), a padded step leaves the state unchanged:
    h_{s+1} = h_s, so hs[-1] is each sequence's state at its own last valid step.
    """
    T, B, _ = x.shape
    xs = _gather(x, order, reverse)
    # The input projection of all T steps is one matrix product: it does not depend on h.
    a_in = xs @ w_ih.T
    if b_ih is not None:
        a_in += b_ih
        a_in += b_hh
    if hs is None:
        hs = np.empty((T + 1, B, w_hh.shape[0]), dtype=x.dtype)
    hs[0] = h0
    # A contiguous copy of W_hh^T: OpenBLAS is ~10 % faster on it than on a transposed view
    # (measured: 89 vs 99 us for (64, 256) @ (256, 256) in float32), and it is used T times.
    w_hh_t = np.ascontiguousarray(w_hh.T)
    for s in range(T):
        a = a_in[s]
        a += hs[s] @ w_hh_t  # a_in is scratch space: each a_s is used once
        phi(a, out=hs[s + 1])
        if mask is not None:
            np.copyto(hs[s + 1], hs[s], where=~mask[s][:, None])
    return hs


def _direction_backward(dys, dh_last, x, hs, w_ih, w_hh, dphi, reverse, order=None, mask=None, truncate=None):
    """BPTT through one direction.

    dys (T, B, H): dL/d(output of this direction) in ORIGINAL time order;
    dh_last (B, H): dL/dh_n of this direction. Returns (dx (T, B, I) in original order,
    dh0 (B, H), dW_ih, dW_hh, db).
    Padded steps (mask False) have no output and pass the state through, so their da is 0
    and dh flows through them unchanged to the last valid step.
    ``truncate=k``: the state entering steps k, 2k, ... was detached, so nothing flows
    back across those boundaries (truncated BPTT; seed 000's update sums only the last
    tau steps).
    """
    T, B, H = dys.shape
    dys_p = _gather(dys, order, reverse)
    da = np.empty((T, B, H), dtype=dys.dtype)
    dh = dh_last.copy()  # never write into the caller's d_h_n
    for s in range(T - 1, -1, -1):
        if mask is None:
            dh += dys_p[s]  # h_s feeds both the output at s and step s+1: gradients add
            np.multiply(dh, dphi(hs[s + 1]), out=da[s])
            dh = da[s] @ w_hh  # carried back to h_{s-1}
        else:
            m = mask[s][:, None]
            dh += np.where(m, dys_p[s], 0)  # a padded output is a constant zero
            np.multiply(np.where(m, dh, 0), dphi(hs[s + 1]), out=da[s])
            dh = np.where(m, da[s] @ w_hh, dh)  # padded: h_{s+1} = h_s passes dh through
        if truncate is not None and s > 0 and s % truncate == 0:
            dh = np.zeros_like(dh)  # the state entering step s was detached (h0 never is)
    # Weight gradients: one product over all stacked (time, batch) rows instead of T.
    xs = _gather(x, order, reverse)
    da2 = da.reshape(T * B, H)
    dw_ih = da2.T @ xs.reshape(T * B, -1)
    dw_hh = da2.T @ hs[:-1].reshape(T * B, H)  # h_{s-1} pairs with da_s
    db = da2.sum(axis=0)
    dx_p = da @ w_ih
    if order is None:
        dx = dx_p[::-1] if reverse else dx_p
    else:  # scatter back to time order; padded positions get da = 0, so dx = 0
        dx = np.empty_like(dx_p)
        dx[order, np.arange(B)[None, :]] = dx_p
    return dx, dh, dw_ih, dw_hh, db


# ---------------------------------------------------------------------------------------
# The multi-layer, optionally bidirectional RNN.
# ---------------------------------------------------------------------------------------
@dataclass
class Cache:
    """What backward needs: per layer its input and per direction its hidden states."""

    spec: RNNSpec
    layer_inputs: list  # layer_inputs[k]: (T, B, I_k)
    hidden: list  # hidden[k][d]: (T+1, B, H) in processing order
    orders: list  # per direction: (order, mask) for variable lengths, else (None, None)


def forward(spec: RNNSpec, params: dict, x: np.ndarray, h0: np.ndarray, lengths=None):
    """x (T, B, I), h0 (L*D, B, H) -> (output (T, B, D*H), h_n (L*D, B, H), cache).

    ``lengths`` (B,) ints in [1, T], optional: sequence b is x[:lengths[b], b]. Outputs
    past each length are zero and h_n is each sequence's state at its own last valid
    step (the reverse direction starts there), as with torch's packed sequences.
    """
    phi, _ = _ACTIVATIONS[spec.nonlinearity]
    T, B, _ = x.shape
    H, D = spec.hidden_size, spec.num_directions
    h_n = np.empty((spec.num_layers * D, B, H), dtype=x.dtype)
    orders = [_processing_order(T, lengths, reverse=d == 1) for d in range(D)]
    cache = Cache(spec, [], [], orders)
    layer_in = x
    for layer in range(spec.num_layers):
        # One buffer per layer holds both directions' states and IS the layer's output:
        # row 0 = forward h0, rows 1..T = states at t = 0..T-1, row T+1 = reverse h0.
        # The forward direction's hs (processing order) is rows 0..T, the reverse one's is
        # rows T+1..1 read backwards: both are views, so the layer's output and its BPTT
        # cache are the same memory (the next layer reads rows 1..T as its input).
        seq = np.empty((T + 2, B, D * H), dtype=x.dtype)
        out = seq[1 : T + 1]
        layer_hidden = []
        for d, sfx in enumerate(spec.directions()):
            p = _direction_params(params, layer, sfx, spec.bias)
            order, mask = orders[d]
            cols = slice(d * H, (d + 1) * H)
            if order is None:
                view = seq[T + 1 : 0 : -1, :, cols] if d == 1 else seq[: T + 1, :, cols]
                hs = _direction_forward(layer_in, h0[layer * D + d], *p, phi, d == 1, hs=view)
            else:  # variable lengths: own buffer, scattered back to time order (padded -> 0)
                hs = _direction_forward(layer_in, h0[layer * D + d], *p, phi, d == 1, order, mask)
                o = np.zeros((T, B, H), dtype=x.dtype)
                o[order, np.arange(B)[None, :]] = np.where(mask[:, :, None], hs[1:], 0)
                out[:, :, cols] = o
            h_n[layer * D + d] = hs[-1]
            layer_hidden.append(hs)
        cache.layer_inputs.append(layer_in)
        cache.hidden.append(layer_hidden)
        layer_in = out
    # The caller gets its own copy of the top layer's output: writing into it must not
    # change the cache the backward pass reads.
    return layer_in.copy(), h_n, cache


def backward(spec: RNNSpec, params: dict, cache: Cache, d_out: np.ndarray, d_h_n: np.ndarray, truncate=None):
    """d_out (T, B, D*H), d_h_n (L*D, B, H) -> (dx (T, B, I), dh0 (L*D, B, H), grads).

    Layers are walked top-down: the gradient w.r.t. layer k's input is the upstream
    gradient on layer k-1's output, summed over both directions of layer k.
    ``truncate=k``: truncated BPTT, the hidden state detached every k steps.
    """
    _, dphi = _ACTIVATIONS[spec.nonlinearity]
    H, D = spec.hidden_size, spec.num_directions
    dh0 = np.empty_like(d_h_n)
    grads: dict[str, np.ndarray] = {}
    d_layer_out = d_out
    for layer in range(spec.num_layers - 1, -1, -1):
        layer_in = cache.layer_inputs[layer]
        d_in = np.zeros_like(layer_in)
        for d, sfx in enumerate(spec.directions()):
            w_ih, w_hh, _, _ = _direction_params(params, layer, sfx, spec.bias)
            dx, dh, dw_ih, dw_hh, db = _direction_backward(
                d_layer_out[:, :, d * H : (d + 1) * H],
                d_h_n[layer * D + d],
                layer_in,
                cache.hidden[layer][d],
                w_ih,
                w_hh,
                dphi,
                d == 1,
                *cache.orders[d],
                truncate=truncate,
            )
            d_in += dx
            dh0[layer * D + d] = dh
            grads[f"weight_ih_l{layer}{sfx}"] = dw_ih
            grads[f"weight_hh_l{layer}{sfx}"] = dw_hh
            if spec.bias:
                grads[f"bias_ih_l{layer}{sfx}"] = db
                grads[f"bias_hh_l{layer}{sfx}"] = db.copy()  # a_t = ... + b_ih + b_hh
        d_layer_out = d_in
    # Report gradients in torch's parameter order.
    grads = {name: grads[name] for name in param_shapes(spec)}
    return d_layer_out, dh0, grads


def _direction_params(params, layer, sfx, bias):
    w_ih = params[f"weight_ih_l{layer}{sfx}"]
    w_hh = params[f"weight_hh_l{layer}{sfx}"]
    if not bias:
        return w_ih, w_hh, None, None
    return w_ih, w_hh, params[f"bias_ih_l{layer}{sfx}"], params[f"bias_hh_l{layer}{sfx}"]
