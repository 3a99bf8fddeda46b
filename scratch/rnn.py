"""``RNN`` and ``RNNCell``: thin, validating shells over ``scratch.functional``.

They follow the implementation contract in the README (the same one a plug-in follows):
parameters live in ``self.params`` under torch's names and are read at every forward;
``backward`` fills ``self.grads`` afresh. Beyond the contract, like torch, they accept
unbatched input (2-D for RNN, 1-D for the cell).
"""

from __future__ import annotations

import numpy as np

from . import functional as F
from .functional import NONLINEARITIES, RNNSpec


# ---------------------------------------------------------------------------------------
# Argument checking. Every message names the argument, what was expected, what was given.
# ---------------------------------------------------------------------------------------
def _as_float_array(name: str, value) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(value).__name__}")
    if value.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must have dtype float32 or float64, got {value.dtype}")
    return value


def _check_shape(name: str, arr: np.ndarray, expected: tuple[int, ...]) -> None:
    if arr.shape != tuple(expected):
        raise ValueError(f"{name} must have shape {tuple(expected)}, got {arr.shape}")


def _check_dtype(name: str, arr: np.ndarray, dtype: np.dtype, against: str) -> None:
    if arr.dtype != dtype:
        raise TypeError(
            f"{name} has dtype {arr.dtype} but {against} has dtype {dtype}; "
            "pass arrays of one dtype (nothing is cast silently)"
        )


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_nonlinearity(value) -> str:
    if value not in NONLINEARITIES:
        raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {value!r}")
    return value


def _check_lengths(lengths, T: int, B: int, batched: bool):
    if lengths is None:
        return None
    if not batched:
        raise ValueError("lengths needs batched input (3-D x)")
    arr = np.asarray(lengths)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"lengths must hold integers, got dtype {arr.dtype}")
    if arr.shape != (B,):
        raise ValueError(f"lengths must have shape ({B},), one per batch element, got {arr.shape}")
    if arr.min() < 1 or arr.max() > T:
        raise ValueError(f"lengths must lie in [1, {T}] (T = {T}), got {arr.tolist()}")
    return arr.astype(np.intp)


def _check_params(params: dict, shapes: dict, dtype) -> None:
    missing = sorted(set(shapes) - set(params))
    extra = sorted(set(params) - set(shapes))
    if missing or extra:
        raise ValueError(f"params: missing keys {missing}, unexpected keys {extra}")
    for name, shape in shapes.items():
        arr = _as_float_array(f"params[{name!r}]", params[name])
        _check_shape(f"params[{name!r}]", arr, shape)
        _check_dtype(f"params[{name!r}]", arr, dtype, "the input x")


def _init_params(shapes: dict, hidden_size: int, dtype, seed) -> dict:
    """torch's default initialisation: every parameter ~ U(-1/sqrt(H), 1/sqrt(H))."""
    rng = np.random.default_rng(seed)
    k = 1.0 / np.sqrt(hidden_size)
    return {n: rng.uniform(-k, k, size=s).astype(dtype) for n, s in shapes.items()}


class RNN:
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
        self.spec = RNNSpec(
            input_size=_check_positive_int("input_size", input_size),
            hidden_size=_check_positive_int("hidden_size", hidden_size),
            num_layers=_check_positive_int("num_layers", num_layers),
            nonlinearity=_check_nonlinearity(nonlinearity),
            bias=bool(bias),
            bidirectional=bool(bidirectional),
        )
        self.batch_first = bool(batch_first)
        self._shapes = F.param_shapes(self.spec)
        self.params = _init_params(self._shapes, self.spec.hidden_size, dtype, seed)
        self.grads: dict[str, np.ndarray] = {}
        self._cache = None

    # -- forward -----------------------------------------------------------------------
    def forward(self, x, h0=None, *, lengths=None):
        """x (T, B, I), or (B, T, I) if batch_first, or unbatched (T, I);
        h0 (L*D, B, H) or unbatched (L*D, H), None for zeros.
        Returns (output, h_n) shaped like torch's for the same input.

        ``lengths`` (scratch's extension, batched input only): one length per batch
        element, in [1, T], in the batch's own order (no sorting needed). Outputs past
        each length are zero; h_n holds each sequence's state at its last valid step,
        like torch.nn.utils.rnn.pack_padded_sequence(..., enforce_sorted=False)."""
        spec = self.spec
        x = _as_float_array("x", x)
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
        _check_params(self.params, self._shapes, x.dtype)

        LD, H = spec.num_layers * spec.num_directions, spec.hidden_size
        if h0 is None:
            h0t = np.zeros((LD, B, H), dtype=x.dtype)
        else:
            h0 = _as_float_array("h0", h0)
            _check_dtype("h0", h0, x.dtype, "x")
            _check_shape("h0", h0, (LD, B, H) if batched else (LD, H))
            h0t = h0 if batched else h0[:, None, :]

        lengths = _check_lengths(lengths, T, B, batched)
        out, h_n, cache = F.forward(spec, self.params, xt, h0t, lengths)
        self._cache = (cache, batched, x.shape, x.dtype, dict(self.params))
        self.grads = {}
        if not batched:
            return out[:, 0, :], h_n[:, 0, :]
        # out is already the caller's own array (functional.forward copies it off the
        # cache), so the batch-first result can be a transposed view of it.
        return (out.swapaxes(0, 1) if self.batch_first else out), h_n

    __call__ = forward

    # -- backward ----------------------------------------------------------------------
    def backward(self, d_output, d_h_n=None, *, truncate=None):
        """Gradients for the most recent forward. d_output is shaped like that forward's
        output, d_h_n like its h_n (None for zeros). Returns (dx, dh0) shaped like x and
        h0 (h0 = zeros when it was None); fills ``self.grads`` afresh.

        ``truncate=k`` (scratch's extension): truncated BPTT, as if the hidden state had
        been detached every k steps (torch: run k steps, ``h = h.detach()``, repeat).
        Unidirectional, fixed-length sequences only."""
        if self._cache is None:
            raise ValueError("backward() called before forward(): there is nothing to differentiate")
        cache, batched, x_shape, dtype, params = self._cache
        spec = self.spec
        if truncate is not None:
            _check_positive_int("truncate", truncate)
            if spec.bidirectional:
                raise ValueError("truncate is defined for unidirectional RNNs only (bidirectional=True)")
            if cache.orders[0][0] is not None:
                raise ValueError("truncate cannot be combined with variable lengths")
        T, B = cache.layer_inputs[0].shape[:2]
        LD, H = spec.num_layers * spec.num_directions, spec.hidden_size
        out_shape = (T, B, spec.num_directions * H)
        if self.batch_first:
            out_shape = (B, T, out_shape[2])
        if not batched:
            out_shape = (T, out_shape[2])

        d_output = _as_float_array("d_output", d_output)
        _check_dtype("d_output", d_output, dtype, "the forward input x")
        _check_shape("d_output", d_output, out_shape)
        if not batched:
            d_out_t = d_output[:, None, :]
        else:
            d_out_t = d_output.swapaxes(0, 1) if self.batch_first else d_output
        if d_h_n is None:
            d_h_n_t = np.zeros((LD, B, H), dtype=dtype)
        else:
            d_h_n = _as_float_array("d_h_n", d_h_n)
            _check_dtype("d_h_n", d_h_n, dtype, "the forward input x")
            _check_shape("d_h_n", d_h_n, (LD, B, H) if batched else (LD, H))
            d_h_n_t = d_h_n if batched else d_h_n[:, None, :]

        dx, dh0, grads = F.backward(spec, params, cache, d_out_t, d_h_n_t, truncate)
        self.grads = grads
        if not batched:
            return dx[:, 0, :], dh0[:, 0, :]
        return (dx.swapaxes(0, 1) if self.batch_first else dx), dh0  # dx is a fresh array


class RNNCell:
    """One step of an Elman RNN with the constructor arguments of ``torch.nn.RNNCell``."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", *, dtype=np.float64, seed=None):
        self.input_size = _check_positive_int("input_size", input_size)
        self.hidden_size = _check_positive_int("hidden_size", hidden_size)
        self.bias = bool(bias)
        self.nonlinearity = _check_nonlinearity(nonlinearity)
        H, I = self.hidden_size, self.input_size
        self._shapes = {"weight_ih": (H, I), "weight_hh": (H, H)}
        if self.bias:
            self._shapes.update(bias_ih=(H,), bias_hh=(H,))
        self.params = _init_params(self._shapes, H, dtype, seed)
        self.grads: dict[str, np.ndarray] = {}
        self._cache = None

    def forward(self, x, h=None):
        """x (B, I) or unbatched (I,); h (B, H) or (H,), None for zeros -> h_next."""
        x = _as_float_array("x", x)
        if x.ndim not in (1, 2):
            raise ValueError(f"x must be 2-D (B, I) or unbatched 1-D (I,), got shape {x.shape}")
        if x.shape[-1] != self.input_size:
            raise ValueError(
                f"x must have input_size={self.input_size} features in its last axis, got shape {x.shape}"
            )
        batched = x.ndim == 2
        xb = x if batched else x[None, :]
        B = xb.shape[0]
        if B == 0:
            raise ValueError(f"x is an empty batch (batch size 0), shape {x.shape}")
        _check_params(self.params, self._shapes, x.dtype)
        if h is None:
            hb = np.zeros((B, self.hidden_size), dtype=x.dtype)
        else:
            h = _as_float_array("h", h)
            _check_dtype("h", h, x.dtype, "x")
            _check_shape("h", h, (B, self.hidden_size) if batched else (self.hidden_size,))
            hb = h if batched else h[None, :]
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
        if self._cache is None:
            raise ValueError("backward() called before forward(): there is nothing to differentiate")
        xb, hb, h_next, batched, p = self._cache
        d = _as_float_array("d_h_next", d_h_next)
        _check_dtype("d_h_next", d, xb.dtype, "the forward input x")
        _check_shape("d_h_next", d, h_next.shape if batched else h_next.shape[1:])
        db = d if batched else d[None, :]
        dx, dh, grads = F.cell_backward(
            db, xb, hb, h_next, p["weight_ih"], p["weight_hh"], self.nonlinearity, self.bias
        )
        self.grads = grads
        return (dx, dh) if batched else (dx[0], dh[0])
