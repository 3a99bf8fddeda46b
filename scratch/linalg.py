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

__all__ = ["matmul"]


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``a @ b`` (``a`` (..., m, n), ``b`` (n, p) 2-D), written into ``out`` if given."""
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
