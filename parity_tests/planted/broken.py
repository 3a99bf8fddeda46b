"""Plug-ins that break the contract in the ways people do; the harness must say what is wrong.

Each one is scratch.RNN with one thing broken. ``NoBidirectional`` is not broken: it
declines a configuration the allowed way, with NotImplementedError.

The hostile ones (after ``BackwardRaises``) break it in ways a single forward and backward
would miss or misreport: a call that never returns, NaN or inf in what is returned,
gradients that add up across backward calls, returned arrays that change afterwards, Python
lists where arrays belong, and a backward that uses a stale forward.
"""

import time

import numpy as np

from rnn_parity.scratch import RNN


class ForwardReturnsNone(RNN):
    def forward(self, x, h0=None):
        super().forward(x, h0)


class OutputTransposed(RNN):
    def forward(self, x, h0=None):
        out, h_n = super().forward(x, h0)
        return out.swapaxes(0, 1), h_n


class MissingGradKey(RNN):
    def backward(self, d_output, d_h_n=None):
        result = super().backward(d_output, d_h_n)
        self.grads.pop("weight_hh_l0")
        return result


class BackwardReturnsNone(RNN):
    def backward(self, d_output, d_h_n=None):
        super().backward(d_output, d_h_n)


class WritesIntoInput(RNN):
    def forward(self, x, h0=None):
        result = super().forward(x, h0)
        x *= 2.0
        return result


class WrongParamNames(RNN):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.params = {k.replace("weight_hh", "weight_rec"): v for k, v in self.params.items()}


class RejectsBatchFirstKeyword:
    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True):
        pass


class NoBidirectional(RNN):
    def __init__(self, *args, bidirectional=False, **kwargs):
        if bidirectional:
            raise NotImplementedError("bidirectional RNNs are not implemented yet")
        super().__init__(*args, bidirectional=bidirectional, **kwargs)


class ForwardRaises(RNN):
    """A crash inside forward: the case fails with the exception, the harness does not."""

    def forward(self, x, h0=None):
        return 1 // 0


class BackwardRaises(RNN):
    def backward(self, d_output, d_h_n=None):
        return {}["cache"]


# ---------------------------------------------------------------------------------------
# Hostile plug-ins (meta_tests/test_contract.py: HOSTILE).
# ---------------------------------------------------------------------------------------
class HangsInForward(RNN):
    """Waits for something that never happens (a lock, a queue, a while loop's condition)."""

    def forward(self, x, h0=None):
        while not getattr(self, "_ready", False):
            time.sleep(0.005)
        return super().forward(x, h0)


class HangsInBackward(RNN):
    def backward(self, d_output, d_h_n=None):
        while True:  # busy, never sleeping: interrupted between bytecodes all the same
            pass


class NaNInOutput(RNN):
    """A 0/0 in one unit of the output (e.g. a normalisation by a norm that is zero)."""

    def forward(self, x, h0=None):
        out, h_n = super().forward(x, h0)
        out[-1, 0, -1] = np.nan
        return out, h_n


class InfInGrad(RNN):
    """An overflow in one element of a weight gradient."""

    def backward(self, d_output, d_h_n=None):
        result = super().backward(d_output, d_h_n)
        self.grads["weight_hh_l0"][0, -1] = np.inf
        return result


class AccumulatesGrads(RNN):
    """``self.grads[k] += g``, with the gradients zeroed once in the constructor (torch's
    ``.grad`` accumulates too, but the contract says each backward sets fresh ones)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._total = None

    def backward(self, d_output, d_h_n=None):
        result = super().backward(d_output, d_h_n)
        if self._total is None:
            self._total = {k: np.zeros_like(v) for k, v in self.grads.items()}
        for k, v in self.grads.items():
            self._total[k] += v
        self.grads = self._total
        return result


class OutputOverwrittenByBackward(RNN):
    """Returns its own output buffer, and backward reuses that buffer as workspace (h * h for
    tanh' = 1 - h^2): the caller's output changes under it."""

    def forward(self, x, h0=None):
        out, h_n = super().forward(x, h0)
        self._out = out
        return out, h_n

    def backward(self, d_output, d_h_n=None):
        result = super().backward(d_output, d_h_n)
        np.multiply(self._out, self._out, out=self._out)
        return result


class WritesIntoKeptInput(RNN):
    """Keeps a reference to x and scales it in place during backward."""

    def forward(self, x, h0=None):
        self._x = x
        return super().forward(x, h0)

    def backward(self, d_output, d_h_n=None):
        result = super().backward(d_output, d_h_n)
        self._x *= 0.5
        return result


class ReturnsLists(RNN):
    """Python lists (``.tolist()``) instead of arrays."""

    def forward(self, x, h0=None):
        out, h_n = super().forward(x, h0)
        return out.tolist(), h_n


class ReturnsTupleOfSteps(RNN):
    """dx as a tuple of per-time-step arrays (``tuple(dx)``) instead of one array."""

    def backward(self, d_output, d_h_n=None):
        dx, dh0 = super().backward(d_output, d_h_n)
        return tuple(dx), dh0


class BackwardUsesFirstForward(RNN):
    """Caches only the first forward (``if self.cache is None: self.cache = ...``): after a
    second forward, backward differentiates the first one."""

    def forward(self, x, h0=None):
        result = super().forward(x, h0)
        if getattr(self, "_first", None) is None:
            self._first = self._cache
        return result

    def backward(self, d_output, d_h_n=None):
        self._cache = self._first
        return super().backward(d_output, d_h_n)


class CarriesHiddenState(RNN):
    """h0=None continues from the last call's h_n instead of zeros (a stateful RNN)."""

    def forward(self, x, h0=None):
        if h0 is None:
            h0 = getattr(self, "_h_n", None)
        out, h_n = super().forward(x, h0)
        self._h_n = h_n.copy()
        return out, h_n


def _openblas_invalid_flag(function="matmul"):
    """What OpenBLAS 0.3.31's float32 sgemv_t does now and then after a correct product
    (scratch/linalg.py): NumPy's "invalid value encountered in matmul" warning (np.dot's:
    "... in dot"), values intact."""
    import warnings

    warnings.warn(f"invalid value encountered in {function}", RuntimeWarning, stacklevel=2)


class SpuriousDotWarning(RNN):
    """As SpuriousMatmulWarning, from np.dot (course code's product): accepted in float32."""

    def forward(self, x, h0=None):
        _openblas_invalid_flag("dot")
        return super().forward(x, h0)


class SpuriousMatmulWarning(RNN):
    """Correct, and its forward warns as OpenBLAS's sgemv_t can after a correct float32 product:
    accepted in float32 (the values are what is judged), a finding in float64, where no
    kernel of this NumPy warns for a correct product."""

    def forward(self, x, h0=None):
        _openblas_invalid_flag()
        return super().forward(x, h0)


class InvalidMatmulNaN(RNN):
    """The same warning from a product that really met an invalid operation: its NaN is reported."""

    def forward(self, x, h0=None):
        _openblas_invalid_flag()
        out, h_n = super().forward(x, h0)
        out[0, 0, 0] = np.nan
        return out, h_n
