"""The pure-function API: a spec, a params dict and arrays in; arrays out. No validation
(that is ``scratch.modules``' job); everything time-major (T, B, ...).

    forward(spec, params, x, h0, lengths=None)             -> (output, h_n, cache)
    backward(spec, params, cache, d_out, d_h_n, truncate=None) -> (dx, dh0, grads)

The spec says which cell: ``RNNSpec`` (Elman, ``scratch.elman``), ``LSTMSpec``
(``scratch.lstm``) or ``GRUSpec`` (``scratch.gru``); the recurrence itself is
``scratch.driver``. For the LSTM, h0, h_n, d_h_n and dh0 are (h, c) pairs, as in torch.
One Elman step (the RNNCell) is ``cell_forward`` / ``cell_backward``.
"""

from __future__ import annotations

import numpy as np

from . import driver
from .elman import NONLINEARITIES, Elman, RNNSpec, cell_backward, cell_forward
from .gru import GRU, GRUSpec
from .lstm import LSTM, LSTMSpec

__all__ = [
    "RNNSpec",
    "LSTMSpec",
    "GRUSpec",
    "NONLINEARITIES",
    "make_cell",
    "param_shapes",
    "cell_forward",
    "cell_backward",
    "forward",
    "backward",
]

_CELLS = {RNNSpec: Elman, LSTMSpec: LSTM, GRUSpec: GRU}


def make_cell(spec):
    """The cell (equations) a spec describes, for ``scratch.driver``."""
    return _CELLS[type(spec)](spec)


def param_shapes(spec) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the torch module's ``named_parameters()``, in torch's order."""
    return driver.param_shapes(make_cell(spec))


def forward(spec, params: dict, x: np.ndarray, h0, lengths=None):
    """x (T, B, I), h0 (L*D, B, H) (LSTM: (h0, c0)) -> (output (T, B, D*H), h_n, cache).

    ``lengths`` (B,) ints in [1, T], optional: sequence b is x[:lengths[b], b]. Outputs
    past each length are zero and h_n is each sequence's state at its own last valid
    step (the reverse direction starts there), as with torch's packed sequences.
    """
    cell = make_cell(spec)
    paired = len(cell.state_sizes) > 1
    out, finals, cache = driver.forward(cell, params, x, tuple(h0) if paired else (h0,), lengths)
    return out, (tuple(finals) if paired else finals[0]), cache


def backward(spec, params: dict, cache, d_out: np.ndarray, d_h_n, truncate=None):
    """d_out (T, B, D*H), d_h_n (L*D, B, H) (LSTM: (d_h_n, d_c_n)) -> (dx, dh0, grads).

    ``truncate=k``: truncated BPTT, the hidden state detached every k steps.
    """
    paired = len(cache.cell.state_sizes) > 1
    dx, d_init, grads = driver.backward(params, cache, d_out, tuple(d_h_n) if paired else (d_h_n,), truncate)
    return dx, (tuple(d_init) if paired else d_init[0]), grads
