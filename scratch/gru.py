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
the input side (one GEMM for all T steps) while h W_hh^T + [0, 0, b_hn] is formed per step.

Backward, given dh' (total gradient reaching h', B x H)::

    da_n = dh' * (1 - z) * (1 - n^2)                        tanh'(a) = 1 - n^2 from n
    dq   = da_n * r
    da_r = da_n * q * r (1 - r)                             sigmoid'(a) = s (1 - s) from s
    da_z = dh' * (h - n) * z (1 - z)
    carried back: dh = dh' * z + [da_r, da_z, dq] W_hh
    dx = [da_r, da_z, da_n] W_ih;  dW_ih = sum [da_r, da_z, da_n]^T x;  db_ih = sum [da_r, da_z, da_n]
    dW_hh = sum [da_r, da_z, dq]^T h;  db_hh = sum [da_r, da_z, dq]

Every one of these is dh' times a factor that depends only on the forward pass, so the
backward computes the factors for all T steps at once (``GRUTape.begin_backward``) and
the loop is two broadcast products and one GEMM per step.

The sigmoid is computed as sigmoid(a) = (1 + tanh(a / 2)) / 2 (no exp that could
overflow); the halving is folded into the r, z rows of the weights and biases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .driver import StackShape
from .linalg import matmul

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

    Cache: ``states`` = (hs (T+1, B, H),); the gates after their activation, [r, z, n]
    (T, B, 3H); q = h W_hn^T + b_hn (T, B, H). Processing order, step s at index s.
    """

    def __init__(self, cell: GRU, w: dict, xs: np.ndarray, init: tuple, hs=None):
        T, B, _ = xs.shape
        H, dt = cell.spec.hidden_size, xs.dtype
        H2 = 2 * H
        # Input projection of all T steps, one GEMM: gates = xs W_ih^T + b_ih + [b_hr, b_hz, 0],
        # with the r, z columns halved. Each step overwrites its row with [r, z, n].
        gates = matmul(xs, w["weight_ih"].T)  # (scratch.linalg: why not plain @)
        self._b_hn = None
        if "bias_ih" in w:
            gates += w["bias_ih"]
            gates[..., :H2] += w["bias_hh"][:H2]
            self._b_hn = w["bias_hh"][H2:]
        gates[..., :H2] *= 0.5
        if hs is None:
            hs = np.empty((T + 1, B, H), dtype=dt)
        hs[0] = init[0]
        self.states = (hs,)
        self._gates = gates
        self._rz = gates[..., :H2]
        self._r, self._z, self._n = (gates[..., k * H : (k + 1) * H] for k in range(3))
        self._q = np.empty((T, B, H), dtype=dt)
        # Forward-only: (W_hh * [1/2, 1/2, 1])^T, contiguous (H, 3H); step buffers.
        self._w_hh_t = np.multiply(w["weight_hh"].T, cell.gate_scale(dt), out=np.empty((H, 3 * H), dtype=dt))
        self._rec = np.empty((B, 3 * H), dtype=dt)
        self._rec_rz, self._rec_n = self._rec[:, :H2], self._rec[:, H2:]
        self._tmp = np.empty((B, H), dtype=dt)

    def step(self, s: int) -> None:
        hs = self.states[0]
        h = hs[s]
        np.matmul(h, self._w_hh_t, out=self._rec)  # [h W_hr^T / 2, h W_hz^T / 2, h W_hn^T]
        rz = self._rz[s]
        rz += self._rec_rz
        np.tanh(rz, out=rz)
        rz *= 0.5
        rz += 0.5  # r, z = sigmoid(.) = (1 + tanh(./2)) / 2
        q = self._q[s]
        if self._b_hn is None:
            np.copyto(q, self._rec_n)
        else:
            np.add(self._rec_n, self._b_hn, out=q)  # q = h W_hn^T + b_hn
        n = self._n[s]
        np.multiply(self._r[s], q, out=self._tmp)
        n += self._tmp
        np.tanh(n, out=n)  # n = tanh(x W_in^T + b_in + r * q)
        h_new = hs[s + 1]
        np.subtract(h, n, out=h_new)
        h_new *= self._z[s]
        h_new += n  # h' = n + z * (h - n)

    def end_forward(self) -> None:
        del self._w_hh_t, self._rec, self._rec_rz, self._rec_n, self._tmp

    def begin_backward(self, w: dict) -> None:
        """The local derivatives of every step, all T at once (see the module docstring):
        fx = [q r(1-r) (1-z)(1-n^2), (h-n) z(1-z), (1-z)(1-n^2)]  so  [da_r, da_z, da_n] = dh' * fx
        fh = [q r(1-r) (1-z)(1-n^2), (h-n) z(1-z), r (1-z)(1-n^2)]  so  [da_r, da_z, dq] = dh' * fh
        """
        gates, q, hs = self._gates, self._q, self.states[0]
        T, B, H3 = gates.shape
        H = H3 // 3
        r, z, n = self._r, self._z, self._n
        fx, fh = np.empty_like(gates), np.empty_like(gates)
        fx_r, fx_z, fx_n = (fx[..., k * H : (k + 1) * H] for k in range(3))
        one_minus_z = np.subtract(1, z)
        np.multiply(n, n, out=fx_n)
        np.subtract(1, fx_n, out=fx_n)
        fx_n *= one_minus_z  # da_n / dh' = (1 - z)(1 - n^2)
        np.subtract(1, r, out=fx_r)
        fx_r *= r
        fx_r *= q
        fx_r *= fx_n  # da_r / dh' = da_n / dh' * q * r(1 - r)
        np.subtract(hs[:-1], n, out=fx_z)  # h entering step s
        one_minus_z *= z
        fx_z *= one_minus_z  # da_z / dh' = (h - n) z(1 - z)
        fh[..., : 2 * H] = fx[..., : 2 * H]
        np.multiply(fx_n, r, out=fh[..., 2 * H :])  # dq / dh' = r (1 - z)(1 - n^2)
        self._fx3, self._fh3 = fx.reshape(T, B, 3, H), fh.reshape(T, B, 3, H)
        self._dax, self._dah = np.empty_like(gates), np.empty_like(gates)
        self._dax3, self._dah3 = self._dax.reshape(T, B, 3, H), self._dah.reshape(T, B, 3, H)
        self._w = w
        self._w_hh = w["weight_hh"]
        self._tmp = np.empty((B, H), dtype=gates.dtype)

    def backward_step(self, s: int, d: list) -> list:
        dh = d[0]
        dh3 = dh[:, None, :]
        np.multiply(dh3, self._fx3[s], out=self._dax3[s])  # [da_r, da_z, da_n]
        np.multiply(dh3, self._fh3[s], out=self._dah3[s])  # [da_r, da_z, dq]
        dh_prev = matmul(self._dah[s], self._w_hh)
        np.multiply(dh, self._z[s], out=self._tmp)
        dh_prev += self._tmp  # dh = dh' * z + [da_r, da_z, dq] W_hh
        return [dh_prev]

    def weight_grads(self, xs: np.ndarray):
        """dW_ih = dax^T xs, dW_hh = dah^T h_prev, db_ih = sum dax, db_hh = sum dah,
        dxs = dax W_ih: one product each over all stacked (time, batch) rows."""
        dax, dah, w, hs = self._dax, self._dah, self._w, self.states[0]
        del self._fx3, self._fh3, self._dax, self._dah, self._dax3, self._dah3, self._w, self._w_hh, self._tmp
        T, B, H3 = dax.shape
        dax2, dah2 = dax.reshape(T * B, H3), dah.reshape(T * B, H3)
        grads = {
            "weight_ih": dax2.T @ xs.reshape(T * B, -1),
            "weight_hh": dah2.T @ hs[:-1].reshape(T * B, H3 // 3),
        }
        if "bias_ih" in w:
            grads["bias_ih"] = dax2.sum(axis=0)
            grads["bias_hh"] = dah2.sum(axis=0)
        return matmul(dax, w["weight_ih"]), grads
