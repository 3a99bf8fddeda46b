"""The Elman cell (``torch.nn.RNN`` / ``RNNCell``): its equations, forward and backward.

Notation (torch's, so the parameter names line up 1:1 with ``torch.nn.RNN``)::

    a_t = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh        pre-activation   (B, H)
    h_t = phi(a_t)                                          hidden state     (B, H)

with x_t of shape (B, I), W_ih (H, I), W_hh (H, H), b_ih and b_hh (H,). Layers and
directions are the driver's business (``scratch.driver``): layer k > 0 reads the
concatenated outputs of layer k-1, so its W_ih is (H, D*H) with D = 2 if bidirectional.

Backward (L is any scalar loss, g_t = dL/dh_t arriving from the output at step t)::

    dh_t  = g_t + dh_{t+1}-carried                 total gradient reaching h_t
    da_t  = dh_t * phi'(a_t)                       phi' read from h_t (see ``_ACTIVATIONS``)
    carried back to h_{t-1}:  da_t W_hh
    dx_t  = da_t W_ih
    dW_ih = sum_t da_t^T x_t      dW_hh = sum_t da_t^T h_{t-1}      db_ih = db_hh = sum_t,b da_t

Every function computes in the dtype of its inputs: nothing here up- or down-casts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .driver import StackShape, block_steps, step_buffer, time_ordered
from .linalg import affine, matmul

__all__ = ["RNNSpec", "NONLINEARITIES", "Elman", "cell_forward", "cell_backward"]


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
class RNNSpec(StackShape):
    """The structural arguments of ``torch.nn.RNN`` that shape the computation."""

    input_size: int
    hidden_size: int
    num_layers: int = 1
    nonlinearity: str = "tanh"
    bias: bool = True
    bidirectional: bool = False


# ---------------------------------------------------------------------------------------
# One step: the RNNCell.
# ---------------------------------------------------------------------------------------
def cell_forward(x, h, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """h_next = phi(x W_ih^T + b_ih + h W_hh^T + b_hh).

    x (B, I), h (B, H), w_ih (H, I), w_hh (H, H), biases (H,) or None -> h_next (B, H).
    """
    phi, _ = _ACTIVATIONS[nonlinearity]
    a = matmul(x, w_ih.T) + matmul(h, w_hh.T)
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
    return matmul(da, w_ih), matmul(da, w_hh), grads


# ---------------------------------------------------------------------------------------
# A whole sequence, for the driver (see ``scratch.driver`` for the cell/tape protocol).
# ---------------------------------------------------------------------------------------
class Elman:
    """The Elman equations for ``scratch.driver``: one state, h, which is also the output."""

    def __init__(self, spec: RNNSpec):
        self.spec = spec
        self.phi, self.dphi = _ACTIVATIONS[spec.nonlinearity]
        self.state_sizes = (spec.hidden_size,)
        self.param_names = tuple(self.param_shapes(1))

    def param_shapes(self, input_size: int) -> dict[str, tuple[int, ...]]:
        H = self.spec.hidden_size
        shapes = {"weight_ih": (H, input_size), "weight_hh": (H, H)}
        if self.spec.bias:
            shapes.update(bias_ih=(H,), bias_hh=(H,))
        return shapes

    def tape(self, w, xs, init, out=None):
        return ElmanTape(self, w, xs, init, out)


class ElmanTape:
    """One direction of one Elman layer. The BPTT cache is the hidden states and nothing
    else: ``states[0]`` = hs (T+1, B, H), hs[0] = h0, hs[s+1] = h after step s; backward
    reads h_{s-1} as hs[s] and phi'(a_s) from hs[s+1]."""

    def __init__(self, cell: Elman, w: dict, xs: np.ndarray, init: tuple, hs=None):
        T, B, _ = xs.shape
        self._phi, self._dphi = cell.phi, cell.dphi
        # The input projection of all T steps is one matrix product: it does not depend on h.
        #   a_in = xs W_ih^T + b_ih + b_hh          (T, B, H)
        # (scratch.linalg: why not plain @, and how the bias rides in the GEMM)
        a_in = affine(xs, w["weight_ih"].T, w["bias_ih"] + w["bias_hh"] if "bias_ih" in w else None)
        if hs is None:
            hs = np.empty((T + 1, B, w["weight_hh"].shape[0]), dtype=xs.dtype)
        hs[0] = init[0]
        self.states = (hs,)
        self._hs = hs
        self._a_in = a_in
        # A contiguous copy of W_hh^T: OpenBLAS is ~10 % faster on it than on a transposed
        # view (measured: 89 vs 99 us for (64, 256) @ (256, 256) in float32), used T times.
        self._w_hh_t = np.ascontiguousarray(w["weight_hh"].T)
        self._rec = np.empty(hs.shape[1:], dtype=xs.dtype)  # h_s W_hh^T, one step at a time

    def step(self, s: int) -> None:
        """h_{s+1} = phi(a_in[s] + h_s W_hh^T)."""
        hs = self._hs
        a = self._a_in[s]
        np.matmul(hs[s], self._w_hh_t, out=self._rec)  # into a preallocated buffer, not a fresh array per step
        a += self._rec  # a_in is scratch space: each a_s is used once
        self._phi(a, out=hs[s + 1])

    def end_forward(self) -> None:
        del self._a_in, self._w_hh_t, self._rec

    def begin_backward(self, w: dict, reverse: bool = False) -> None:
        hs = self._hs
        T, B, H = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
        self._w, self._w_hh = w, w["weight_hh"]
        self._reverse = reverse
        self._da = step_buffer((T, B, H), hs.dtype, reverse)  # time order when reverse (why: there)
        # phi'(a_s) for a block of steps at a time (driver.block_steps: few calls, cached data).
        self._block = block_steps(B * H)
        self._lo = T  # the block in _dphi_block starts at step _lo (none yet)
        self._dphi_block = None

    def backward_step(self, s: int, d: list) -> list:
        """da_s = dh_s * phi'(a_s) with phi' read from h_s;  carried back: da_s W_hh."""
        if s < self._lo:  # entering a new block (steps are walked backwards): prepare it
            self._lo = max(0, s + 1 - self._block)
            self._dphi_block = self._dphi(self._hs[self._lo + 1 : s + 2])  # h after steps lo .. s
        da = self._da[s]
        dh = d[0]  # the driver's own array: overwritten below (the protocol allows it)
        np.multiply(dh, self._dphi_block[s - self._lo], out=da)
        matmul(da, self._w_hh, out=dh)
        return [dh]

    def weight_grads(self, xs: np.ndarray):
        """One product over all stacked (time, batch) rows instead of T:
        dW_ih = da^T xs,  dW_hh = da^T h_prev,  db_ih = db_hh = sum da,  dxs = da W_ih."""
        w = self._w
        # h_{s-1} pairs with da_s; all three in time order for the reverse direction (no copies)
        da, xs, h_prev = time_ordered(self._reverse, self._da, xs, self._hs[:-1])
        del self._da, self._w, self._w_hh, self._dphi_block
        T, B, H = da.shape
        da2 = da.reshape(T * B, H)
        # linalg.matmul, not @: with H = 1, da2.T is one row, and a column-major x (an
        # unbatched x.T) would send the product to OpenBLAS's sgemv_t (scratch/linalg)
        grads = {
            "weight_ih": matmul(da2.T, xs.reshape(T * B, -1)),
            "weight_hh": matmul(da2.T, h_prev.reshape(T * B, H)),
        }
        if "bias_ih" in w:
            db = da2.sum(axis=0)
            grads["bias_ih"] = db
            grads["bias_hh"] = db.copy()  # a_t = ... + b_ih + b_hh
        dx = matmul(da, w["weight_ih"])
        return (dx[::-1] if self._reverse else dx), grads
