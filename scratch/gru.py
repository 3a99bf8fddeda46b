"""The GRU cell (``torch.nn.GRU`` / ``GRUCell``): its equations, forward and backward.

Notation (torch's). Per step, x (B, I), h (B, H); the three gates are stacked in torch's
order r, z, n along the 3H axis of W_ih (3H, I), W_hh (3H, H), b_ih and b_hh (3H,)::

    r  = sigmoid(x W_ir^T + b_ir + h W_hr^T + b_hr)         reset gate    (B, H)
    z  = sigmoid(x W_iz^T + b_iz + h W_hz^T + b_hz)         update gate   (B, H)
    q  = h W_hn^T + b_hn                                    (B, H), kept for backward
    n  = tanh(x W_in^T + b_in + r * q)                      candidate     (B, H)
    h' = (1 - z) * n + z * h  =  n + z * (h - n)            (B, H)

Unlike the Elman and LSTM cells, the recurrent projection of the n gate is not simply
added to the input projection: r multiplies it, bias included. So b_hr and b_hz join
the input side (GEMMs over blocks of steps) while h W_hh^T + [0, 0, b_hn] is formed per step.

Backward, given dh' (total gradient reaching h', B x H)::

    da_n = dh' * (1 - z) * (1 - n^2)                        tanh'(a) = 1 - n^2 from n
    dq   = da_n * r
    da_r = da_n * q * r (1 - r)                             sigmoid'(a) = s (1 - s) from s
    da_z = dh' * (h - n) * z (1 - z)
    carried back: dh = dh' * z + [da_r, da_z, dq] W_hh
    dx = [da_r, da_z, da_n] W_ih;  dW_ih = sum [da_r, da_z, da_n]^T x;  db_ih = sum [da_r, da_z, da_n]
    dW_hh = sum [da_r, da_z, dq]^T h;  db_hh = sum [da_r, da_z, dq]

Every one of these is dh' times a factor that depends only on the forward pass, so the
backward computes the factors for a block of steps at once (``GRUTape._local_derivatives``,
blocks sized by ``driver.block_steps``) and the loop is, per step, one product dh' * f
(dh' first copied into each of f's four column blocks, so that the product is flat: see
``GRUTape``), one GEMM and the z path. The input side's gradient [da_r, da_z, da_n] and the recurrent
side's [da_r, da_z, dq] share da_r and da_z, so both live in one buffer
[dq, da_r, da_z, da_n] (T, B, 4H): the input side is its last 3H columns (torch's order),
the recurrent side its first 3H, whose order n, r, z is matched by taking W_hh's row
blocks in that order (and putting dW_hh, db_hh back into torch's order at the end).

The sigmoid is computed as sigmoid(a) = (1 + tanh(a / 2)) / 2 (no exp that could
overflow); the halving is folded into the r, z rows of the weights and biases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .driver import StackShape, block_steps, step_buffer, time_ordered
from .linalg import affine_operands, matmul

__all__ = ["GRUSpec", "GRU"]


@dataclass(frozen=True)
class GRUSpec(StackShape):
    """The structural arguments of ``torch.nn.GRU`` that shape the computation."""

    input_size: int
    hidden_size: int
    num_layers: int = 1
    bias: bool = True
    bidirectional: bool = False


class GRU:
    """The GRU equations for ``scratch.driver``: one state, h, which is also the output."""

    def __init__(self, spec: GRUSpec):
        self.spec = spec
        self.state_sizes = (spec.hidden_size,)
        self.param_names = tuple(self.param_shapes(1))
        self._half: dict = {}

    def param_shapes(self, input_size: int) -> dict[str, tuple[int, ...]]:
        H = self.spec.hidden_size
        shapes = {"weight_ih": (3 * H, input_size), "weight_hh": (3 * H, H)}
        if self.spec.bias:
            shapes.update(bias_ih=(3 * H,), bias_hh=(3 * H,))
        return shapes

    def gate_scale(self, dtype) -> np.ndarray:
        """(3H,): 1/2 on the r and z rows (sigmoid(a) = (1 + tanh(a/2)) / 2), 1 on n."""
        if dtype not in self._half:
            H = self.spec.hidden_size
            scale = np.full(3 * H, 0.5, dtype=dtype)
            scale[2 * H :] = 1
            self._half[dtype] = scale
        return self._half[dtype]

    def tape(self, w, xs, init, out=None):
        return GRUTape(self, w, xs, init, out)


class GRUTape:
    """One direction of one GRU layer.

    Cache: ``states`` = (hs (T+1, B, H),); the gates after their activation, r, z and n,
    each a contiguous (T, B, H) block of one (3, T, B, H) buffer; q = h W_hn^T + b_hn
    (T, B, H). Processing order, step s at index s.

    Why gate-major, not (T, B, 3H) as the weights stack them: NumPy runs an elementwise
    call whose operands are all contiguous and of one shape as one flat loop, but a gate
    that is a column slice of a wider row (B rows of H, H apart from the next) goes
    through its general iterator, measured 2-4x slower per call at these sizes (B = 32 to
    64, H = 128 to 256). Every step reads r, z and n several times; stored apart, each is
    one flat block. The input projection writes them with one product per gate.
    """

    def __init__(self, cell: GRU, w: dict, xs: np.ndarray, init: tuple, hs=None):
        T, B, _ = xs.shape
        H, dt = cell.spec.hidden_size, xs.dtype
        H2 = 2 * H
        scale = cell.gate_scale(dt)
        # Input projection: [r, z, n] = (xs W_ih^T + b_ih + [b_hr, b_hz, 0]) * scale, a block
        # of steps at a time (``step``; why blocks: ``LSTMTape.__init__``), one product per
        # gate into its own block of the gates buffer; the halving of the r, z columns
        # applied to the small operands (exact: a power of two), the bias riding in the
        # GEMM (scratch.linalg.affine_operands). Each step overwrites its rows with r, z, n.
        bias, self._b_hn = None, None
        if "bias_ih" in w:
            bias = w["bias_ih"].copy()
            bias[:H2] += w["bias_hh"][:H2]
            bias *= scale
            # b_hn repeated over the B rows, so that q = h W_hn^T + b_hn adds no broadcast row
            # (why: LSTMTape.__init__'s scale and shift)
            self._b_hn = np.broadcast_to(w["bias_hh"][H2:], (B, H)).copy()
        self._x1, w1 = affine_operands(xs, np.multiply(w["weight_ih"].T, scale), bias)
        self._w1 = [np.ascontiguousarray(w1[:, k * H : (k + 1) * H]) for k in range(3)]
        self._proj_block = block_steps(B * 3 * H)
        self._gates = np.empty((3, T, B, H), dtype=dt)
        self._r, self._z, self._n = self._gates
        if hs is None:
            hs = np.empty((T + 1, B, H), dtype=dt)
        hs[0] = init[0]
        self.states = (hs,)
        self._q = np.empty((T, B, H), dtype=dt)
        # Forward-only: (W_hh * [1/2, 1/2, 1])^T gate by gate, a contiguous (3, H, H) stack
        # (W_g[k] = (W_h{r,z,n} * scale)^T), and the gate-major (3, B, H) buffer that the one
        # stacked product h W_g writes: [h W_hr^T / 2, h W_hz^T / 2, h W_hn^T], each gate a
        # contiguous (B, H) block. Why not one (B, H) x (H, 3H) product into a (B, 3H) row:
        # its gates would be column slices (NumPy's slow strided path, three calls a step), and
        # OpenBLAS runs the three (B, H) x (H, H) products faster than the wide one at B = 32,
        # H = 128 (29 against 36 us, measured; equal at B = 64, H = 256).
        self._w_hh_g = np.multiply(w["weight_hh"].reshape(3, H, H).transpose(0, 2, 1), scale.reshape(3, 1, H),
                                   out=np.empty((3, H, H), dtype=dt))
        self._rec = np.empty((3, B, H), dtype=dt)
        self._rec_r, self._rec_z, self._rec_n = self._rec
        self._tmp = np.empty((B, H), dtype=dt)

    def step(self, s: int) -> None:
        hs = self.states[0]
        if s % self._proj_block == 0:  # the input projection of this block of steps, gate by gate
            # One contiguous copy of the block's inputs if they are a view (no bias: the
            # reverse direction's x[::-1], a unit's rows), not one per gate's product.
            x1 = np.ascontiguousarray(self._x1[s : s + self._proj_block])
            for k in range(3):
                matmul(x1, self._w1[k], out=self._gates[k, s : s + self._proj_block])
        h = hs[s]
        np.matmul(h, self._w_hh_g, out=self._rec)  # [h W_hr^T / 2, h W_hz^T / 2, h W_hn^T] (C-ordered: never sgemv_t)
        r, z, n, q = self._r[s], self._z[s], self._n[s], self._q[s]
        for gate, rec in ((r, self._rec_r), (z, self._rec_z)):
            gate += rec
            np.tanh(gate, out=gate)
            gate *= 0.5
            gate += 0.5  # r, z = sigmoid(.) = (1 + tanh(./2)) / 2
        if self._b_hn is None:
            np.copyto(q, self._rec_n)
        else:
            np.add(self._rec_n, self._b_hn, out=q)  # q = h W_hn^T + b_hn
        np.multiply(r, q, out=self._tmp)
        n += self._tmp
        np.tanh(n, out=n)  # n = tanh(x W_in^T + b_in + r * q)
        tmp = self._tmp  # (h, h' are rows of the layer's output buffer: strided when bidirectional)
        np.subtract(h, n, out=tmp)
        tmp *= z
        np.add(n, tmp, out=hs[s + 1])  # h' = n + z * (h - n)

    def end_forward(self) -> None:
        del self._w_hh_g, self._rec, self._rec_r, self._rec_z, self._rec_n, self._tmp, self._x1, self._w1, self._b_hn

    def begin_backward(self, w: dict, reverse: bool = False) -> None:
        _, T, B, H = self._gates.shape
        dt = self._gates.dtype
        # The local derivatives (``_local_derivatives``) of one block of steps at a time.
        self._block = block_steps(B * 4 * H)
        K = min(self._block, T)
        self._f = np.empty((K, B, 4 * H), dtype=dt)  # [dq, da_r, da_z, da_n] / dh'
        self._t = np.empty((3, K, B, H), dtype=dt)  # contiguous temporaries of the block
        self._lo = T  # the block in _f starts at step _lo (none yet)
        self._reverse = reverse
        # [dq, da_r, da_z, da_n] (module docstring); time order when reverse (why: driver.step_buffer)
        self._da = step_buffer((T, B, 4 * H), dt, reverse)
        self._e = np.empty((B, 4 * H), dtype=dt)  # [dh', dh', dh', dh'] of one step, contiguous
        self._e4 = self._e.reshape(B, 4, H)
        # W_hh's row blocks in the order n, r, z, matching the recurrent side [dq, da_r, da_z].
        w_hh = w["weight_hh"]
        self._w_hh_nrz = np.concatenate((w_hh[2 * H :], w_hh[: 2 * H]))
        self._w = w
        self._tmp = np.empty((B, H), dtype=dt)

    def _local_derivatives(self, lo: int, hi: int) -> None:
        """The factors of the backward's products for steps lo .. hi-1 (module docstring):

        f = [r (1-z)(1-n^2), q r(1-r) (1-z)(1-n^2), (h-n) z(1-z), (1-z)(1-n^2)]  (n, B, 4H)
        so that [dq, da_r, da_z, da_n] = dh' * f.

        Computed on contiguous (n, B, H) blocks of r, z, n, q; each factor reaches its
        column block of f in one call (a copy for da_n and dq, the last product for da_r
        and da_z). Those four calls, and ``h - n`` when the layer is bidirectional (h is
        then a column slice of the layer's output), take NumPy's slower strided path.
        """
        k = hi - lo
        r, z, n, q = self._r[lo:hi], self._z[lo:hi], self._n[lo:hi], self._q[lo:hi]
        H = r.shape[2]
        f = self._f[:k]
        f_q, f_r, f_z, f_n = (f[..., j * H : (j + 1) * H] for j in range(4))
        t, u, v = self._t[:, :k]
        np.subtract(1, z, out=u)  # 1 - z
        np.multiply(n, n, out=t)
        np.subtract(1, t, out=t)
        t *= u  # da_n / dh' = (1 - z)(1 - n^2)
        np.copyto(f_n, t)
        t *= r  # dq / dh' = r (1 - z)(1 - n^2)
        np.copyto(f_q, t)
        np.subtract(1, r, out=v)
        v *= q
        np.multiply(v, t, out=f_r)  # da_r / dh' = dq / dh' * q (1 - r)  =  da_n / dh' * q r(1 - r)
        u *= z  # z (1 - z)
        np.subtract(self.states[0][lo:hi], n, out=v)  # h entering step s
        np.multiply(v, u, out=f_z)  # da_z / dh' = (h - n) z(1 - z)

    def backward_step(self, s: int, d: list) -> list:
        if s < self._lo:  # entering a new block (steps are walked backwards): prepare it
            self._lo = max(0, s + 1 - self._block)
            self._local_derivatives(self._lo, s + 1)
        dh = d[0]  # the driver's own array: overwritten below (the protocol allows it)
        self._e4[...] = dh[:, None, :]  # dh' in each of the four column blocks (why: LSTMTape.begin_backward)
        np.multiply(self._e, self._f[s - self._lo], out=self._da[s])  # [dq, da_r, da_z, da_n] = dh' * f
        np.multiply(dh, self._z[s], out=self._tmp)  # the direct path h' = ... + z * h
        H3 = self._w_hh_nrz.shape[0]
        matmul(self._da[s, :, :H3], self._w_hh_nrz, out=dh)  # [dq, da_r, da_z] [W_hn; W_hr; W_hz]
        dh += self._tmp  # dh = dh' * z + [da_r, da_z, dq] W_hh
        return [dh]

    def weight_grads(self, xs: np.ndarray):
        """With dax = [da_r, da_z, da_n] and dah = [da_r, da_z, dq] over all stacked (time,
        batch) rows: dW_ih = dax^T xs, dW_hh = dah^T h_prev, db_ih = sum dax, db_hh = sum dah,
        dxs = dax W_ih, one product each."""
        w = self._w
        # h entering step s pairs with da_s; all three in time order for the reverse direction
        da, xs, h_prev = time_ordered(self._reverse, self._da, xs, self.states[0][:-1])
        del self._f, self._t, self._da, self._e, self._e4, self._w_hh_nrz, self._w, self._tmp
        T, B, H4 = da.shape
        H = H4 // 4
        da2 = da.reshape(T * B, H4)
        dax, dah_nrz = da2[:, H:], da2[:, : 3 * H]  # views: [da_r, da_z, da_n] and [dq, da_r, da_z]

        def torch_order(g):  # rows n, r, z -> r, z, n
            return np.concatenate((g[H:], g[:H]))

        grads = {
            "weight_ih": dax.T @ xs.reshape(T * B, -1),
            "weight_hh": torch_order(dah_nrz.T @ h_prev.reshape(T * B, H)),
        }
        if "bias_ih" in w:
            db = da2.sum(axis=0)  # [sum dq, sum da_r, sum da_z, sum da_n]: one pass for both biases
            grads["bias_ih"] = db[H:].copy()
            grads["bias_hh"] = torch_order(db[: 3 * H])
        dx = matmul(da[..., H:], w["weight_ih"])
        return (dx[::-1] if self._reverse else dx), grads
