"""Plug-ins that break the contract in the ways people do; the harness must say what is wrong.

Each one is scratch.RNN with one thing broken. ``NoBidirectional`` is not broken: it
declines a configuration the allowed way, with NotImplementedError.
"""

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


class UpcastsToFloat64(RNN):
    """Computes in float64 whatever it is given (the contract says: in the given dtype)."""

    def forward(self, x, h0=None):
        self.params = {k: v.astype(np.float64) for k, v in self.params.items()}
        return super().forward(x.astype(np.float64), None if h0 is None else h0.astype(np.float64))


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
