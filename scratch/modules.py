"""``RNN``, ``LSTM``, ``GRU`` and their one-step ``*Cell``s: thin, validating shells over
``scratch.functional`` (the pure functions) and ``scratch.driver``.

They follow the implementation contract in the README (the same one a plug-in follows):
parameters live in ``self.params`` under torch's names and are read at every forward;
``backward`` fills ``self.grads`` afresh. Like torch, they accept unbatched input (2-D
for the sequence modules, 1-D for the cells). Every argument is checked
(``scratch.checks``): nothing is cast silently and no caller's array is written to.
"""

from __future__ import annotations

import numpy as np

from . import driver
from . import functional as F
from .checks import (
    as_float_array,
    check_array,
    check_choice,
    check_dtype,
    check_lengths,
    check_not_before_forward,
    check_params,
    check_positive_int,
    check_proj_size,
    check_shape,
    init_params,
)
from .functional import NONLINEARITIES, GRUSpec, LSTMSpec, RNNSpec

__all__ = ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"]


# ---------------------------------------------------------------------------------------
# Sequence modules: RNN, LSTM, GRU.
# ---------------------------------------------------------------------------------------
class _Stack:
    """What RNN, LSTM and GRU share: layout (batch_first, unbatched), checks, the cache.

    Internally everything is time-major (T, B, ...); the initial states are a tuple, one
    array per state (h; and c for the LSTM), named ``_state_names`` in messages.
    """

    _state_names: tuple[str, ...] = ("h0",)
    _kind = "RNN"  # for messages (subclasses, e.g. a plug-in's, keep their base's word)

    def _build(self, spec, batch_first, dtype, seed):
        self.spec = spec
        self.batch_first = bool(batch_first)
        self._cell = F.make_cell(spec)
        self._shapes = driver.param_shapes(self._cell)
        self.params = init_params(self._shapes, spec.hidden_size, dtype, seed)
        self.grads: dict[str, np.ndarray] = {}
        self._cache = None

    def _state_shapes(self, B: int, batched: bool) -> list[tuple[int, ...]]:
        LD = self.spec.num_layers * self.spec.num_directions
        return [(LD, B, n) if batched else (LD, n) for n in self._cell.state_sizes]

    def _forward(self, x, init: tuple, lengths):
        """x as the caller gave it, init one array or None per state -> (out, finals)."""
        spec = self.spec
        x = as_float_array("x", x)
        if x.ndim not in (2, 3):
            raise ValueError(
                f"x must be 3-D {'(B, T, I)' if self.batch_first else '(T, B, I)'} "
                f"or unbatched 2-D (T, I), got {x.ndim}-D with shape {x.shape}"
            )
        if x.shape[-1] != spec.input_size:
            raise ValueError(
                f"x must have input_size={spec.input_size} features in its last axis, "
                f"got shape {x.shape}"
            )
        batched = x.ndim == 3
        # Work time-major internally; these are views, the caller's x is never written.
        xt = x[:, None, :] if not batched else (x.swapaxes(0, 1) if self.batch_first else x)
        T, B, _ = xt.shape
        if T == 0:
            raise ValueError(f"x is an empty sequence (0 time steps), shape {x.shape}")
        if B == 0:
            raise ValueError(f"x is an empty batch (batch size 0), shape {x.shape}")
        check_params(self.params, self._shapes, x.dtype)

        init_t = []
        for name, value, shape in zip(self._state_names, init, self._state_shapes(B, batched)):
            if value is None:
                init_t.append(np.zeros(shape if batched else (shape[0], 1, shape[1]), dtype=x.dtype))
            else:
                value = as_float_array(name, value)
                check_dtype(name, value, x.dtype, "x")
                check_shape(name, value, shape)
                init_t.append(value if batched else value[:, None, :])

        lengths = check_lengths(lengths, T, B, batched)
        out, finals, cache = driver.forward(self._cell, self.params, xt, init_t, lengths)
        self._cache = (cache, batched, x.shape, x.dtype, dict(self.params))
        self.grads = {}
        if not batched:
            return out[:, 0, :], [f[:, 0, :] for f in finals]
        # out is already the caller's own array (driver.forward copies it off the cache),
        # so the batch-first result can be a transposed view of it.
        return (out.swapaxes(0, 1) if self.batch_first else out), finals

    def _backward(self, d_output, d_finals: tuple, truncate):
        """d_output as that forward's output, d_finals one array or None per state (named
        ``d_`` + its final state) -> (dx, d_init)."""
        check_not_before_forward(self._cache)
        cache, batched, x_shape, dtype, params = self._cache
        spec = self.spec
        if truncate is not None:
            check_positive_int("truncate", truncate)
            if spec.bidirectional:
                raise ValueError(
                    f"truncate is defined for unidirectional {self._kind}s only (bidirectional=True)"
                )
            if cache.orders[0][0] is not None:
                raise ValueError("truncate cannot be combined with variable lengths")
        T, B = cache.layer_inputs[0].shape[:2]
        width = spec.num_directions * self._cell.state_sizes[0]
        out_shape = (T, B, width)
        if self.batch_first:
            out_shape = (B, T, width)
        if not batched:
            out_shape = (T, width)

        d_output = as_float_array("d_output", d_output)
        check_dtype("d_output", d_output, dtype, "the forward input x")
        check_shape("d_output", d_output, out_shape)
        if not batched:
            d_out_t = d_output[:, None, :]
        else:
            d_out_t = d_output.swapaxes(0, 1) if self.batch_first else d_output
        d_finals_t = []
        for state, value, shape in zip(self._state_names, d_finals, self._state_shapes(B, batched)):
            name = f"d_{state[0]}_n"
            if value is None:
                d_finals_t.append(np.zeros(shape if batched else (shape[0], 1, shape[1]), dtype=dtype))
            else:
                value = check_array(name, value, shape, dtype, "the forward input x")
                d_finals_t.append(value if batched else value[:, None, :])

        dx, d_init, grads = driver.backward(params, cache, d_out_t, d_finals_t, truncate)
        self.grads = grads
        if not batched:
            return dx[:, 0, :], [d[:, 0, :] for d in d_init]
        return (dx.swapaxes(0, 1) if self.batch_first else dx), d_init  # dx is a fresh array


def _spec(spec_cls, input_size, hidden_size, num_layers, bias, bidirectional, **extra):
    """The checked constructor arguments every stack shares, as ``spec_cls`` (checked in
    torch's order: input_size, hidden_size, num_layers)."""
    return spec_cls(
        input_size=check_positive_int("input_size", input_size),
        hidden_size=check_positive_int("hidden_size", hidden_size),
        num_layers=check_positive_int("num_layers", num_layers),
        bias=bool(bias),
        bidirectional=bool(bidirectional),
        **extra,
    )


class RNN(_Stack):
    """Multi-layer Elman RNN with the constructor arguments of ``torch.nn.RNN``.

    Extra keyword arguments (not part of the contract): ``dtype`` of the initial
    parameters (default float64) and ``seed`` for their initialisation.
    """

    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers=1,
        nonlinearity="tanh",
        bias=True,
        batch_first=False,
        bidirectional=False,
        *,
        dtype=np.float64,
        seed=None,
    ):
        nonlinearity = check_choice("nonlinearity", nonlinearity, NONLINEARITIES)
        spec = _spec(RNNSpec, input_size, hidden_size, num_layers, bias, bidirectional, nonlinearity=nonlinearity)
        self._build(spec, batch_first, dtype, seed)

    def forward(self, x, h0=None, *, lengths=None):
        """x (T, B, I), or (B, T, I) if batch_first, or unbatched (T, I);
        h0 (L*D, B, H) or unbatched (L*D, H), None for zeros.
        Returns (output, h_n) shaped like torch's for the same input.

        ``lengths`` (scratch's extension, batched input only): one length per batch
        element, in [1, T], in the batch's own order (no sorting needed). Outputs past
        each length are zero; h_n holds each sequence's state at its last valid step,
        like torch.nn.utils.rnn.pack_padded_sequence(..., enforce_sorted=False)."""
        out, (h_n,) = self._forward(x, (h0,), lengths)
        return out, h_n

    __call__ = forward

    def backward(self, d_output, d_h_n=None, *, truncate=None):
        """Gradients for the most recent forward. d_output is shaped like that forward's
        output, d_h_n like its h_n (None for zeros). Returns (dx, dh0) shaped like x and
        h0 (h0 = zeros when it was None); fills ``self.grads`` afresh.

        ``truncate=k`` (scratch's extension): truncated BPTT, as if the hidden state had
        been detached every k steps (torch: run k steps, ``h = h.detach()``, repeat).
        Unidirectional only, fixed-length sequences only."""
        dx, (dh0,) = self._backward(d_output, (d_h_n,), truncate)
        return dx, dh0


class GRU(_Stack):
    """Multi-layer GRU with the constructor arguments of ``torch.nn.GRU`` (plus ``dtype``
    and ``seed`` as for ``RNN``). Gates stacked r, z, n as in torch."""

    _kind = "GRU"

    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers=1,
        bias=True,
        batch_first=False,
        bidirectional=False,
        *,
        dtype=np.float64,
        seed=None,
    ):
        self._build(_spec(GRUSpec, input_size, hidden_size, num_layers, bias, bidirectional), batch_first, dtype, seed)

    def forward(self, x, h0=None, *, lengths=None):
        """As ``RNN.forward``: x (T, B, I) / (B, T, I) / (T, I); h0 (L*D, B, H) or None
        -> (output, h_n). ``lengths`` as for ``RNN``."""
        out, (h_n,) = self._forward(x, (h0,), lengths)
        return out, h_n

    __call__ = forward

    def backward(self, d_output, d_h_n=None, *, truncate=None):
        """As ``RNN.backward``: -> (dx, dh0); fills ``self.grads`` afresh."""
        dx, (dh0,) = self._backward(d_output, (d_h_n,), truncate)
        return dx, dh0


class LSTM(_Stack):
    """Multi-layer LSTM with the constructor arguments of ``torch.nn.LSTM`` (plus ``dtype``
    and ``seed`` as for ``RNN``). Gates stacked i, f, g, o as in torch; with
    ``proj_size=P > 0`` h is projected to P features (``weight_hr_l{k}`` (P, H))."""

    _state_names = ("h0", "c0")
    _kind = "LSTM"

    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers=1,
        bias=True,
        batch_first=False,
        bidirectional=False,
        proj_size=0,
        *,
        dtype=np.float64,
        seed=None,
    ):
        hidden_size = check_positive_int("hidden_size", hidden_size)
        spec = LSTMSpec(
            input_size=check_positive_int("input_size", input_size),
            hidden_size=hidden_size,
            num_layers=check_positive_int("num_layers", num_layers),
            bias=bool(bias),
            bidirectional=bool(bidirectional),
            proj_size=check_proj_size(proj_size, hidden_size),
        )
        self._build(spec, batch_first, dtype, seed)

    def forward(self, x, hx=None, *, lengths=None):
        """x (T, B, I) / (B, T, I) / (T, I); hx = (h0, c0) with h0 (L*D, B, R), c0
        (L*D, B, H) (unbatched: (L*D, R), (L*D, H)), R = proj_size or hidden_size; None
        for zeros. Returns (output, (h_n, c_n)). ``lengths`` as for ``RNN``."""
        out, (h_n, c_n) = self._forward(x, _pair("hx", hx, ("h0", "c0")), lengths)
        return out, (h_n, c_n)

    __call__ = forward

    def backward(self, d_output, d_h_n=None, d_c_n=None, *, truncate=None):
        """-> (dx, (dh0, dc0)); d_h_n, d_c_n None for zeros. Fills ``self.grads`` afresh."""
        dx, (dh0, dc0) = self._backward(d_output, (d_h_n, d_c_n), truncate)
        return dx, (dh0, dc0)


def _pair(name, value, parts) -> tuple:
    """None -> (None, None); a (h, c) tuple or list of two arrays -> itself."""
    if value is None:
        return (None, None)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name} must be a tuple ({', '.join(parts)}) or None, got {type(value).__name__}")
    for part, v in zip(parts, value):
        if v is None:  # as torch: zeros only for the whole hx=None, never for one part
            raise TypeError(f"{part} in {name} must be a numpy.ndarray, got NoneType (pass {name}=None for zeros)")
    return tuple(value)


# ---------------------------------------------------------------------------------------
# One-step cells: RNNCell, LSTMCell, GRUCell.
# ---------------------------------------------------------------------------------------
class _Cell:
    """What the cells share: the checks of x and of the incoming states."""

    def _build(self, input_size, hidden_size, shapes, dtype, seed):
        self._shapes = shapes
        self.params = init_params(shapes, hidden_size, dtype, seed)
        self.grads: dict[str, np.ndarray] = {}
        self._cache = None

    def _check_x(self, x) -> tuple[np.ndarray, bool]:
        """-> (x as (B, I), batched)."""
        x = as_float_array("x", x)
        if x.ndim not in (1, 2):
            raise ValueError(f"x must be 2-D (B, I) or unbatched 1-D (I,), got shape {x.shape}")
        if x.shape[-1] != self.input_size:
            raise ValueError(
                f"x must have input_size={self.input_size} features in its last axis, got shape {x.shape}"
            )
        batched = x.ndim == 2
        xb = x if batched else x[None, :]
        if xb.shape[0] == 0:
            raise ValueError(f"x is an empty batch (batch size 0), shape {x.shape}")
        check_params(self.params, self._shapes, x.dtype)
        return xb, batched

    def _check_state(self, name, value, size, xb, batched) -> np.ndarray:
        """A state (h or c) of ``size`` features shaped like x, or zeros for None -> (B, size)."""
        if value is None:
            return np.zeros((xb.shape[0], size), dtype=xb.dtype)
        value = as_float_array(name, value)
        check_dtype(name, value, xb.dtype, "x")
        check_shape(name, value, (xb.shape[0], size) if batched else (size,))
        return value if batched else value[None, :]

    def _check_grad(self, name, value, size, dtype, B, batched) -> np.ndarray:
        value = check_array(name, value, (B, size) if batched else (size,), dtype, "the forward input x")
        return value if batched else value[None, :]


def _cell_shapes(gates, input_size, hidden_size, bias):
    G = gates * hidden_size
    shapes = {"weight_ih": (G, input_size), "weight_hh": (G, hidden_size)}
    if bias:
        shapes.update(bias_ih=(G,), bias_hh=(G,))
    return shapes


class RNNCell(_Cell):
    """One step of an Elman RNN with the constructor arguments of ``torch.nn.RNNCell``."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", *, dtype=np.float64, seed=None):
        self.input_size = check_positive_int("input_size", input_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.bias = bool(bias)
        self.nonlinearity = check_choice("nonlinearity", nonlinearity, NONLINEARITIES)
        self._build(self.input_size, self.hidden_size, _cell_shapes(1, self.input_size, self.hidden_size, self.bias),
                    dtype, seed)

    def forward(self, x, h=None):
        """x (B, I) or unbatched (I,); h (B, H) or (H,), None for zeros -> h_next."""
        xb, batched = self._check_x(x)
        hb = self._check_state("h", h, self.hidden_size, xb, batched)
        p = self.params
        h_next = F.cell_forward(
            xb, hb, p["weight_ih"], p["weight_hh"], p.get("bias_ih"), p.get("bias_hh"), self.nonlinearity
        )
        self._cache = (xb, hb, h_next, batched, dict(p))
        self.grads = {}
        return h_next if batched else h_next[0]

    __call__ = forward

    def backward(self, d_h_next):
        """d_h_next shaped like the last forward's result -> (dx, dh)."""
        check_not_before_forward(self._cache)
        xb, hb, h_next, batched, p = self._cache
        d = self._check_grad("d_h_next", d_h_next, self.hidden_size, xb.dtype, xb.shape[0], batched)
        dx, dh, grads = F.cell_backward(
            d, xb, hb, h_next, p["weight_ih"], p["weight_hh"], self.nonlinearity, self.bias
        )
        self.grads = grads
        return (dx, dh) if batched else (dx[0], dh[0])


class _GatedCell(_Cell):
    """LSTMCell and GRUCell: one step of the layer's equations (the T = 1 case of the driver)."""

    _spec_cls: type
    _gates: int

    def __init__(self, input_size, hidden_size, bias=True, *, dtype=np.float64, seed=None):
        self.input_size = check_positive_int("input_size", input_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.bias = bool(bias)
        self._eq = F.make_cell(self._spec_cls(self.input_size, self.hidden_size, bias=self.bias))
        self._build(self.input_size, self.hidden_size,
                    _cell_shapes(self._gates, self.input_size, self.hidden_size, self.bias), dtype, seed)

    def _step(self, x, states: tuple):
        xb, batched = self._check_x(x)
        init = tuple(self._check_state(name, value, self.hidden_size, xb, batched)
                     for name, value in zip(self._names, states))
        w = dict(self.params)
        new, tape = driver.step_forward(self._eq, w, xb, init)
        self._cache = (tape, xb, batched, w)
        self.grads = {}
        return new if batched else tuple(s[0] for s in new)

    def _step_back(self, d_new: tuple):
        check_not_before_forward(self._cache)
        tape, xb, batched, w = self._cache
        d = [
            np.zeros((xb.shape[0], self.hidden_size), dtype=xb.dtype) if value is None
            else self._check_grad(name, value, self.hidden_size, xb.dtype, xb.shape[0], batched)
            for name, value in zip(self._grad_names, d_new)
        ]
        dx, d_old, grads = driver.step_backward(tape, w, xb, d)
        self.grads = grads
        return (dx, tuple(d_old)) if batched else (dx[0], tuple(g[0] for g in d_old))


class LSTMCell(_GatedCell):
    """One LSTM step with the constructor arguments of ``torch.nn.LSTMCell`` (see ``scratch.lstm``)."""

    _spec_cls, _gates = LSTMSpec, 4
    _names, _grad_names = ("h", "c"), ("d_h", "d_c")

    def forward(self, x, hx=None):
        """x (B, I) or unbatched (I,); hx = (h, c), each (B, H) or (H,), None for zeros -> (h', c')."""
        return self._step(x, _pair("hx", hx, ("h", "c")))

    __call__ = forward

    def backward(self, d_h, d_c=None):
        """d_h (required), d_c (None for zeros) shaped like the last forward's h', c' -> (dx, (dh, dc))."""
        if d_h is None:  # required, as for GRUCell and RNNCell: never silently zeros
            raise TypeError("d_h must be a numpy.ndarray, got NoneType")
        dx, (dh, dc) = self._step_back((d_h, d_c))
        return dx, (dh, dc)


class GRUCell(_GatedCell):
    """One GRU step with the constructor arguments of ``torch.nn.GRUCell`` (see ``scratch.gru``)."""

    _spec_cls, _gates = GRUSpec, 3
    _names, _grad_names = ("h",), ("d_h",)

    def forward(self, x, h=None):
        """x (B, I) or unbatched (I,); h (B, H) or (H,), None for zeros -> h'."""
        (h_new,) = self._step(x, (h,))
        return h_new

    __call__ = forward

    def backward(self, d_h):
        """d_h shaped like the last forward's h' -> (dx, dh)."""
        if d_h is None:
            raise TypeError("d_h must be a numpy.ndarray, got NoneType")
        dx, (dh,) = self._step_back((d_h,))
        return dx, dh
