"""Correct RNNs that compute the same function with different floating-point arithmetic; the
suite must accept every one of them.

A parity harness that accepts only torch's own arithmetic is a harness with false alarms.
Each class here is a full ``torch.nn.RNN``-contract implementation (layers, directions,
``batch_first``, bias, ``h0=None``, float32 and float64) in the row-major style
(a batch is a matrix whose ROWS are samples), parametrized by its formula choices:

    tanh      "np"        np.tanh(a)                          (correctly rounded: eps |h|)
              "exp"       (exp(a) - exp(-a)) / (exp(a) + exp(-a))
              "sigmoid"   2 * sigmoid(2a) - 1
              "one_minus" 1 - 2 / (exp(2a) + 1)
    relu      "maximum"   np.maximum(a, 0)
              "mask"      a * (a > 0)
              "where"     np.where(a > 0, a, 0)
    dtanh     "h"         1 - h**2            (from the computed h, as torch does)
              "tanh_a"    1 - np.tanh(a)**2   (recomputed from the pre-activation)
              "cosh"      1 / np.cosh(a)**2
    matmul    "xwt"       x @ W.T             (row-major)
              "wxt"       (W @ x.T).T         (the other association and layout)
              "einsum"    np.einsum
    gemm      "per_step"  one product per time step (the recurrence as written)
              "batched"   the input products of all steps in one GEMM forward; in
                          backward dx, dW_ih, dW_hh, db as one GEMM / sum over T*B rows
    time_sum  "reverse"   gradients of shared weights summed in BPTT order (last step first)
              "forward"   the per-step terms kept and summed in processing order afterwards

The three exp formulas are why the tolerance's per-evaluation rounding of tanh is absolute
(``core/tolerance.py``): exp(+-a) ~ 1 rounds by eps absolutely, so at tiny activations
their h errs by ~eps, not eps |h|. Overflow: the strategies bound every tanh pre-activation
by weight_scale <= 3 (``core/cases.py``), so exp(2a) <= e^6; nothing is filtered.

``Baseline`` makes the first choice of every axis; each ``Tanh*``, ``Relu*``, ``Deriv*``,
``Product*``, ``Batched*`` and ``ForwardTimeSum`` class changes exactly one axis from it
(a failure names the choice), and the ``Mixed*`` classes combine choices of every axis.
``VARIANTS`` lists them all (``meta_tests/test_variants.py``).
"""

from __future__ import annotations

import numpy as np


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


TANH = {
    "np": np.tanh,
    "exp": lambda a: (np.exp(a) - np.exp(-a)) / (np.exp(a) + np.exp(-a)),
    "sigmoid": lambda a: 2 * _sigmoid(2 * a) - 1,
    "one_minus": lambda a: 1 - 2 / (np.exp(2 * a) + 1),
}
RELU = {
    "maximum": lambda a: np.maximum(a, 0),
    "mask": lambda a: a * (a > 0),
    "where": lambda a: np.where(a > 0, a, 0),
}
DTANH = {  # (a, h) -> tanh'(a)
    "h": lambda a, h: 1 - h**2,
    "tanh_a": lambda a, h: 1 - np.tanh(a) ** 2,
    "cosh": lambda a, h: 1 / np.cosh(a) ** 2,
}
# The three products of an Elman layer, for x (N, K), W (M, K), g (N, M):
#   lin(x, W) = x W^T (N, M),  back(g, W) = g W (N, K),  outer(g, x) = g^T x (M, K).
MATMUL = {
    "xwt": dict(lin=lambda x, w: x @ w.T, back=lambda g, w: g @ w, outer=lambda g, x: g.T @ x),
    "wxt": dict(lin=lambda x, w: (w @ x.T).T, back=lambda g, w: (w.T @ g.T).T, outer=lambda g, x: (x.T @ g).T),
    "einsum": dict(lin=lambda x, w: np.einsum("nk,mk->nm", x, w), back=lambda g, w: np.einsum("nm,mk->nk", g, w),
                   outer=lambda g, x: np.einsum("nm,nk->mk", g, x)),
}


class VariantRNN:
    """The Elman RNN, ``h_t = phi(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``, with its BPTT,
    written with the formula choices of the class attributes below (module docstring)."""

    tanh = "np"
    relu = "maximum"
    dtanh = "h"
    matmul = "xwt"
    gemm = "per_step"
    time_sum = "reverse"

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, bidirectional=False):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.I, self.H, self.L = input_size, hidden_size, num_layers
        self.nonlinearity, self.bias = nonlinearity, bias
        self.batch_first, self.D = batch_first, 2 if bidirectional else 1
        self.suffixes = ["", "_reverse"][: self.D]
        rng = np.random.default_rng(0)
        k = 1 / np.sqrt(hidden_size)
        self.params = {}
        for layer in range(num_layers):
            n_in = input_size if layer == 0 else self.D * hidden_size
            for sfx in self.suffixes:
                self.params[f"weight_ih_l{layer}{sfx}"] = rng.uniform(-k, k, (hidden_size, n_in))
                self.params[f"weight_hh_l{layer}{sfx}"] = rng.uniform(-k, k, (hidden_size, hidden_size))
                if bias:
                    self.params[f"bias_ih_l{layer}{sfx}"] = rng.uniform(-k, k, hidden_size)
                    self.params[f"bias_hh_l{layer}{sfx}"] = rng.uniform(-k, k, hidden_size)
        self.grads = {}
        mm = MATMUL[self.matmul]
        self._lin, self._back, self._outer = mm["lin"], mm["back"], mm["outer"]

    # -- the nonlinearity and its derivative -----------------------------------------------
    def act(self, a):
        return TANH[self.tanh](a) if self.nonlinearity == "tanh" else RELU[self.relu](a)

    def act_grad(self, a, h):
        if self.nonlinearity == "tanh":
            return DTANH[self.dtanh](a, h)
        return (a > 0).astype(a.dtype)  # relu'(0) = 0, as torch

    def _sum_steps(self, terms, zero):
        """Sum per-step terms given in PROCESSING order (as BPTT produced them, last step
        first) in the class's time order."""
        total = zero
        for term in (terms if self.time_sum == "reverse" else terms[::-1]):
            total = total + term
        return total

    # -- forward -----------------------------------------------------------------------
    def forward(self, x, h0=None):
        dtype = x.dtype
        xs = np.swapaxes(x, 0, 1) if self.batch_first else x  # (T, B, I)
        T, B, _ = xs.shape
        if h0 is None:
            h0 = np.zeros((self.L * self.D, B, self.H), dtype=dtype)
        self.tape, h_n, layer_in = [], [], xs
        for layer in range(self.L):
            outs = []
            for d, sfx in enumerate(self.suffixes):
                w_ih, w_hh = self.params[f"weight_ih_l{layer}{sfx}"], self.params[f"weight_hh_l{layer}{sfx}"]
                order = list(range(T - 1, -1, -1)) if d else list(range(T))
                if self.gemm == "batched":  # every step's input product in one GEMM
                    pre = self._lin(layer_in.reshape(T * B, -1), w_ih).reshape(T, B, self.H)
                    if self.bias:
                        pre = pre + self.params[f"bias_ih_l{layer}{sfx}"]
                h = h0[layer * self.D + d]
                hp, aa, hh = [None] * T, [None] * T, [None] * T
                for t in order:
                    if self.gemm == "batched":
                        a = pre[t] + self._lin(h, w_hh)
                        if self.bias:
                            a = a + self.params[f"bias_hh_l{layer}{sfx}"]
                    else:
                        a = self._lin(layer_in[t], w_ih) + self._lin(h, w_hh)
                        if self.bias:
                            a = a + (self.params[f"bias_ih_l{layer}{sfx}"] + self.params[f"bias_hh_l{layer}{sfx}"])
                    hp[t], aa[t] = h, a
                    h = hh[t] = self.act(a)
                self.tape.append((layer, d, sfx, layer_in, np.stack(hp), np.stack(aa), np.stack(hh), order))
                outs.append(np.stack(hh))
                h_n.append(h)
            layer_in = np.concatenate(outs, axis=-1)
        self.shape = (T, B, dtype)
        output = np.swapaxes(layer_in, 0, 1) if self.batch_first else layer_in
        return np.ascontiguousarray(output), np.stack(h_n)

    # -- backward ----------------------------------------------------------------------
    def backward(self, d_output, d_h_n=None):
        T, B, dtype = self.shape
        H, D = self.H, self.D
        d_out = np.swapaxes(d_output, 0, 1) if self.batch_first else d_output  # (T, B, D*H)
        if d_h_n is None:
            d_h_n = np.zeros((self.L * D, B, H), dtype=dtype)
        grads, dh0 = {}, [None] * (self.L * D)
        for layer in range(self.L - 1, -1, -1):
            d_in = None
            for lyr, d, sfx, x, hp, a, h, order in self.tape:
                if lyr != layer:
                    continue
                w_ih, w_hh = self.params[f"weight_ih_l{layer}{sfx}"], self.params[f"weight_hh_l{layer}{sfx}"]
                dy = d_out[:, :, d * H:(d + 1) * H]
                if d_in is None:
                    d_in = np.zeros(x.shape, dtype=dtype)
                carry = d_h_n[layer * D + d]
                da = np.empty((T, B, H), dtype=dtype)
                terms = {"ih": [], "hh": [], "b": []}
                for t in reversed(order):  # BPTT: last processed step first
                    da[t] = (dy[t] + carry) * self.act_grad(a[t], h[t])
                    carry = self._back(da[t], w_hh)
                    if self.gemm == "per_step":
                        terms["ih"].append(self._outer(da[t], x[t]))
                        terms["hh"].append(self._outer(da[t], hp[t]))
                        terms["b"].append(da[t].sum(axis=0))
                        d_in[t] = d_in[t] + self._back(da[t], w_ih)
                dh0[layer * D + d] = carry
                if self.gemm == "per_step":
                    g_ih = self._sum_steps(terms["ih"], np.zeros_like(w_ih))
                    g_hh = self._sum_steps(terms["hh"], np.zeros_like(w_hh))
                    g_b = self._sum_steps(terms["b"], np.zeros(H, dtype=dtype))
                else:  # one GEMM over all T*B rows, in the class's time order
                    steps = list(reversed(order)) if self.time_sum == "reverse" else order
                    A = da[steps].reshape(T * B, H)
                    g_ih = self._outer(A, x[steps].reshape(T * B, -1))
                    g_hh = self._outer(A, hp[steps].reshape(T * B, H))
                    g_b = A.sum(axis=0)
                    d_in = d_in + self._back(da.reshape(T * B, H), w_ih).reshape(d_in.shape)
                grads[f"weight_ih_l{layer}{sfx}"] = g_ih
                grads[f"weight_hh_l{layer}{sfx}"] = g_hh
                if self.bias:
                    grads[f"bias_ih_l{layer}{sfx}"] = g_b
                    grads[f"bias_hh_l{layer}{sfx}"] = g_b.copy()
            d_out = d_in  # the gradient of this layer's input is the one of the layer below's output
        self.grads = grads
        dx = np.swapaxes(d_out, 0, 1) if self.batch_first else d_out
        return np.ascontiguousarray(dx), np.stack(dh0)


def _variant(name: str, doc: str, **choices) -> type:
    for axis, value in choices.items():
        table = {"tanh": TANH, "relu": RELU, "dtanh": DTANH, "matmul": MATMUL,
                 "gemm": {"per_step": 0, "batched": 0}, "time_sum": {"reverse": 0, "forward": 0}}[axis]
        if value not in table:
            raise ValueError(f"{name}: unknown {axis} choice {value!r}")
    return type(name, (VariantRNN,), {**choices, "__doc__": doc, "__module__": __name__, "__qualname__": name})


Baseline = _variant("Baseline", "np.tanh, np.maximum, 1 - h**2, x @ W.T, per-step products, BPTT-order sums.")
# One axis changed from Baseline.
TanhExp = _variant("TanhExp", "tanh = (exp(a) - exp(-a)) / (exp(a) + exp(-a)): the dev false alarm.", tanh="exp")
TanhSigmoid = _variant("TanhSigmoid", "tanh = 2 sigmoid(2a) - 1.", tanh="sigmoid")
TanhOneMinus = _variant("TanhOneMinus", "tanh = 1 - 2 / (exp(2a) + 1).", tanh="one_minus")
ReluMask = _variant("ReluMask", "relu = a * (a > 0).", relu="mask")
ReluWhere = _variant("ReluWhere", "relu = np.where(a > 0, a, 0).", relu="where")
DerivTanhA = _variant("DerivTanhA", "tanh' = 1 - np.tanh(a)**2, from the pre-activation.", dtanh="tanh_a")
DerivCosh = _variant("DerivCosh", "tanh' = 1 / np.cosh(a)**2.", dtanh="cosh")
ProductColumns = _variant("ProductColumns", "(W @ x.T).T: the other association and layout.", matmul="wxt")
ProductEinsum = _variant("ProductEinsum", "every product through np.einsum.", matmul="einsum")
BatchedGemm = _variant("BatchedGemm", "input products and weight gradients as one GEMM over all steps.",
                       gemm="batched")
ForwardTimeSum = _variant("ForwardTimeSum", "gradients of shared weights summed in processing order.",
                          time_sum="forward")
# Every axis at once: each exp-style tanh beside a derivative of another kind.
MixedExpCosh = _variant("MixedExpCosh", "exp tanh, mask relu, 1/cosh^2, einsum, batched, forward sums.",
                        tanh="exp", relu="mask", dtanh="cosh", matmul="einsum", gemm="batched", time_sum="forward")
MixedSigmoidTanhA = _variant("MixedSigmoidTanhA", "sigmoid tanh, where relu, 1 - tanh(a)^2, columns, batched.",
                             tanh="sigmoid", relu="where", dtanh="tanh_a", matmul="wxt", gemm="batched")
MixedOneMinusH = _variant("MixedOneMinusH", "1 - 2/(e^2a + 1) tanh, 1 - h^2, columns, per-step, forward sums.",
                          tanh="one_minus", dtanh="h", matmul="wxt", time_sum="forward")

VARIANTS = (Baseline, TanhExp, TanhSigmoid, TanhOneMinus, ReluMask, ReluWhere, DerivTanhA, DerivCosh,
            ProductColumns, ProductEinsum, BatchedGemm, ForwardTimeSum,
            MixedExpCosh, MixedSigmoidTanhA, MixedOneMinusH)
