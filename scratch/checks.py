"""Argument checking shared by every class in ``scratch.modules``.

Every message names the argument, what was expected and what was given. Nothing is ever
cast silently (a float32 array next to float64 parameters is an error, not a conversion)
and no caller's array is written to: the helpers only look.
"""

from __future__ import annotations

import numpy as np


def as_float_array(name: str, value) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(value).__name__}")
    if value.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must have dtype float32 or float64, got {value.dtype}")
    return value


def check_shape(name: str, arr: np.ndarray, expected: tuple[int, ...]) -> None:
    if arr.shape != tuple(expected):
        raise ValueError(f"{name} must have shape {tuple(expected)}, got {arr.shape}")


def check_dtype(name: str, arr: np.ndarray, dtype: np.dtype, against: str) -> None:
    if arr.dtype != dtype:
        raise TypeError(
            f"{name} has dtype {arr.dtype} but {against} has dtype {dtype}; "
            "pass arrays of one dtype (nothing is cast silently)"
        )


def check_array(name: str, value, shape: tuple[int, ...], dtype: np.dtype, against: str) -> np.ndarray:
    """A float array of exactly this dtype (that of ``against``) and shape."""
    arr = as_float_array(name, value)
    check_dtype(name, arr, dtype, against)
    check_shape(name, arr, shape)
    return arr


def check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_proj_size(proj_size, hidden_size: int) -> int:
    """torch's rule: 0 (no projection) <= proj_size < hidden_size."""
    if isinstance(proj_size, bool) or not isinstance(proj_size, (int, np.integer)) or proj_size < 0:
        raise ValueError(f"proj_size must be a non-negative integer (0 = no projection), got {proj_size!r}")
    if proj_size >= hidden_size:
        raise ValueError(f"proj_size must be smaller than hidden_size={hidden_size}, got {proj_size}")
    return int(proj_size)


def check_choice(name: str, value, choices: tuple):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_lengths(lengths, T: int, B: int, batched: bool):
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


def check_params(params: dict, shapes: dict, dtype) -> None:
    """``params`` holds exactly the names of ``shapes``, each of that shape and of the input's dtype."""
    if len(params) == len(shapes):  # fast path (called at every forward): all is well
        for name, shape in shapes.items():
            arr = params.get(name)
            if not (isinstance(arr, np.ndarray) and arr.dtype == dtype and arr.shape == shape):
                break
        else:
            return
    missing = sorted(set(shapes) - set(params))
    extra = sorted(set(params) - set(shapes))
    if missing or extra:
        raise ValueError(f"params: missing keys {missing}, unexpected keys {extra}")
    for name, shape in shapes.items():
        arr = as_float_array(f"params[{name!r}]", params[name])
        check_shape(f"params[{name!r}]", arr, shape)
        check_dtype(f"params[{name!r}]", arr, dtype, "the input x")


def check_not_before_forward(cache) -> None:
    if cache is None:
        raise ValueError("backward() called before forward(): there is nothing to differentiate")


def init_params(shapes: dict, hidden_size: int, dtype, seed) -> dict:
    """torch's default initialisation: every parameter ~ U(-1/sqrt(H), 1/sqrt(H))."""
    rng = np.random.default_rng(seed)
    k = 1.0 / np.sqrt(hidden_size)
    return {n: rng.uniform(-k, k, size=s).astype(dtype) for n, s in shapes.items()}
