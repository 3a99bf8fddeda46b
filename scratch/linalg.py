"""``matmul``: ``a @ b`` for scratch's products, never through OpenBLAS's single-precision
transposed gemv kernel.

Why. NumPy hands a product with a single row or column on one side (matrix x vector) to
BLAS gemv, and a float32 one whose matrix is contiguous along the summed axis to
``sgemv_t``: ``(m, n) @ (n, 1)`` with C-ordered rows, or ``(1, n) @ (n, p)`` with the
matrix column-contiguous (a transposed weight, ``W.T``). The AVX-512 ``sgemv_t`` of
OpenBLAS 0.3.31 (the one in NumPy 2.4's wheels, SkylakeX kernels) adds vector lanes it never
initialized: two slots of its own stack frame, for a summed length of 5 and an output length
of 2 or 3 (mod 4). The lanes are dropped, so the product is right; but when the bytes an
earlier call left in those slots happen to be a signalling NaN (or inf - inf), the
invalid-operation flag is set and NumPy warns "invalid value encountered in matmul" after a
correct product. It is intermittent because it depends on what ran before, not on the data:
with the stack filled with signalling NaNs first it warns every time (input projection
``xs @ W_ih^T`` with hidden_size 1 and batch 2 or 3, input gradient ``da @ W_ih`` with
input_size 1 and hidden_size 5, the GRU's and LSTM's with batch 1, ...). No other gemv
kernel and no gemm reads such lanes (float32 and float64, summed lengths 1 to 64).

What. Exactly the products NumPy would send to ``sgemv_t`` are done as matrix x matrix
instead (gemm, as every other shape is): the single column of ``b`` (row of ``a``) is
padded with a zero column (row) and the extra output column (row) dropped. The result is
the same product, rounded as gemm rounds it; every other product is ``a @ b`` itself.
"""

from __future__ import annotations

import numpy as np

__all__ = ["matmul", "affine", "affine_operands"]


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``a @ b`` (``a`` (..., m, n), ``b`` (n, p) 2-D), written into ``out`` if given.

    A stacked ``a`` (e.g. all T steps' inputs, (T, B, I)) is one (T*B, n) x (n, p) GEMM,
    not the T separate (B, n) x (n, p) calls NumPy's matmul makes for a 3-D operand:
    every row is multiplied by the same ``b``, and one large GEMM keeps the BLAS kernel
    busy where T small ones each pay the call and packing cost (measured 1.2-2x faster).
    A non-contiguous ``a`` (the reverse direction's ``x[::-1]``) is copied to do so.
    """
    if a.ndim > 2:
        shape = a.shape[:-1] + (b.shape[-1],)
        a2 = a.reshape(-1, a.shape[-1])
        if out is None:
            return matmul(a2, b).reshape(shape)
        try:  # write straight into ``out`` when it can be viewed as 2-D
            out2 = np.reshape(out, (-1, shape[-1]), copy=False)
        except ValueError:
            out[...] = matmul(a2, b).reshape(shape)
        else:
            matmul(a2, b, out2)
        return out
    if a.dtype == np.float32 and a.shape[-1] > 1:
        item = a.itemsize
        m, p = a.shape[-2], b.shape[-1]
        if p == 1 and m > 1 and a.strides[-1] == item:  # matrix @ column, rows contiguous
            wide = np.zeros((b.shape[0], 2), dtype=b.dtype)
            wide[:, :1] = b
            return _result((a @ wide)[..., :1], out)
        if m == 1 and p > 1 and b.strides[0] == item:  # row @ matrix, columns contiguous
            tall = np.zeros(a.shape[:-2] + (2, a.shape[-1]), dtype=a.dtype)
            tall[..., :1, :] = a
            return _result((tall @ b)[..., :1, :], out)
    if out is None:
        return a @ b
    return np.matmul(a, b, out=out)


def _result(value: np.ndarray, out):
    if out is None:
        return np.ascontiguousarray(value)
    out[...] = value
    return out


def affine(x: np.ndarray, w_t: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """``x @ w_t + bias`` for stacked rows ``x`` (..., n), ``w_t`` (n, p), ``bias`` (p,) or None.

    As one product: the bias is the weight of a constant input 1,
    ``x @ w_t + bias = [x, 1] @ [w_t; bias]``. The GEMM then adds it while each output is
    still in registers, where ``+= bias`` afterwards is one more pass over the whole
    (T, B, p) result (measured 1.2-1.4x faster for 16 to 32 inputs, equal at 256: the
    copy of ``x`` with its column of ones is the cheaper pass when p >= n).
    """
    return matmul(*affine_operands(x, w_t, bias))


def affine_operands(x: np.ndarray, w_t: np.ndarray, bias: np.ndarray | None = None):
    """The operands of ``affine``: ``([x, 1], [w_t; bias])``, or ``(x, w_t)`` without a bias,
    so that a caller can form ``x @ w_t + bias`` a block of rows at a time
    (``matmul(x1[rows], w1)``)."""
    if bias is None:
        return x, w_t
    n = x.shape[-1]
    x1 = np.empty(x.shape[:-1] + (n + 1,), dtype=x.dtype)
    x1[..., :n] = x
    x1[..., n] = 1
    w1 = np.empty((n + 1, w_t.shape[1]), dtype=w_t.dtype)
    w1[:n] = w_t
    w1[n] = bias
    return x1, w1
