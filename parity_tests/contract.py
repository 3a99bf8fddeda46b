"""Running a plug-in implementation under the contract, and saying plainly when it breaks it.

Every call into the implementation goes through here. What comes back is checked before
any number is compared: a missing key, a wrong shape, a ``None`` or a silent dtype change
becomes a ``ContractViolation`` naming the method and what is wrong, instead of a
traceback deep inside the harness. A constructor raising ``NotImplementedError`` becomes
``Unsupported`` (reported as skipped, with its reason).
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass

import numpy as np


class ContractViolation(AssertionError):
    """The implementation does not follow the contract (README, "The contract")."""


class Unsupported(Exception):
    """The implementation declined this configuration with NotImplementedError."""


def load_impl(spec: str):
    """``"module:Class"`` -> the class. The module is imported from sys.path (cwd included)."""
    if not isinstance(spec, str) or spec.count(":") != 1:
        raise ValueError(f"implementation must be given as 'module:Class', got {spec!r}")
    module_name, class_name = spec.split(":")
    if os.getcwd() not in sys.path:  # "importable from the current directory", as promised
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(
            f"cannot import module {module_name!r} for implementation {spec!r}: {exc}. "
            "Run pytest from the directory that holds it, or add it to PYTHONPATH."
        ) from exc
    try:
        return getattr(module, class_name)
    except AttributeError:
        raise ValueError(f"module {module_name!r} has no attribute {class_name!r} (from {spec!r})") from None


def impl_name(cls) -> str:
    """How to name ``cls`` on the command line (an adapted class names its convention)."""
    learner = getattr(cls, "Learner", None)
    if learner is not None:
        return f"{learner.__module__}:{learner.__qualname__} --convention {cls.convention}"
    return f"{cls.__module__}:{cls.__qualname__}"


@dataclass
class RNNOutputs:
    output: np.ndarray
    h_n: np.ndarray
    dx: np.ndarray
    dh0: np.ndarray
    grads: dict


@dataclass
class CellOutputs:
    h_next: np.ndarray
    dx: np.ndarray
    dh: np.ndarray
    grads: dict


def construct(cls, kwargs: dict):
    try:
        return cls(**kwargs)
    except NotImplementedError as exc:
        raise Unsupported(f"{impl_name(cls)} declined: {exc}") from None
    except Exception as exc:
        raise ContractViolation(
            f"{impl_name(cls)}({_kw(kwargs)}) raised {type(exc).__name__}: {exc} "
            "(raise NotImplementedError to declare a configuration unsupported)"
        ) from exc


def inject_params(impl, cls, params: dict, expected_shapes: dict) -> None:
    own = getattr(impl, "params", None)
    if not isinstance(own, dict):
        raise ContractViolation(
            f"{impl_name(cls)}: .params must be a dict of numpy arrays, got {type(own).__name__}"
        )
    _check_keys(cls, ".params (after construction)", own, expected_shapes)
    for name, value in own.items():
        _check_array(cls, f".params[{name!r}] (after construction)", value, expected_shapes[name], None)
    for name, value in params.items():
        own[name] = value.copy()  # the harness keeps its own copy to compare against


def run_rnn(cls, config, arrays: dict, lengths=None, truncate=None) -> RNNOutputs:
    """Construct, inject weights, forward, backward; check every result against the contract.

    ``lengths`` / ``truncate`` go to forward / backward as keywords (scratch's extensions).
    """
    impl = construct(cls, config.module_kwargs())
    inject_params(impl, cls, arrays["params"], config.param_shapes())
    dtype = arrays["x"].dtype
    x, h0 = arrays["x"].copy(), None if arrays["h0"] is None else arrays["h0"].copy()
    fwd_kw = {} if lengths is None else {"lengths": np.asarray(lengths)}
    result = _call(cls, "forward", impl.forward, x, h0, **fwd_kw)
    if not isinstance(result, tuple) or len(result) != 2:
        raise ContractViolation(
            f"{impl_name(cls)}.forward must return a tuple (output, h_n), got {_what(result)}"
        )
    output, h_n = result
    _check_array(cls, "forward output", output, config.out_shape(), dtype)
    _check_array(cls, "forward h_n", h_n, config.state_shape(), dtype)
    _check_unmodified(cls, "forward", "x", x, arrays["x"])
    _check_unmodified(cls, "forward", "h0", h0, arrays["h0"])

    d_out, d_hn = arrays["d_output"].copy(), arrays["d_h_n"].copy()
    bwd_kw = {} if truncate is None else {"truncate": truncate}
    result = _call(cls, "backward", impl.backward, d_out, d_hn, **bwd_kw)
    if not isinstance(result, tuple) or len(result) != 2:
        raise ContractViolation(f"{impl_name(cls)}.backward must return a tuple (dx, dh0), got {_what(result)}")
    dx, dh0 = result
    _check_array(cls, "backward dx", dx, config.x_shape(), dtype)
    _check_array(cls, "backward dh0", dh0, config.state_shape(), dtype)
    _check_unmodified(cls, "backward", "d_output", d_out, arrays["d_output"])
    _check_unmodified(cls, "backward", "d_h_n", d_hn, arrays["d_h_n"])
    grads = _check_grads(cls, impl, config.param_shapes(), dtype)
    return RNNOutputs(np.array(output), np.array(h_n), np.array(dx), np.array(dh0), grads)


def run_cell(cls, config, arrays: dict) -> CellOutputs:
    impl = construct(cls, config.module_kwargs())
    shapes = config.param_shapes()
    inject_params(impl, cls, arrays["params"], shapes)
    dtype = arrays["x"].dtype
    B, H, I = config.batch, config.hidden_size, config.input_size
    x, h = arrays["x"].copy(), None if arrays["h"] is None else arrays["h"].copy()
    h_next = _call(cls, "forward", impl.forward, x, h)
    _check_array(cls, "forward h_next", h_next, (B, H), dtype)
    _check_unmodified(cls, "forward", "x", x, arrays["x"])
    _check_unmodified(cls, "forward", "h", h, arrays["h"])
    d = arrays["d_h_next"].copy()
    result = _call(cls, "backward", impl.backward, d)
    if not isinstance(result, tuple) or len(result) != 2:
        raise ContractViolation(f"{impl_name(cls)}.backward must return a tuple (dx, dh), got {_what(result)}")
    dx, dh = result
    _check_array(cls, "backward dx", dx, (B, I), dtype)
    _check_array(cls, "backward dh", dh, (B, H), dtype)
    _check_unmodified(cls, "backward", "d_h_next", d, arrays["d_h_next"])
    grads = _check_grads(cls, impl, shapes, dtype)
    return CellOutputs(np.array(h_next), np.array(dx), np.array(dh), grads)


# ---------------------------------------------------------------------------------------
def _call(cls, method: str, fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as exc:
        raise Unsupported(f"{impl_name(cls)}.{method} raised NotImplementedError: {exc}") from None


def _check_grads(cls, impl, shapes: dict, dtype) -> dict:
    grads = getattr(impl, "grads", None)
    if not isinstance(grads, dict):
        raise ContractViolation(
            f"{impl_name(cls)}: after backward, .grads must be a dict of numpy arrays, got {_what(grads)}"
        )
    _check_keys(cls, ".grads (after backward)", grads, shapes)
    for name, shape in shapes.items():
        _check_array(cls, f".grads[{name!r}]", grads[name], shape, dtype)
    return {name: np.array(grads[name]) for name in shapes}


def _check_keys(cls, what: str, d: dict, shapes: dict) -> None:
    missing, extra = sorted(set(shapes) - set(d)), sorted(set(d) - set(shapes))
    if missing or extra:
        raise ContractViolation(
            f"{impl_name(cls)}: {what} keys must be exactly torch's parameter names; "
            f"missing {missing}, unexpected {extra}"
        )


def _check_array(cls, what: str, value, shape: tuple, dtype) -> None:
    if not isinstance(value, np.ndarray):
        raise ContractViolation(f"{impl_name(cls)}: {what} must be a numpy array, got {_what(value)}")
    if value.shape != tuple(shape):
        raise ContractViolation(
            f"{impl_name(cls)}: {what} must have shape {tuple(shape)}, got {value.shape}"
        )
    if dtype is not None and value.dtype != dtype:
        raise ContractViolation(
            f"{impl_name(cls)}: {what} has dtype {value.dtype}, but the inputs were {np.dtype(dtype)} "
            "(the contract: compute in the dtype you are given)"
        )


def _check_unmodified(cls, method: str, arg: str, passed, original) -> None:
    if passed is None:
        return
    if not np.array_equal(passed, original):
        raise ContractViolation(f"{impl_name(cls)}.{method} modified its argument {arg} in place")


def _what(value) -> str:
    if value is None:
        return "None"
    if isinstance(value, np.ndarray):
        return f"ndarray of shape {value.shape}"
    if isinstance(value, tuple):
        return f"a tuple of {len(value)}"
    return type(value).__name__


def _kw(kwargs: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
