"""Implementations with one planted bug each; the suite must reject every one.

Each class overrides exactly one step of the correct ``ConcatRNN`` / ``ColumnCell`` with a
classic backprop-through-time mistake, most of them lifted from the seeds in
``../shared/seeds``. ``PLANTED`` (below) says, for each, the table row that exposes it and
the tensor the failure must name, so the meta tests check not only *that* a bug is caught
but that the harness points at the right place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .concat_rnn import ColumnCell, ConcatRNN


# --- RNN bugs ---------------------------------------------------------------------------
class SwappedDxDhPrev(ConcatRNN):
    """dx and dh_prev computed with each other's weight (seed 001:
    ``self.dx = np.dot(self.Wh.T, da); self.dh_prev = np.dot(self.Wx.T, da)``).
    Only shape-compatible when input_size == hidden_size, which is why the strategies
    draw I == H on purpose."""

    def split_dz(self, da, w_ih, w_hh):
        return w_hh.T @ da, w_ih.T @ da


class MultipliedOverTime(ConcatRNN):
    """Gradients of shared weights combined over time with ``*=`` instead of summed
    (seed 003: ``LWx *= np.dot(...)``, ``LB *= HA``)."""

    def accumulate(self, total, term):
        return term.copy() if not total.any() else total * term


class TanhDerivativeOfH(ConcatRNN):
    """tanh' taken as 1 - tanh(h)^2 with h already tanh'd (seed 003:
    ``HA = LH * (1 - np.tanh(self.h[i])*np.tanh(self.h[i]))``)."""

    def act_grad(self, a, h):
        if self.nonlinearity == "tanh":
            return 1 - np.tanh(h) ** 2
        return super().act_grad(a, h)


class NotCarriedThroughTime(ConcatRNN):
    """Nothing flows back from step t to h_{t-1}: dh_t takes only the output's gradient at
    t (and d_h_n at the last step) -- truncation to one step."""

    def split_dz(self, da, w_ih, w_hh):
        return w_ih.T @ da, 0 * (w_hh.T @ da)


class HiddenStateOffByOne(ConcatRNN):
    """dW_hh pairs da_t with h_t instead of h_{t-1}."""

    def weight_grads(self, da, x, h_prev, h_cur):
        return da @ x.T, da @ h_cur.T


class MeanOverBatch(ConcatRNN):
    """Weight gradients divided by the batch size (the loss was a sum over the batch)."""

    def scale_grads(self, grads, batch):
        return {k: v / batch for k, v in grads.items()}


class ReluGradOneAtZero(ConcatRNN):
    """relu'(0) = 1 (``a >= 0``); torch uses relu'(0) = 0."""

    def act_grad(self, a, h):
        if self.nonlinearity == "relu":
            return (a >= 0).astype(a.dtype)
        return super().act_grad(a, h)


class ReverseNotReReversed(ConcatRNN):
    """Backward of the reverse direction reads the output gradients in original time
    order, though that direction processed the sequence back to front."""

    def upstream_for_direction(self, d_out_dir, reverse):
        return d_out_dir


class IgnoresDhN(ConcatRNN):
    """The upstream gradient on h_n is dropped: backward starts from zero."""

    def d_h_n_for_layer(self, d_h_n_dir):
        return 0 * d_h_n_dir


class NoGradToLowerLayer(ConcatRNN):
    """A layer's input gradient is not passed down to the layer below."""

    def grad_to_lower_layer(self, d_in, layer):
        return d_in if layer == 0 else 0 * d_in


class MissingBiasHHGrad(ConcatRNN):
    """Only bias_ih gets a gradient; bias_hh is left at zero (``b = b_ih + b_hh`` forgotten)."""

    def bias_grads(self, da):
        db = da.sum(axis=1)
        return db, np.zeros_like(db)


class TransposedWeightHHGrad(ConcatRNN):
    """dW_hh = h_{t-1} da^T, the transpose of the right product."""

    def weight_grads(self, da, x, h_prev, h_cur):
        return da @ x.T, h_prev @ da.T


class SwappedWeightGrads(ConcatRNN):
    """The two weight gradients stored under each other's name (shape-compatible when
    input_size == hidden_size)."""

    def weight_grads(self, da, x, h_prev, h_cur):
        return da @ h_prev.T, da @ x.T


class SignFlippedDx(ConcatRNN):
    """dx with the wrong sign (a descent step folded into the gradient)."""

    def split_dz(self, da, w_ih, w_hh):
        return -(w_ih.T @ da), w_hh.T @ da


# --- forward bugs (for localization) -------------------------------------------------------
class LowerLayersShareH0(ConcatRNN):
    """Every layer starts from layer 0's initial state h0[0] (h0[k] ignored for k > 0)."""

    def initial_state(self, h0, layer, d):
        return h0[d].T


class ReverseOutputNotReReversed(ConcatRNN):
    """The reverse direction's outputs left in processing order (out[s] instead of out[T-1-s])."""

    def store_output(self, out, t, step, h_new):
        out[step] = h_new


# --- RNNCell bugs -------------------------------------------------------------------------
class SwappedCell(ColumnCell):
    """Seed 001 verbatim: ``dx = Wh.T @ da``, ``dh_prev = Wx.T @ da``."""

    def dx_dh(self, da):
        return self.params["weight_hh"].T @ da, self.params["weight_ih"].T @ da


class CellTanhDerivativeOfH(ColumnCell):
    def act_grad(self, a, h):
        return 1 - np.tanh(h) ** 2 if self.nonlinearity == "tanh" else super().act_grad(a, h)


class CellTransposedWeightIH(ColumnCell):
    def weight_grads(self, da):
        g_ih, g_hh = super().weight_grads(da)
        return (g_ih.T if g_ih.shape[0] == g_ih.shape[1] else g_ih * 0), g_hh


@dataclass(frozen=True)
class Planted:
    cls: type
    row: str  # the table row whose property must reject it (it names the family too)
    reach: tuple  # fnmatch patterns: the only tensors this bug can make differ
    first: str  # the tensor the failure names first (the derandomized example's, pinned)


# Every bug here is in backward: output and h_n must never be blamed.
BACKWARD = ("dx", "dh0", "grad *")
CELL_BACKWARD = ("dx", "dh", "grad *")

class TruncatedWindow4(ConcatRNN):
    """Backprop through time truncated every k = 4 steps (the state detached at steps 4, 8,
    ...), as language-model tutorials do, on a layer that is supposed to be exact. Invisible
    on sequences of 4 steps or fewer: the ``long_sequences`` row exposes it."""

    k = 4

    def carry_back(self, dh_prev, s):
        return 0 * dh_prev if s % self.k == 0 and s > 0 else dh_prev


class ClippedGradients(ConcatRNN):
    """Parameter gradients clipped to [-5, 5] inside backward (min-char-rnn's
    ``np.clip(dparam, -5, 5, out=dparam)``): right until a gradient is large, so only the
    ``large_upstream_gradients`` row exposes it."""

    c = 5.0

    def scale_grads(self, grads, batch):
        return {k: np.clip(v, -self.c, self.c) for k, v in super().scale_grads(grads, batch).items()}


PLANTED = [
    Planted(SwappedDxDhPrev, "square_I_eq_H", BACKWARD, "dx"),
    Planted(MultipliedOverTime, "tanh_basic", ("grad *",), "grad bias_ih_l0"),
    Planted(TanhDerivativeOfH, "tanh_basic", BACKWARD, "dx"),
    Planted(NotCarriedThroughTime, "tanh_basic", BACKWARD, "dh0"),
    Planted(HiddenStateOffByOne, "tanh_basic", ("grad weight_hh_*",), "grad weight_hh_l0"),
    Planted(MeanOverBatch, "tanh_basic", ("grad *",), "grad bias_ih_l0"),
    Planted(ReluGradOneAtZero, "relu_basic", BACKWARD, "grad bias_ih_l0"),
    Planted(ReverseNotReReversed, "bidirectional", BACKWARD, "grad weight_ih_l0_reverse"),
    Planted(IgnoresDhN, "tanh_basic", BACKWARD, "grad bias_ih_l0"),
    Planted(NoGradToLowerLayer, "multilayer", ("dx", "dh0", "grad *_l0", "grad *_l0_reverse"), "dx"),
    Planted(MissingBiasHHGrad, "tanh_basic", ("grad bias_hh_*",), "grad bias_hh_l0"),
    Planted(TransposedWeightHHGrad, "tanh_basic", ("grad weight_hh_*",), "grad weight_hh_l0"),
    Planted(SignFlippedDx, "tanh_basic", ("dx",), "dx"),
    Planted(SwappedWeightGrads, "square_I_eq_H", ("grad weight_ih_*", "grad weight_hh_*"), "grad weight_ih_l0"),
    Planted(LowerLayersShareH0, "multilayer", ("output", "h_n", "dx", "dh0", "grad *"), "grad weight_hh_l1"),
    Planted(ReverseOutputNotReReversed, "bidirectional", ("output", "h_n", "dx", "dh0", "grad *"), "output"),
    Planted(TruncatedWindow4, "long_sequences", BACKWARD, "dx"),
    Planted(ClippedGradients, "large_upstream_gradients", ("grad *",), "grad bias_ih_l0"),
    Planted(SwappedCell, "cell_square_I_eq_H", CELL_BACKWARD, "dx"),
    Planted(CellTanhDerivativeOfH, "cell_tanh", CELL_BACKWARD, "dx"),
    Planted(CellTransposedWeightIH, "cell_square_I_eq_H", ("grad weight_ih",), "grad weight_ih"),
]
