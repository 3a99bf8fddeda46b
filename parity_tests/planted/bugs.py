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


# --- issue 11, section 4: the mistakes real code makes --------------------------------------
class NotCarriedCS231n(ConcatRNN):
    """The CS231n form of "not carried back": ``rnn_backward`` calls
    ``rnn_step_backward(dh[:, t], cache[t])`` instead of ``dh[:, t] + dprev_h``, so no step
    receives the gradient of the later ones, and dh0 is the ``dprev_h`` of step 0 alone
    (not zero, as in ``NotCarriedThroughTime``)."""

    def carry_back(self, dh_prev, s):
        return dh_prev if s == 0 else 0 * dh_prev


class Dh0Zeroed(ConcatRNN):
    """dh0 returned as zeros (the initial state treated as a constant); all else right."""

    def grad_initial_state(self, dh_prev, dh_first):
        return 0 * dh_prev


class Dh0OneStepLate(ConcatRNN):
    """dh0 not propagated through the first step: the gradient reaching h_0 (the first
    output) is returned as the initial state's."""

    def grad_initial_state(self, dh_prev, dh_first):
        return dh_first


class LastOutputOnly(ConcatRNN):
    """Only d_output[T-1] is used (a many-to-one habit: the loss read the last output), the
    output gradients of the earlier steps are dropped."""

    def output_grads(self, d_out):
        kept = np.zeros_like(d_out)
        kept[-1] = d_out[-1]
        return kept


class DxWithWhh(ConcatRNN):
    """dx_t = W_hh^T da_t (the recurrent weight) instead of W_ih^T da_t; dh_prev is right.
    Shape-compatible only when input_size == hidden_size."""

    def split_dz(self, da, w_ih, w_hh):
        return w_hh.T @ da, w_hh.T @ da


class ForwardOneBias(ConcatRNN):
    """Forward adds b_ih only (the common one-bias cell), while torch adds b_ih + b_hh;
    backward still returns both biases' gradients."""

    def forward_bias(self, b_ih, b_hh):
        return b_ih


class BatchFirstReshape(ConcatRNN):
    """batch_first handled with ``reshape`` instead of a transpose: x (B, T, I) read as
    x.reshape(T, B, I), and output, d_output and dx reshaped the same way."""

    def to_time_major(self, a, T, B):
        return a.reshape(T, B, *a.shape[2:])

    def to_batch_major(self, a, T, B):
        return a.reshape(B, T, *a.shape[2:])


class SlidingWindow3(ConcatRNN):
    """Backprop through time in a sliding window (the WildML tutorial's ``for bptt_step in
    np.arange(max(0, t - bptt_truncate), t + 1)[::-1]``): each output's gradient (and
    d_h_n, at the last step) is carried back through k = 3 steps only (its own and 2 before
    it), on a layer that is supposed to be exact; the ``long_sequences`` row exposes it."""

    k = 3

    def direction_backward(self, steps, dys, dh_last, w_ih, w_hh, d_in):
        H, dtype, n = self.H, self.dtype, len(steps)
        dw_ih, dw_hh, db = np.zeros_like(w_ih), np.zeros_like(w_hh), np.zeros(H, dtype=dtype)
        dh0 = np.zeros_like(dh_last)
        for src in range(n):  # every processing step's upstream gradient, back through k steps
            dh = dys[src] + (dh_last if src == n - 1 else 0)
            for s in range(src, max(src - self.k, -1), -1):
                t, x, h_prev, a, h_cur = steps[s]
                da = dh * self.act_grad(a, h_cur)
                dw_ih, dw_hh, db = dw_ih + da @ x.T, dw_hh + da @ h_prev.T, db + da.sum(axis=1)
                d_in[t] = d_in[t] + w_ih.T @ da
                dh = w_hh.T @ da
            if src - self.k < 0:  # the window reached the initial state
                dh0 = dh0 + dh
        return dw_ih, dw_hh, db, db.copy(), dh0


class ClippedGradients1(ConcatRNN):
    """Parameter gradients clipped to [-1, 1] (another common c): the suspect must read c
    off the numbers, not assume min-char-rnn's 5."""

    def scale_grads(self, grads, batch):
        return {k: np.clip(v, -1.0, 1.0) for k, v in grads.items()}


# --- RNNCell bugs for the cell diagnosis ------------------------------------------------
class CellMeanOverBatch(ColumnCell):
    """A course RNNCell that averages its weight gradients over the batch."""

    def scale_grads(self, grads, batch):
        return {k: v / batch for k, v in grads.items()}


class CellDxWithWhh(ColumnCell):
    def dx_dh(self, da):
        return self.params["weight_hh"].T @ da, self.params["weight_hh"].T @ da


class CellForwardOneBias(ColumnCell):
    def forward_bias(self, b_ih, b_hh):
        return b_ih


class CellDhZeroed(ColumnCell):
    """dh (the gradient for the previous state) returned as zeros."""

    def dx_dh(self, da):
        dx, dh = super().dx_dh(da)
        return dx, 0 * dh


class CellClipped(ColumnCell):
    """Parameter gradients clipped to [-5, 5]. No cell row has upstream gradients large
    enough to find it quickly, so it is diagnosed on a fixed case (``test_diagnosis.py``),
    not in ``PLANTED``."""

    c = 5.0

    def scale_grads(self, grads, batch):
        return {k: np.clip(v, -self.c, self.c) for k, v in grads.items()}


@dataclass(frozen=True)
class Planted:
    cls: type
    row: str  # the table row whose property must reject it (it names the family too)
    reach: tuple  # fnmatch patterns: the only tensors this bug can make differ
    first: str  # the tensor the failure names first (the derandomized example's, pinned)
    # The start of the first suspect the diagnosis of that failure names, or None where no
    # suspect is pinned (a bug whose mistake no suspect models must get none: NO_SUSPECT).
    suspect: str | None = None


NO_SUSPECT = "none"


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
    Planted(SwappedDxDhPrev, "square_I_eq_H", BACKWARD, "dx", "dx and dh_prev computed with each other's weight"),
    Planted(MultipliedOverTime, "tanh_basic", ("grad *",), "grad bias_ih_l0", "gradients combined over time with *="),
    Planted(TanhDerivativeOfH, "tanh_basic", BACKWARD, "dx", "wrong activation derivative (taken at the output"),
    Planted(NotCarriedThroughTime, "tanh_basic", BACKWARD, "dh0", "missing contribution from later time steps (no carry back, dh0 = 0)"),
    Planted(HiddenStateOffByOne, "tanh_basic", ("grad weight_hh_*",), "grad weight_hh_l0", "previous hidden state off by one step"),
    Planted(MeanOverBatch, "tanh_basic", ("grad *",), "grad bias_ih_l0", "weight gradients averaged over the batch (divided by the batch size B ="),
    Planted(ReluGradOneAtZero, "relu_basic", BACKWARD, "grad bias_ih_l0", "wrong activation derivative (relu'(0)"),
    Planted(ReverseNotReReversed, "bidirectional", BACKWARD, "grad weight_ih_l0_reverse", "reverse direction not re-reversed"),
    Planted(IgnoresDhN, "tanh_basic", BACKWARD, "grad bias_ih_l0", "upstream gradient on h_n ignored"),
    Planted(NoGradToLowerLayer, "multilayer", ("dx", "dh0", "grad *_l0", "grad *_l0_reverse"), "dx", "gradient not passed to the layer below"),
    Planted(MissingBiasHHGrad, "tanh_basic", ("grad bias_hh_*",), "grad bias_hh_l0", "a bias missing (grad bias_hh_l0)"),
    Planted(TransposedWeightHHGrad, "tanh_basic", ("grad weight_hh_*",), "grad weight_hh_l0", "transposed gradient (grad weight_hh_l0)"),
    Planted(SignFlippedDx, "tanh_basic", ("dx",), "dx", "sign flip (dx)"),
    Planted(SwappedWeightGrads, "square_I_eq_H", ("grad weight_ih_*", "grad weight_hh_*"), "grad weight_ih_l0", "two gradients swapped"),
    Planted(LowerLayersShareH0, "multilayer", ("output", "h_n", "dx", "dh0", "grad *"), "grad weight_hh_l1", NO_SUSPECT),
    Planted(ReverseOutputNotReReversed, "bidirectional", ("output", "h_n", "dx", "dh0", "grad *"), "output",
            "reverse direction's output not put back in time order"),
    Planted(TruncatedWindow4, "long_sequences", BACKWARD, "dx", "backprop through time truncated every k = 4 steps"),
    Planted(ClippedGradients, "large_upstream_gradients", ("grad *",), "grad bias_ih_l0", "gradients clipped to [-5, 5]"),
    Planted(SlidingWindow3, "long_sequences", BACKWARD, "dx", "backprop through time truncated to a window of k = 3 steps"),
    Planted(ClippedGradients1, "large_upstream_gradients", ("grad *",), "grad bias_ih_l0", "gradients clipped to [-1, 1]"),
    Planted(NotCarriedCS231n, "tanh_basic", BACKWARD, "dx", "missing contribution from later time steps (dh0 from step 0 alone"),
    Planted(Dh0Zeroed, "tanh_basic", ("dh0",), "dh0", "dh0 not propagated to the initial state (returned as zero)"),
    Planted(Dh0OneStepLate, "tanh_basic", ("dh0",), "dh0", "dh0 not propagated to the initial state (the gradient of h_0"),
    Planted(LastOutputOnly, "tanh_basic", BACKWARD, "grad bias_ih_l0", "only the last time step's output gradient used"),
    Planted(DxWithWhh, "square_I_eq_H", ("dx",), "dx", "dx computed with W_hh instead of W_ih"),
    Planted(ForwardOneBias, "tanh_basic", ("output", "h_n", "dx", "dh0", "grad *"), "output",
            "forward with one bias (bias_ih only, not bias_ih + bias_hh)"),
    Planted(BatchFirstReshape, "batch_first", ("output", "h_n", "dx", "dh0", "grad *"), "grad weight_ih_l0",
            "batch_first handled with reshape instead of a transpose"),
    Planted(SwappedCell, "cell_square_I_eq_H", CELL_BACKWARD, "dx", "dx and dh_prev computed with each other's weight"),
    Planted(CellTanhDerivativeOfH, "cell_tanh", CELL_BACKWARD, "dx", "wrong activation derivative (taken at the output"),
    Planted(CellTransposedWeightIH, "cell_square_I_eq_H", ("grad weight_ih",), "grad weight_ih", "transposed gradient (grad weight_ih)"),
    Planted(CellMeanOverBatch, "cell_tanh", ("grad *",), "grad bias_ih", "weight gradients averaged over the batch (divided by the batch size B ="),
    Planted(CellDxWithWhh, "cell_square_I_eq_H", ("dx",), "dx", "dx computed with W_hh instead of W_ih"),
    Planted(CellForwardOneBias, "cell_tanh", ("h_next", "dx", "dh", "grad *"), "h_next",
            "forward with one bias (bias_ih only, not bias_ih + bias_hh)"),
    Planted(CellDhZeroed, "cell_tanh", ("dh",), "dh", "dh not propagated to the initial state (returned as zero)"),
]
