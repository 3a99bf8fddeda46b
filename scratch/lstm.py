"""The LSTM cell (``torch.nn.LSTM`` / ``LSTMCell``): its equations, forward and backward.

Notation (torch's). Per step, x (B, I), h (B, R), c (B, H), with R = P if proj_size = P > 0
else H; the four gates are stacked in torch's order i, f, g, o along the 4H axis of
W_ih (4H, I), W_hh (4H, R), b_ih and b_hh (4H,); W_hr (P, H) only when P > 0::

    a   = x W_ih^T + b_ih + h W_hh^T + b_hh           (B, 4H) = [a_i, a_f, a_g, a_o]
    i   = sigmoid(a_i)    input gate                   (B, H)
    f   = sigmoid(a_f)    forget gate                  (B, H)
    g   = tanh(a_g)       candidate cell               (B, H)
    o   = sigmoid(a_o)    output gate                  (B, H)
    c'  = f * c + i * g                                (B, H)
    hf  = o * tanh(c')                                 (B, H)
    h'  = hf W_hr^T  if P > 0, else hf                 (B, R)

Backward, given dh' (total gradient reaching h', B x R) and dc' (carried back from the
next step into c', B x H)::

    dhf = dh' W_hr   (dh' if P = 0)        dW_hr += dh'^T hf
    dc  = dc' + dhf * o * (1 - tanh(c')^2)         total gradient reaching c'
    da_i = dc * g * i (1 - i)         sigmoid'(a) = s (1 - s), read from s = sigmoid(a)
    da_f = dc * c * f (1 - f)
    da_g = dc * i * (1 - g^2)         tanh'(a) = 1 - t^2, read from t = tanh(a)
    da_o = dhf * tanh(c') * o (1 - o)
    carried back: dh = da W_hh (B, R),  dc_prev = dc * f
    dx = da W_ih;  dW_ih = sum da^T x;  dW_hh = sum da^T h;  db_ih = db_hh = sum da

Every factor that multiplies dc or dhf above depends only on the forward pass, so the
backward computes them for a block of steps at once (``LSTMTape._local_derivatives``,
blocks sized by ``driver.block_steps``) and the loop only carries the gradient.

The sigmoid is computed as sigmoid(a) = (1 + tanh(a / 2)) / 2: one tanh over all four
gates at once, and no exp that could overflow for large |a|. The halving is folded into
the i, f, o rows of the weights and biases (exact: a power of two).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .driver import StackShape, block_steps, step_buffer, time_ordered
from .linalg import affine_operands, matmul

__all__ = ["LSTMSpec", "LSTM"]


@dataclass(frozen=True)
class LSTMSpec(StackShape):
    """The structural arguments of ``torch.nn.LSTM`` that shape the computation."""

    input_size: int
    hidden_size: int
    num_layers: int = 1
    bias: bool = True
    bidirectional: bool = False
    proj_size: int = 0


class LSTM:
    """The LSTM equations for ``scratch.driver``: states (h, c); h is the output."""

    def __init__(self, spec: LSTMSpec):
        self.spec = spec
        H, P = spec.hidden_size, spec.proj_size
        self.state_sizes = (P or H, H)
        self.param_names = tuple(self.param_shapes(1))
        self._half: dict = {}

    def param_shapes(self, input_size: int) -> dict[str, tuple[int, ...]]:
        H, P = self.spec.hidden_size, self.spec.proj_size
        shapes = {"weight_ih": (4 * H, input_size), "weight_hh": (4 * H, P or H)}
        if self.spec.bias:
            shapes.update(bias_ih=(4 * H,), bias_hh=(4 * H,))
        if P:
            shapes["weight_hr"] = (P, H)
        return shapes

    def gate_halves(self, dtype) -> tuple[np.ndarray, np.ndarray]:
        """(scale, shift) over the stacked gates (4H,): 1/2 on i, f, o and (1, 0) on g, so that
        tanh(scale * a) * scale + shift = [sigmoid(a_i), sigmoid(a_f), tanh(a_g), sigmoid(a_o)]."""
        if dtype not in self._half:
            H = self.spec.hidden_size
            scale = np.full(4 * H, 0.5, dtype=dtype)
            scale[2 * H : 3 * H] = 1
            self._half[dtype] = (scale, 1 - scale)
        return self._half[dtype]

    def tape(self, w, xs, init, out=None):
        return LSTMTape(self, w, xs, init, out)


class LSTMTape:
    """One direction of one LSTM layer.

    Cache: ``states`` = (hs (T+1, B, R), cs (T+1, B, H)); the gates after their
    activation, [i, f, g, o] gate-major (T, 4, B, H); tanh(c') (T, B, H); with a projection
    also hf (T, B, H). Everything in processing order, step s at index s (states: s + 1).

    Why gate-major, not (T, B, 4H) as the weights stack them: a step's four gates are then
    one contiguous (4, B, H) block (one flat tanh over all of them) AND each gate is a
    contiguous (B, H) block (c' = f * c + i * g, hf = o * tanh(c') run as flat loops, where
    column slices of a (B, 4H) row take NumPy's strided path, 2-3x slower a call), and the
    recurrent product is one stacked (B, R) x (4, R, H) product into that block, which
    OpenBLAS runs 15-30 % faster than the wide (B, R) x (R, 4H) one at the bench's medium
    and deep sizes (measured: 347 against 422 us at B = 64, H = 256; 38 against 54 us at
    B = 32, H = 128); likewise the input projection, (x, 1) x (4, I + 1, H) a block of steps
    at a time. The backward keeps the weights' (T, B, 4H) layout for its gate gradients da:
    its products (dh = da W_hh, dW = da^T x, ...) are single wide GEMMs.
    """

    def __init__(self, cell: LSTM, w: dict, xs: np.ndarray, init: tuple, hs=None):
        T, B, _ = xs.shape
        H, R, dt = cell.spec.hidden_size, cell.state_sizes[0], xs.dtype
        scale, shift = cell.gate_halves(dt)
        # Input projection:  gates = (xs W_ih^T + b_ih + b_hh) * scale, one stacked product per
        # block of steps (``_project``: one GEMM per step and gate). The halving is applied to
        # the small operands, W_ih^T (I, 4H) and the bias (4H,), not to the (T, 4, B, H)
        # product: exact either way (a power of two), one pass less; the bias rides in the
        # GEMM (scratch.linalg.affine_operands). Each step adds h W_hh^T * scale and then
        # overwrites its gates with the activations.
        bias = (w["bias_ih"] + w["bias_hh"]) * scale if "bias_ih" in w else None
        self._x1, w1 = affine_operands(xs, np.multiply(w["weight_ih"].T, scale), bias)
        # Why blocks, not all T steps in one GEMM: the (T, B, 4H) product of a large layer
        # leaves the cache before the steps read it back (written, evicted, re-read from
        # memory); a block that fits in cache (driver.block_steps) is read by its steps while
        # still there. The GEMM is as fast on blocks of B rows and up (measured).
        self._proj_block = block_steps(B * 4 * H)
        # [W_ih^T; b] * scale gate by gate: (4, I(+1), H), for the stacked projection (class docstring)
        self._w1g = np.ascontiguousarray(w1.reshape(w1.shape[0], 4, H).transpose(1, 0, 2))
        gates = np.empty((T, 4, B, H), dtype=dt)
        if hs is None:
            hs = np.empty((T + 1, B, R), dtype=dt)
        hs[0] = init[0]
        cs = np.empty((T + 1, B, H), dtype=dt)
        cs[0] = init[1]
        self.states = (hs, cs)
        self._gates = gates
        self._i, self._f, self._g, self._o = (gates[:, k] for k in range(4))  # (T, B, H) each
        self._tanh_c = np.empty((T, B, H), dtype=dt)
        self._proj = "weight_hr" in w
        self._hf = np.empty((T, B, H), dtype=dt) if self._proj else None
        # Forward-only: (W_hh * scale)^T gate by gate, a contiguous (4, R, H) stack; W_hr^T;
        # step buffers.
        self._w_hh_g = np.multiply(w["weight_hh"].reshape(4, H, R).transpose(0, 2, 1), scale.reshape(4, 1, H),
                                   out=np.empty((4, R, H), dtype=dt))
        self._w_hr_t = np.ascontiguousarray(w["weight_hr"].T) if self._proj else None
        # scale and shift repeated over the B rows of each gate's block, (4, B, H): a step's
        # ``a *= scale`` is then a product of two contiguous arrays of one shape, which NumPy
        # runs as one flat loop; broadcasting a row over the B rows takes its general iterator
        # (measured 2-4x slower per call).
        self._scale = np.broadcast_to(scale.reshape(4, 1, H), (4, B, H)).copy()
        self._shift = np.broadcast_to(shift.reshape(4, 1, H), (4, B, H)).copy()
        self._rec = np.empty((4, B, H), dtype=dt)
        self._ig = np.empty((B, H), dtype=dt)

    def step(self, s: int) -> None:
        hs, cs = self.states
        if s % self._proj_block == 0:  # the input projection of this block of steps
            self._project(s, s + self._proj_block)
        a = self._gates[s]  # (4, B, H)
        np.matmul(hs[s], self._w_hh_g, out=self._rec)  # never sgemv_t: each W_g[k] is C-ordered
        a += self._rec  # a * scale: [a_i/2, a_f/2, a_g, a_o/2]
        np.tanh(a, out=a)  # all four gates at once
        a *= self._scale
        a += self._shift  # sigmoid(a) = (1 + tanh(a/2)) / 2 on i, f, o; g = tanh(a_g) unchanged
        c = cs[s + 1]
        np.multiply(self._f[s], cs[s], out=c)  # c' = f * c + i * g
        np.multiply(self._i[s], self._g[s], out=self._ig)
        c += self._ig
        tc = self._tanh_c[s]
        np.tanh(c, out=tc)
        if self._proj:  # h' = (o * tanh(c')) W_hr^T
            np.multiply(self._o[s], tc, out=self._hf[s])
            matmul(self._hf[s], self._w_hr_t, out=hs[s + 1])
        else:  # h' = o * tanh(c')
            np.multiply(self._o[s], tc, out=hs[s + 1])

    def _project(self, lo: int, hi: int) -> None:
        """gates[lo:hi] = (x W_ih^T + b) * scale, gate-major: [x, 1] (n, B, I+1) x (4, I+1, H)
        -> (n, 4, B, H), one stacked product (NumPy runs one GEMM per step and gate)."""
        x1, gates = self._x1[lo:hi], self._gates[lo:hi]
        if gates.shape[-1] == 1 and x1.shape[-1] > 1 and x1.dtype == np.float32:
            # H = 1: each product is a matrix x column, which must not reach OpenBLAS's
            # sgemv_t (scratch.linalg): gate by gate through linalg.matmul instead.
            for k in range(4):
                gates[:, k] = matmul(x1, self._w1g[k])
        else:
            np.matmul(x1[:, None], self._w1g, out=gates)

    def end_forward(self) -> None:
        del self._w_hh_g, self._w_hr_t, self._rec, self._ig, self._x1, self._w1g, self._scale, self._shift

    def begin_backward(self, w: dict, reverse: bool = False) -> None:
        gates = self._gates
        T, _, B, H = gates.shape
        H4 = 4 * H
        # The local derivatives (``_local_derivatives``) of one block of steps at a time.
        self._block = block_steps(B * H4)
        K = min(self._block, T)
        self._m = np.empty((K, B, H4), dtype=gates.dtype)
        self._s1s = np.empty((K, 4, B, H), dtype=gates.dtype)  # s (1 - s) in the gates' layout
        self._k = np.empty((K, B, H), dtype=gates.dtype)
        self._lo = T  # the block in _m, _k starts at step _lo (none yet)
        self._reverse = reverse
        self._da = step_buffer((T, B, H4), gates.dtype, reverse)  # time order when reverse (why: there)
        self._dh = np.empty((T,) + self.states[0].shape[1:], dtype=gates.dtype) if self._proj else None
        self._w_hh = w["weight_hh"]
        self._w_hr = w.get("weight_hr")
        self._w = w
        self._tmp = np.empty((B, H), dtype=gates.dtype)
        # [dc, dc, dc, dhf] of one step, contiguous (B, 4H), so that da = [dc, dc, dc, dhf] * m
        # is one flat product of two contiguous arrays: copying dc into three column blocks
        # and multiplying, measured 1.7x faster than the broadcast product dc[:, None, :] * m3,
        # which NumPy runs through its general iterator.
        self._e = np.empty((B, H4), dtype=gates.dtype)
        self._e3 = self._e.reshape(B, 4, H)[:, :3]
        self._e_o = self._e[:, 3 * H :]

    def _local_derivatives(self, lo: int, hi: int) -> None:
        """The factors of the backward's products for steps lo .. hi-1 (module docstring):

        m = [g i(1-i), c f(1-f), i (1-g^2), tanh(c') o(1-o)]  (n, B, 4H) so that
            da = [dc, dc, dc, dhf] * m
        k = o (1 - tanh(c')^2)  (n, B, H)  so that  dc = dc' + dhf * k
        """
        n = hi - lo
        tc, gates = self._tanh_c[lo:hi], self._gates[lo:hi]
        H = self._k.shape[2]
        m = self._m[:n]
        # s (1 - s), sigmoid' on i, f, o (m's g block is overwritten next), computed in the
        # gates' own gate-major layout (flat loops) and then copied into m's (n, B, 4H) one:
        # one strided copy instead of two strided products (NumPy's slow path).
        s1s = self._s1s[:n]
        np.subtract(1, gates, out=s1s)
        s1s *= gates
        m.reshape(n, m.shape[1], 4, H)[...] = s1s.transpose(0, 2, 1, 3)
        m_i, m_f, m_g, m_o = (m[..., j * H : (j + 1) * H] for j in range(4))
        g = self._g[lo:hi]
        np.multiply(g, g, out=m_g)
        np.subtract(1, m_g, out=m_g)  # 1 - g^2: tanh' on g
        m_i *= g
        m_f *= self.states[1][lo:hi]  # c, the cell state entering step s
        m_g *= self._i[lo:hi]
        m_o *= tc
        k = self._k[:n]
        np.multiply(tc, tc, out=k)
        np.subtract(1, k, out=k)
        k *= self._o[lo:hi]

    def backward_step(self, s: int, d: list) -> list:
        if s < self._lo:  # entering a new block (steps are walked backwards): prepare it
            self._lo = max(0, s + 1 - self._block)
            self._local_derivatives(self._lo, s + 1)
        j = s - self._lo
        dh, dc = d  # the driver's own arrays: both are overwritten below (the protocol allows it)
        if self._proj:
            self._dh[s] = dh  # for dW_hr = sum dh^T hf
            dhf = matmul(dh, self._w_hr)
        else:
            dhf = dh
        np.multiply(dhf, self._k[j], out=self._tmp)
        dc += self._tmp  # dc = dc' + dhf * o * (1 - tanh(c')^2)
        self._e3[...] = dc[:, None, :]
        self._e_o[...] = dhf
        np.multiply(self._e, self._m[j], out=self._da[s])  # [da_i, da_f, da_g, da_o] = [dc, dc, dc, dhf] * m
        matmul(self._da[s], self._w_hh, out=dh)  # dh_prev = da W_hh (dh and dhf are used up)
        dc *= self._f[s]  # dc_prev = dc * f
        return [dh, dc]

    def weight_grads(self, xs: np.ndarray):
        """dW_ih = da^T xs, dW_hh = da^T h_prev, db_ih = db_hh = sum da, dW_hr = dh^T hf,
        dxs = da W_ih: one product each over all stacked (time, batch) rows."""
        dh, w = self._dh, self._w
        # h entering step s pairs with da_s; all three in time order for the reverse direction
        da, xs, h_prev = time_ordered(self._reverse, self._da, xs, self.states[0][:-1])
        del self._m, self._s1s, self._k, self._da, self._dh, self._w, self._e, self._e3, self._e_o
        del self._w_hh, self._w_hr, self._tmp
        T, B, H4 = da.shape
        R = h_prev.shape[2]
        da2 = da.reshape(T * B, H4)
        grads = {
            "weight_ih": da2.T @ xs.reshape(T * B, -1),
            "weight_hh": da2.T @ h_prev.reshape(T * B, R),
        }
        if "bias_ih" in w:
            db = da2.sum(axis=0)
            grads["bias_ih"] = db
            grads["bias_hh"] = db.copy()
        if self._proj:
            grads["weight_hr"] = dh.reshape(T * B, R).T @ self._hf.reshape(T * B, -1)
        dx = matmul(da, w["weight_ih"])
        return (dx[::-1] if self._reverse else dx), grads
