"""Planted mistakes in scratch's two extensions of the gated contract, ``forward(...,
lengths=...)`` and ``backward(..., truncate=k)``, which ``tests/test_gated_lengths_truncation.py``
must reject (``meta_tests/test_gated_extensions.py`` proves it), and one correct variant it must
accept.

Variable lengths (wrapping scratch's LSTM / GRU, so everything else is right):

- ``*IgnoresLengths``: accepts ``lengths`` and runs all T steps of every sequence.
- ``*MasksOutputsOnly``: runs all T steps, then zeroes the outputs past each length (and the
  upstream gradients there): the outputs look right, but h_n (and c_n) is the state at step
  T - 1, not at each sequence's own last step, and the reverse direction starts at T - 1.

Truncated BPTT, a chain of scratch's cells (one layer, one direction, no projection; other
configurations are declined with NotImplementedError), cutting the carried gradients at
processing steps chosen by a rule:

- ``*ChainTruncated``: the states entering steps k, 2k, ... cut: CORRECT (the control: the
  chain itself is right, so a rejection of the others is their cut's fault).
- ``*IgnoresTruncate``: scratch's layer with ``truncate`` accepted and ignored (full BPTT).
- ``LSTMTruncateKeepsCellState``: cuts h but carries c across the boundary (a common slip:
  detaching ``h`` alone when the LSTM's state is the pair (h, c)).
- ``*TruncateOffByOne``: cuts the states entering steps k + 1, 2k + 1, ...
"""

from __future__ import annotations

import numpy as np

from rnn_parity.scratch import GRU, LSTM, GRUCell, LSTMCell


# ---------------------------------------------------------------------------------------
# Variable lengths.
# ---------------------------------------------------------------------------------------
class LSTMIgnoresLengths(LSTM):
    def forward(self, x, hx=None, *, lengths=None):
        return super().forward(x, hx)


class GRUIgnoresLengths(GRU):
    def forward(self, x, h0=None, *, lengths=None):
        return super().forward(x, h0)


def _padded(x, lengths, batch_first):
    """(B, T) or (T, B) mask of the time steps past each length, None without lengths."""
    if lengths is None:
        return None
    T = x.shape[1 if batch_first else 0]
    mask = np.arange(T)[:, None] >= np.asarray(lengths)[None, :]  # (T, B)
    return mask.T if batch_first else mask


class _MasksOutputsOnly:
    def _mask_forward(self, out, lengths, x):
        self._mask = _padded(x, lengths, self.batch_first)
        out = np.array(out)
        if self._mask is not None:
            out[self._mask] = 0
        return out

    def _mask_backward(self, d_output):
        d_output = np.array(d_output)  # a copy: never write into the caller's array
        if self._mask is not None:
            d_output[self._mask] = 0
        return d_output


class LSTMMasksOutputsOnly(_MasksOutputsOnly, LSTM):
    def forward(self, x, hx=None, *, lengths=None):
        out, finals = super().forward(x, hx)
        return self._mask_forward(out, lengths, x), finals

    def backward(self, d_output, d_h_n=None, d_c_n=None, *, truncate=None):
        return super().backward(self._mask_backward(d_output), d_h_n, d_c_n, truncate=truncate)


class GRUMasksOutputsOnly(_MasksOutputsOnly, GRU):
    def forward(self, x, h0=None, *, lengths=None):
        out, h_n = super().forward(x, h0)
        return self._mask_forward(out, lengths, x), h_n

    def backward(self, d_output, d_h_n=None, *, truncate=None):
        return super().backward(self._mask_backward(d_output), d_h_n, truncate=truncate)


# ---------------------------------------------------------------------------------------
# Truncated BPTT.
# ---------------------------------------------------------------------------------------
class LSTMIgnoresTruncate(LSTM):
    def backward(self, d_output, d_h_n=None, d_c_n=None, *, truncate=None):
        return super().backward(d_output, d_h_n, d_c_n)


class GRUIgnoresTruncate(GRU):
    def backward(self, d_output, d_h_n=None, *, truncate=None):
        return super().backward(d_output, d_h_n)


def cut_at_multiples(s: int, k: int) -> bool:
    """The correct rule: the states entering processing steps k, 2k, ... are detached."""
    return s > 0 and s % k == 0


def cut_one_late(s: int, k: int) -> bool:
    """Off by one: steps k + 1, 2k + 1, ..."""
    return s > 1 and (s - 1) % k == 0


class _CellChain:
    """One layer, one direction, T cell steps of scratch's cell; backward chains the cells'
    backward and cuts the carried gradient of state j where ``cuts[j](s, k)`` says so
    (s the processing step whose incoming state it is)."""

    cell_cls: type
    layer_cls: type
    cuts: tuple  # one rule per state: (h,) or (h, c)

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, bidirectional=False,
                 proj_size=0, *, dtype=np.float64):
        if num_layers != 1 or bidirectional or proj_size:
            raise NotImplementedError("the planted cell chain is one layer, one direction, no projection")
        self.input_size, self.hidden_size, self.bias, self.batch_first = input_size, hidden_size, bias, batch_first
        self.params = self.layer_cls(input_size, hidden_size, bias=bias, dtype=dtype).params
        self.grads: dict = {}

    def _forward(self, x, init: tuple, lengths):
        if lengths is not None:
            raise NotImplementedError("the planted cell chain has no variable lengths")
        xt = np.swapaxes(x, 0, 1) if self.batch_first else x
        cell_params = {k.removesuffix("_l0"): v for k, v in self.params.items()}
        n = len(init)
        states = None if all(v is None for v in init) else tuple(v[0] for v in init)  # each (B, H)
        self._cells, outs = [], []
        for t in range(xt.shape[0]):
            cell = self.cell_cls(self.input_size, self.hidden_size, bias=self.bias, dtype=xt.dtype)
            cell.params = cell_params
            new = cell.forward(xt[t], None if states is None else states if n > 1 else states[0])
            states = tuple(new) if n > 1 else (new,)
            self._cells.append(cell)
            outs.append(states[0])
        out = np.stack(outs)
        return (np.swapaxes(out, 0, 1) if self.batch_first else out), tuple(s[None] for s in states)

    def _backward(self, d_output, d_finals: tuple, truncate):
        d_out = np.swapaxes(d_output, 0, 1) if self.batch_first else d_output
        carry = [np.array(g[0]) for g in d_finals]
        dx, grads = [None] * len(self._cells), {}
        for s in range(len(self._cells) - 1, -1, -1):
            d_new = [carry[0] + d_out[s], *carry[1:]]
            if len(carry) > 1:
                dxs, d_old = self._cells[s].backward(*d_new)
            else:
                dxs, d_old = self._cells[s].backward(d_new[0])
                d_old = (d_old,)
            dx[s] = dxs
            for k, g in self._cells[s].grads.items():
                grads[f"{k}_l0"] = grads.get(f"{k}_l0", 0) + g
            carry = [np.zeros_like(g) if truncate and cut(s, truncate) else g for g, cut in zip(d_old, self.cuts)]
        self.grads = grads
        dx = np.stack(dx)
        return (np.swapaxes(dx, 0, 1) if self.batch_first else dx), tuple(c[None] for c in carry)


class _LSTMChain(_CellChain):
    cell_cls, layer_cls = LSTMCell, LSTM

    def forward(self, x, hx=None, *, lengths=None):
        out, (h_n, c_n) = self._forward(x, (None, None) if hx is None else hx, lengths)
        return out, (h_n, c_n)

    def backward(self, d_output, d_h_n=None, d_c_n=None, *, truncate=None):
        dx, (dh0, dc0) = self._backward(d_output, (d_h_n, d_c_n), truncate)
        return dx, (dh0, dc0)


class _GRUChain(_CellChain):
    cell_cls, layer_cls = GRUCell, GRU

    def forward(self, x, h0=None, *, lengths=None):
        out, (h_n,) = self._forward(x, (h0,), lengths)
        return out, h_n

    def backward(self, d_output, d_h_n=None, *, truncate=None):
        dx, (dh0,) = self._backward(d_output, (d_h_n,), truncate)
        return dx, dh0


class LSTMChainTruncated(_LSTMChain):
    """CORRECT: h and c cut entering steps k, 2k, ..."""

    cuts = (cut_at_multiples, cut_at_multiples)


class GRUChainTruncated(_GRUChain):
    """CORRECT."""

    cuts = (cut_at_multiples,)


class LSTMTruncateKeepsCellState(_LSTMChain):
    cuts = (cut_at_multiples, lambda s, k: False)


class LSTMTruncateOffByOne(_LSTMChain):
    cuts = (cut_one_late, cut_one_late)


class GRUTruncateOffByOne(_GRUChain):
    cuts = (cut_one_late,)
