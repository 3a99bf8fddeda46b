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

import numpy as np

from .family import describe, flat


_HARNESS_CORE = os.path.dirname(os.path.abspath(__file__))


class ContractViolation(AssertionError):
    """The implementation does not follow the contract (README, "The contract")."""


class ImplementationError(AssertionError):
    """The implementation raised an exception (other than NotImplementedError) in its
    constructor, forward or backward: that case fails, with the exception's type, message
    and the line of the implementation's code that raised it."""


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


def load_module(spec: str):
    """``"module"`` -> the module (a convention whose plug-in is a module of functions)."""
    if not isinstance(spec, str) or not spec or ":" in spec:
        raise ValueError(f"this convention takes a module name (no ':Class'), got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(spec)
    except ImportError as exc:
        raise ValueError(
            f"cannot import module {spec!r}: {exc}. Run from the directory that holds it, or add it to PYTHONPATH."
        ) from exc


def with_reduction(cls, reduction: str):
    """``cls`` declared to reduce its weight and bias gradients over the batch by ``reduction``
    ("mean": divided by the batch size). The harness then compares them with torch's
    gradient of the batch-mean loss, i.e. torch's (sum) parameter gradients divided by B
    (``core/runs.run_both``); dx and dh0 are per-sample and unchanged. The verdict names the
    reduction through ``cli``."""
    if reduction == "sum":
        return cls
    return type(cls.__name__, (cls,), {
        "reduction": reduction, "cli": f"{impl_name(cls)} --reduction {reduction}",
        "__module__": cls.__module__, "__qualname__": cls.__qualname__,
    })


def impl_name(cls) -> str:
    """How to name ``cls`` on the command line. An adapted class (families/conventions.py)
    carries ``cli``: the plug-in options as typed, e.g. ``"my_layers --convention cs231n"``."""
    cli = getattr(cls, "cli", None)
    if cli:
        return cli
    learner = getattr(cls, "Learner", None)
    if learner is not None:
        return f"{learner.__module__}:{learner.__qualname__} --convention {cls.convention}"
    return f"{cls.__module__}:{cls.__qualname__}"


def construct(cls, kwargs: dict):
    try:
        return cls(**kwargs)
    except NotImplementedError as exc:
        raise Unsupported(f"{impl_name(cls)} declined: {exc}") from None
    except Exception as exc:
        raise ImplementationError(
            f"{impl_name(cls)}({_kw(kwargs)}) raised {type(exc).__name__}: {exc}{_where(exc)} "
            "(raise NotImplementedError to declare a configuration unsupported)"
        ) from exc


def inject_params(impl, cls, params: dict, expected_shapes: dict) -> None:
    own = _param_dict(cls, impl, "params", "(after construction)", expected_shapes, None)
    for name, value in params.items():
        own[name] = value.copy()  # the harness keeps its own copy to compare against


def run_impl(cls, case, arrays: dict) -> dict:
    """Construct, inject weights, forward, backward, every result checked against the
    contract of the case's family; returns the implementation's flat dict of named tensors
    (``{"output": ..., "h_n": ..., "dx": ..., "dh0": ..., "grad weight_ih_l0": ...}``).

    Every call into a plug-in goes through here: the suite, the report, repro, plots and
    diagnosis alike. A case's extensions (scratch's ``lengths``, ``truncate``) go to forward
    / backward as keywords when set.
    """
    fam, config = case.family, case.config
    impl = construct(cls, config.module_kwargs())
    param_shapes = config.param_shapes()
    inject_params(impl, cls, arrays["params"], param_shapes)
    shapes = fam.shapes(config)
    dtype = arrays["x"].dtype
    results: dict = {}
    for method, takes, returns, extensions in (
        ("forward", fam.forward_args, fam.forward_returns, fam.forward_extensions),
        ("backward", fam.backward_args, fam.backward_returns, fam.backward_extensions),
    ):
        passed = {name: None if arrays[name] is None else arrays[name].copy() for name in flat(takes)}
        kw = {k: _extension(getattr(case, k)) for k in extensions if getattr(case, k) is not None}
        result = _call(cls, method, getattr(impl, method), *[_pack(s, passed) for s in takes], **kw)
        for name, value in _unpack(cls, method, returns, result).items():
            _check_array(cls, f"{method} {name}", value, shapes[name], dtype)
            results[name] = np.array(value)
        for name, value in passed.items():
            _check_unmodified(cls, method, name, value, arrays[name])
    return {**results, **_check_grads(cls, impl, param_shapes, dtype)}


def _extension(value):
    return np.asarray(value) if isinstance(value, tuple) else value


def _pack(structure, values: dict):
    """The argument for one structure: an array, or a tuple of them (None when all are None)."""
    if isinstance(structure, str):
        return values[structure]
    parts = tuple(_pack(s, values) for s in structure)
    return None if all(p is None for p in parts) else parts


def _unpack(cls, method: str, structure, value, top: bool = True) -> dict:
    """Name the parts of what ``method`` returned, checking it has the contract's structure."""
    if isinstance(structure, str):
        return {structure: value}
    if not isinstance(value, tuple) or len(value) != len(structure):
        raise ContractViolation(
            f"{impl_name(cls)}.{method} must return {'a tuple ' if top else ''}{describe(structure)}, got {_what(value)}"
        )
    out = {}
    for s, v in zip(structure, value):
        out.update(_unpack(cls, method, s, v, top=False))
    return out


# ---------------------------------------------------------------------------------------
def _call(cls, method: str, fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as exc:
        raise Unsupported(f"{impl_name(cls)}.{method} raised NotImplementedError: {exc}") from None
    except Exception as exc:
        raise ImplementationError(f"{impl_name(cls)}.{method} raised {type(exc).__name__}: {exc}{_where(exc)}") from exc


def _where(exc) -> str:
    """`` (at file.py:12, in forward)``: the innermost frame of the exception's traceback."""
    tb, last = exc.__traceback__, None
    while tb is not None:  # the innermost frame that is not the harness's own
        if not tb.tb_frame.f_code.co_filename.startswith(_HARNESS_CORE):
            last = tb
        tb = tb.tb_next
    if last is None:  # e.g. a TypeError raised at the call: the plug-in's code never ran
        return ""
    tb = last
    code = tb.tb_frame.f_code
    return f" (at {os.path.basename(code.co_filename)}:{tb.tb_lineno}, in {code.co_name})"


def _check_grads(cls, impl, shapes: dict, dtype) -> dict:
    grads = _param_dict(cls, impl, "grads", "(after backward)", shapes, dtype)
    return {f"grad {name}": np.array(grads[name]) for name in shapes}


def _param_dict(cls, impl, attr: str, when: str, shapes: dict, dtype) -> dict:
    """``impl.params`` / ``impl.grads``: a dict with exactly torch's names, each an array of
    the parameter's shape (and, for grads, the case's dtype)."""
    d = getattr(impl, attr, None)
    if not isinstance(d, dict):
        raise ContractViolation(f"{impl_name(cls)}: {when[1:-1]}, .{attr} must be a dict of numpy arrays, got {_what(d)}")
    _check_keys(cls, f".{attr} {when}", d, shapes)
    for name, shape in shapes.items():
        _check_array(cls, f".{attr}[{name!r}] {when}", d[name], shape, dtype)
    return d


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
