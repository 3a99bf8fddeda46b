"""Running a plug-in implementation under the contract, and saying plainly when it breaks it.

Every call into the implementation goes through here. What comes back is checked before
any number is compared: a missing key, a wrong shape, a ``None`` or an array that is not
floating point becomes a ``ContractViolation`` naming the method and what is wrong, instead
of a traceback deep inside the harness. A floating-point array of another dtype than the
inputs' (float64 from ``np.zeros``, float32 from ``dtype='f'``) is not stopped here: its
values are compared like any other, against the budget of the precision the case asked
for, and the mismatch is reported on its own (``core/dtypes.py``). A constructor raising ``NotImplementedError`` becomes
``Unsupported`` (reported as skipped, with its reason).

Hostile plug-ins get a plain message too (``run_impl`` says how each is caught):

* a call that does not return within the time limit (``call_time_limit``; 60 s by default,
  ``RNN_PARITY_CALL_TIMEOUT`` seconds, 0 for none) is an ``ImplementationError`` naming the
  call, where it was interrupted and the configuration;
* NaN or inf in anything returned is an ``ImplementationError`` saying so, with the index;
* gradients that accumulate across backward calls, returned arrays that change after they
  were returned (views of internal state), arguments written into, lists or tuples where an
  array belongs, and a backward that does not use the most recent forward are
  ``ContractViolation`` errors naming the tensor.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
import time
import warnings
from contextlib import contextmanager

import numpy as np

from .family import describe, flat
from .tolerance import allowed_error


_HARNESS_CORE = os.path.dirname(os.path.abspath(__file__))


class ConventionLimits:
    """Base of the harness's course-convention adapters that cannot carry every tensor of the
    contract (``families/conventions._CS231nLSTMAdapter``: CS231n's LSTM functions have no
    cell state in or out). Such a class declares ``zero_inputs`` (inputs both sides get as
    zeros) and ``not_returned`` (results it returns as None, compared nowhere); see
    ``core.runs``. Only a subclass of this is read for them, so no class exempts a tensor by
    an attribute it happens to have."""

    zero_inputs: tuple = ()
    not_returned: tuple = ()


def zero_inputs(cls) -> frozenset:
    """The inputs ``cls`` declares it cannot take: CS231n's LSTM starts from c0 = 0 and its
    backward takes no gradient on the final cell state, so ``c0`` and ``d_c_n``. Both sides
    get zeros there (``core.runs.with_zero_inputs``): the case is the one the convention can
    express, not a different one for each side."""
    return frozenset(cls.zero_inputs) if isinstance(cls, type) and issubclass(cls, ConventionLimits) else frozenset()


def not_returned(cls) -> frozenset:
    """The tensors ``cls`` declares it cannot return: a course convention whose functions have
    nowhere to give them (CS231n's LSTM returns no final cell state, so ``c_n`` and ``dc0``).
    It returns None there, and they are compared nowhere: not in the suite, the report, the
    diagnosis, the JSON (``core.runs.returned``)."""
    return frozenset(cls.not_returned) if isinstance(cls, type) and issubclass(cls, ConventionLimits) else frozenset()


def limits_note(cls) -> str:
    """What a ConventionLimits class leaves out, in words for a failure's case line and the
    report ("" for any other class)."""
    zero, absent = sorted(zero_inputs(cls)), sorted(not_returned(cls))
    if not (zero or absent):
        return ""
    convention = getattr(cls, "convention", "") or "its"
    return (f"{' and '.join(zero)} zero on both sides, {' and '.join(absent)} not compared "
            f"(all the {convention} convention can express)")


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
        hint = (f" (a module name, not a file name: {module_name.removesuffix('.py')!r})"
                if module_name.endswith(".py") else "")
        raise ValueError(
            f"cannot import module {module_name!r}{hint} for implementation {spec!r}: {exc}. "
            "Run pytest from the directory that holds it, or add it to PYTHONPATH."
        ) from exc
    try:
        return getattr(module, class_name)
    except AttributeError:
        raise ValueError(f"module {module_name!r} has no attribute {class_name!r} (from {spec!r})") from None


def load_module(spec: str):
    """``"module"`` -> the module (a convention whose plug-in is a module of functions)."""
    if not isinstance(spec, str) or not spec or ":" in spec:
        name = spec.split(":")[0] if isinstance(spec, str) else ""
        raise ValueError(f"this convention takes a module name (no ':Class'), got {spec!r}"
                         + (f": give {name!r}" if name else ""))
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(spec)
    except ImportError as exc:
        hint = f" (a module name, not a file name: {spec.removesuffix('.py')!r})" if spec.endswith(".py") else ""
        raise ValueError(
            f"cannot import module {spec!r}{hint}: {exc}. Run from the directory that holds it, or add it to PYTHONPATH."
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


def construct(cls, kwargs: dict, case=None):
    try:
        with _limited(cls, "constructor", case) as limit:
            return cls(**kwargs)
    except _TimedOut as exc:
        raise _timed_out(cls, f"{impl_name(cls)}({_kw(kwargs)})", limit, exc, case) from None
    except NotImplementedError as exc:
        raise Unsupported(f"{impl_name(cls)} declined: {exc}") from None
    except Exception as exc:
        other = _other_constructor(cls, kwargs) if isinstance(exc, TypeError) else None
        raise ImplementationError(
            f"{impl_name(cls)}({_kw(kwargs)}) raised {type(exc).__name__}: {exc}{_where(exc)} "
            + (other or "(raise NotImplementedError to declare a configuration unsupported)")
        ) from exc


def _other_constructor(cls, kwargs: dict) -> str | None:
    """When the class's constructor does not take the contract's arguments at all (a course's or
    a book's class, e.g. ゼロから作るDeep Learning ❷'s TimeLSTM(Wx, Wh, b, stateful)): say so and
    point at --convention, instead of the NotImplementedError advice (a newcomer ran the book's
    class with --gate-order alone and read "raise NotImplementedError ..." beside a TypeError)."""
    import inspect

    learner = getattr(cls, "Learner", cls)
    try:
        params = inspect.signature(learner).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    names = [p.name for p in params]
    if any(k in names for k in kwargs):
        return None  # it takes the contract's arguments: the error is something else
    return (f"(its constructor takes ({', '.join(names)}), not the contract's arguments: a class written for a "
            "course or book is checked through its --convention, e.g. --convention dlfs2 for "
            "ゼロから作るDeep Learning ❷'s (Wx, Wh, b) layers; see the README's conventions, or write a small "
            "class that takes the contract's arguments and calls it)")


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

    The calls, on two fresh instances (a few small calls more per case, to catch what a
    single forward and backward cannot):

    1. instance A: ``forward``, ``backward`` (what is returned), then ``backward`` again with
       the same upstream gradients: the gradients must not add up ("grads accumulate across
       backward calls") and the results must be the same. (If the second backward raises, as
       torch does without retain_graph, A runs ``forward`` and ``backward`` again instead.)
    2. instance B: ``forward`` on other inputs, then ``forward`` and ``backward`` on the
       case's: the same results as A's, or backward did not use the most recent forward.

    After every call: each result has the contract's structure and shape (a result a
    ``ConventionLimits`` class declares ``not_returned`` is None instead, and left out), is a
    floating-point array (not a list; its dtype is kept as returned, for the comparison to
    report, ``core/dtypes.py``) and finite (NaN or inf: ``ImplementationError``); no argument given
    so far was written into; nothing returned so far has changed since (a returned view of
    state the implementation overwrites later). Each call may take ``call_time_limit()``
    seconds.
    """
    run = _Run(cls, case, arrays)
    a = run.instance()
    fwd = run.forward(a, arrays, "forward")
    bwd = run.backward(a, "backward")
    run.repeat_backward(a, bwd)
    b = run.instance()
    run.forward(b, run.decoy(), "forward on other inputs", check=False)
    run.latest_forward(b, fwd, bwd)
    return {**fwd, **bwd}


class _Run:
    """The calls of one ``run_impl``, with everything given and returned so far."""

    def __init__(self, cls, case, arrays: dict):
        self.cls, self.case, self.arrays = cls, case, arrays
        self.fam, self.config = case.family, case.config
        self.name = impl_name(cls)
        self.param_shapes = self.config.param_shapes()
        self.shapes = self.fam.shapes(self.config)
        self.dtype = arrays["x"].dtype
        self.given: list = []  # (method, argument, the array passed, the harness's original)
        self.returned: list = []  # (what, the array returned, a copy taken on return)
        # An argument is located like the gradient returned for it, and the other way round.
        fam = self.fam
        self._like = {**dict(zip(flat(fam.forward_args), flat(fam.backward_returns))),
                      **dict(zip(flat(fam.backward_args), flat(fam.forward_returns)))}

    # -- the calls ---------------------------------------------------------------------
    def instance(self):
        impl = construct(self.cls, self.config.module_kwargs(), self.case)
        inject_params(impl, self.cls, self.arrays["params"], self.param_shapes)
        return impl

    def _call(self, impl, method: str, values: dict, label: str, check: bool = True) -> dict:
        fam = self.fam
        takes, returns, extensions = (
            (fam.forward_args, fam.forward_returns, fam.forward_extensions) if method == "forward"
            else (fam.backward_args, fam.backward_returns, fam.backward_extensions))
        passed = {name: None if values[name] is None else values[name].copy() for name in flat(takes)}
        kw = {k: _extension(getattr(self.case, k)) for k in extensions if getattr(self.case, k) is not None}
        result = _call(self.cls, method, getattr(impl, method), *[_pack(s, passed) for s in takes],
                       case=self.case, **kw)
        out = {}
        absent = not_returned(self.cls)
        for name, value in _unpack(self.cls, method, returns, result).items():
            if value is None and name in absent:  # declared: it has nowhere to give this one
                continue
            _check_array(self.cls, f"{method} {name}", value, self.shapes[name], self.dtype)
            if check:
                self._check_finite(f"{method} {name}", name, value)
            out[name] = value
        current = [(method, k, v, values[k]) for k, v in passed.items() if v is not None]
        self._check_given(method, current)
        self.given += current
        self._check_returned(label)
        if check:
            self.returned += [(f"{name} returned by {label}", v, np.array(v)) for name, v in out.items()]
        return {name: np.array(v) for name, v in out.items()}

    def forward(self, impl, values: dict, label: str, check: bool = True) -> dict:
        return self._call(impl, "forward", values, label, check)

    def backward(self, impl, label: str) -> dict:
        out = self._call(impl, "backward", self.arrays, label)
        grads = _param_dict(self.cls, impl, "grads", "(after backward)", self.param_shapes, self.dtype)
        for name in self.param_shapes:
            self._check_finite(f".grads[{name!r}] (after {label})", f"grad {name}", grads[name])
            out[f"grad {name}"] = np.array(grads[name])
        return out

    def decoy(self) -> dict:
        """Other inputs of the same shapes (None stays None): 0.25 - x / 2, elementwise; an
        input the class cannot take stays zero (``zero_inputs``)."""
        decoy = dict(self.arrays)
        fixed = zero_inputs(self.cls)
        for name in flat(self.fam.forward_args):
            a = self.arrays[name]
            if a is not None and name not in fixed:
                decoy[name] = (0.25 - 0.5 * a).astype(a.dtype)
        return decoy

    # -- the checks across calls -------------------------------------------------------
    def repeat_backward(self, impl, first: dict) -> None:
        """backward again with the same upstream gradients: the same gradients (fresh, not
        accumulated) and the same results."""
        label = "a second backward with the same upstream gradients"
        try:
            again = self.backward(impl, label)
        except (Unsupported, ImplementationError) as exc:
            if isinstance(exc, ImplementationError) and exc.__cause__ is None:
                raise  # a time limit, not an exception of the plug-in's
            # It consumed its cache, as torch does: forward, then backward again.
            self.forward(impl, self.arrays, "a second forward on the same inputs")
            label = "a second forward and backward on the same inputs"
            again = self.backward(impl, label)
        for name in self.param_shapes:
            key = f"grad {name}"
            if not self._same(key, again[key], first[key]):
                k = _multiple(again[key], first[key])
                how = (f"grads accumulate across backward calls: after {label}, .grads[{name!r}] is "
                       f"{'twice' if k == 2 else f'{k} times'} what the first backward left" if k
                       else f"grads are not fresh after each backward call: after {label}, .grads[{name!r}] "
                            "differs from what the first backward left")
                raise ContractViolation(
                    f"{self.name}: {how} ({_difference(again[key], first[key], self._locate(key))}); the "
                    "contract: each backward sets fresh gradients (assign them, do not add to the last call's)"
                )
        for name in [n for n in flat(self.fam.backward_returns) if n in first]:
            if not self._same(name, again[name], first[name]):
                raise ContractViolation(
                    f"{self.name}.backward is not repeatable: {label} returned a different {name} "
                    f"({_difference(again[name], first[name], self._locate(name))}); backward must not "
                    "change what forward cached, nor carry anything over from the last backward"
                )

    def latest_forward(self, impl, fwd: dict, bwd: dict) -> None:
        """On an instance that ran forward on other inputs first: forward and backward on the
        case's inputs give what a fresh instance gave."""
        args = describe(self.fam.forward_args)
        fwd2 = self.forward(impl, self.arrays, "forward after a forward on other inputs")
        for name, value in fwd2.items():
            if not self._same(name, value, fwd[name]):
                raise ContractViolation(
                    f"{self.name}.forward depends on an earlier call: after forward on other inputs, "
                    f"forward{args} returned a different {name} than on a fresh instance "
                    f"({_difference(value, fwd[name], self._locate(name))}); forward must depend on its "
                    "arguments and params only (h0=None means zeros, not the last call's h_n)"
                )
        bwd2 = self.backward(impl, "backward after two forwards")
        for name, value in bwd2.items():
            if not self._same(name, value, bwd[name]):
                what = f".grads[{name[5:]!r}]" if name.startswith("grad ") else name
                raise ContractViolation(
                    f"{self.name}.backward does not use the most recent forward: after forward on other "
                    f"inputs and then forward{args}, backward gave a different {what} than after "
                    f"forward{args} alone ({_difference(value, bwd[name], self._locate(name))}); backward "
                    "must use what the latest forward cached"
                )

    def _check_given(self, method: str, current: list) -> None:
        """Neither this call's arguments nor any given to an earlier call were written into."""
        for i, (m, arg, passed, original) in enumerate(current + self.given):
            if not _unchanged(passed, original):
                whose = (f"its argument {arg}" if i < len(current)
                         else f"the {arg} given to an earlier {m} call (it kept a reference to it)")
                raise ContractViolation(
                    f"{self.name}.{method} modified {whose} in place "
                    f"({_difference(passed, original, self._locate(arg))}); the contract: never write "
                    "into the caller's arrays (copy them first)"
                )

    def _check_returned(self, label: str) -> None:
        for what, value, copy in self.returned:
            if not _unchanged(value, copy):
                raise ContractViolation(
                    f"{self.name}: the {what} changed during {label} "
                    f"({_difference(value, copy, self._locate(what.split()[0]))}): it is a view of state "
                    "the implementation writes to later; return a copy"
                )

    def _check_finite(self, what: str, tensor: str, value) -> None:
        bad = ~np.isfinite(value)
        if not bad.any():
            return
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        v = value[first]
        kind = "NaN" if np.isnan(v) else ("inf" if v > 0 else "-inf")
        n_nan = int(np.count_nonzero(np.isnan(value)))
        raise ImplementationError(
            f"{self.name}: {what} contains {kind} at index {first}{self._locate(tensor)(first)}: "
            f"{int(bad.sum())} of {value.size} elements are not finite ({n_nan} NaN, "
            f"{int(bad.sum()) - n_nan} inf), which no tolerance accepts (configuration: {self.case.describe()})"
        )

    def _same(self, tensor: str, actual, expected) -> bool:
        """Equal up to the tolerance rule's budget for this dtype (reruns of one computation
        may differ in the last bits)."""
        if np.array_equal(actual, expected):
            return True
        if not (np.isfinite(actual).all() and np.isfinite(expected).all()):
            return False
        allowed, _ = allowed_error(expected, None, self.dtype)
        diff = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
        return bool(diff.max() <= allowed)

    def _locate(self, tensor: str):
        """index -> `` (layer 0, forward direction, time step 2, ...)``, or nothing."""

        def where(index) -> str:
            try:
                words = self.fam.locate(self.config, self._like.get(tensor, tensor), index)
            except Exception:  # noqa: BLE001 - words are a courtesy
                return ""
            return f" ({words})" if words and words != str(index) else ""

        return where


def _unchanged(now, before) -> bool:
    """Bit for bit the same (fast), or equal as numbers (-0.0 == 0.0, NaN == NaN)."""
    return now.tobytes() == before.tobytes() or np.array_equal(now, before, equal_nan=True)


def _difference(actual, expected, locate) -> str:
    """``3 of 60 elements differ, the greatest by 0.25 at index (0, 1, 2) (words)``."""
    a, e = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        diff = np.abs(a - e)
    diff = np.where(np.isnan(diff) & ~(np.isnan(a) & np.isnan(e)), np.inf, np.nan_to_num(diff, nan=0.0))
    n = int(np.count_nonzero(diff))
    index = tuple(int(i) for i in np.unravel_index(np.argmax(diff), diff.shape))
    return (f"{n} of {diff.size} elements differ, the greatest by {diff[index]:.3g} at index {index}"
            f"{locate(index)}")


def _multiple(now, before) -> int | None:
    """k when ``now`` is k times ``before`` (k = 2, 3, ...: gradients added up k times), else None."""
    b = np.asarray(before, dtype=np.float64)
    n = np.asarray(now, dtype=np.float64)
    bb = float(np.sum(b * b))
    if bb == 0:
        return None
    k = round(float(np.sum(n * b)) / bb)
    return k if k > 1 and np.allclose(n, k * b, rtol=1e-3, atol=0) else None


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
# The time limit of one call into a plug-in.
# ---------------------------------------------------------------------------------------
DEFAULT_CALL_TIME_LIMIT = 60.0  # seconds
AFTER_A_HANG = 2.0  # seconds: the limit for a class's later calls once one of its calls hung
_LIMITS: list = []  # time_limit(...) blocks, innermost last
_HUNG: dict = {}  # impl_name -> the first call of it that hung, in words


def call_time_limit() -> float | None:
    """Seconds one call into a plug-in (constructor, forward, backward) may take: the
    innermost ``time_limit(...)`` block's, else the environment's ``RNN_PARITY_CALL_TIMEOUT``
    (inherited by pytest-xdist workers), else 60. None: no limit (0 or less)."""
    if _LIMITS:
        value = _LIMITS[-1]
    else:
        raw = os.environ.get("RNN_PARITY_CALL_TIMEOUT", "").strip()
        try:
            value = float(raw) if raw else DEFAULT_CALL_TIME_LIMIT
        except ValueError:
            raise ValueError(f"RNN_PARITY_CALL_TIMEOUT must be seconds (0: no limit), got {raw!r}") from None
    return float(value) if value is not None and value > 0 else None


@contextmanager
def time_limit(seconds):
    """Within the block each call into a plug-in may take ``seconds`` (None or 0: no limit)."""
    _LIMITS.append(seconds)
    try:
        yield
    finally:
        _LIMITS.pop()


class _Shortened(float):
    """A time limit cut to AFTER_A_HANG because a call of the same class hung before."""


class _TimedOut(BaseException):
    """Raised into the plug-in's code when its time is up: a BaseException, so that the
    plug-in's own ``except Exception`` does not swallow it."""


@contextmanager
def _limited(cls, what: str, case):
    """Run the block under the time limit (shortened to ``AFTER_A_HANG`` once a call of
    ``cls`` hung); yields the limit. It is enforced with SIGALRM in the main thread (where
    pytest, pytest-xdist's workers and the report run the plug-in); it interrupts Python code,
    and a long call into C (one huge matrix product) when that returns. Elsewhere (another
    thread, no SIGALRM) there is no limit. An alarm someone else armed (pytest-timeout's
    signal method) is kept: if it is due first, ours is not set; otherwise it is re-armed
    afterwards with the time it has left."""
    limit = call_time_limit()
    if limit is not None and impl_name(cls) in _HUNG and limit > AFTER_A_HANG:
        limit = _Shortened(AFTER_A_HANG)
    if (limit is None or not hasattr(signal, "setitimer")
            or threading.current_thread() is not threading.main_thread()):
        yield limit
        return
    outer_delay, outer_interval = signal.getitimer(signal.ITIMER_REAL)
    if 0 < outer_delay <= limit:
        yield limit
        return
    armed = [True]

    def on_alarm(signum, frame):
        if armed[0]:
            armed[0] = False
            raise _TimedOut(what)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    start = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        try:
            yield limit
        finally:
            armed[0] = False  # an alarm from here on is ignored: the call has returned
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL if previous is None else previous)
        if outer_delay > 0:
            left = outer_delay - (time.monotonic() - start)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-6), outer_interval)


def _timed_out(cls, call: str, limit: float, exc, case) -> ImplementationError:
    name = impl_name(cls)
    config = case.config.short() if case is not None else "?"
    first = _HUNG.get(name)
    _HUNG.setdefault(name, f"{call} on {config}")
    how = (f"the limit is {limit:g} s once a call of it has hung ({first})" if isinstance(limit, _Shortened)
           else "RNN_PARITY_CALL_TIMEOUT=<seconds> sets the limit")
    return ImplementationError(
        f"{call} did not return within {limit:g} s{_where(exc, 'interrupted at')} "
        f"(configuration: {case.describe() if case is not None else '?'}); {how}"
    )


# ---------------------------------------------------------------------------------------
# OpenBLAS 0.3.31's AVX-512 sgemv_t (NumPy 2.4's wheels) sets the invalid-operation flag after
# a correct float32 product whenever stale stack bytes it reads are a signalling NaN
# (scratch/linalg.py has the root cause): NumPy then warns "invalid value encountered in
# matmul", intermittently, for any float32 matrix x vector product whose matrix is contiguous
# along the summed axis, e.g. a column-major ``(W.T @ g.T).T`` with a batch of 2. Under
# ``filterwarnings = error`` (this project's, and many users') that warning failed correct
# plug-ins: the harness's own column-major variant ``ProductColumns`` on a fresh clone. It
# carries nothing the values do not: a product that really met inf - inf or 0 * inf holds a
# NaN, which ``_check_finite`` reports with its index. So during a float32 case's calls, and
# for that one message, it is ignored. scratch routes its own products around the kernel
# (linalg.matmul), so for scratch the filter changes nothing. The same kernel answers np.dot
# (and np.inner, np.tensordot: "... in dot"), np.matvec and np.vecdot: a correct
# deeplearning.ai LSTM (np.dot(Wf, concat) with a batch of one) failed once in the suite.
_SPURIOUS_FLOAT32 = r"invalid value encountered in (matmul|dot|matvec|vecmat|vecdot)$"


def _call(cls, method: str, fn, *args, case=None, **kwargs):
    try:
        with _limited(cls, method, case) as limit, warnings.catch_warnings():
            if getattr(getattr(case, "config", None), "dtype", None) == "float32":
                warnings.filterwarnings("ignore", message=_SPURIOUS_FLOAT32, category=RuntimeWarning)
            return fn(*args, **kwargs)
    except _TimedOut as exc:
        raise _timed_out(cls, f"{impl_name(cls)}.{method}", limit, exc, case) from None
    except NotImplementedError as exc:
        name = impl_name(cls)  # with options ("mod:Cls --convention dlfs2") a ".forward" would read as a path
        raise Unsupported(f"{name}{': ' if ' ' in name else '.'}{method} raised NotImplementedError: {exc}") from None
    except Exception as exc:
        raise ImplementationError(f"{impl_name(cls)}.{method} raised {type(exc).__name__}: {exc}{_where(exc)}") from exc


def _where(exc, how: str = "at") -> str:
    """`` (at file.py:12, in forward)``: the innermost frame of the exception's traceback that
    is not the harness's own (for a call that ran out of time: where it was interrupted)."""
    tb, last = exc.__traceback__, None
    while tb is not None:
        if not tb.tb_frame.f_code.co_filename.startswith(_HARNESS_CORE):
            last = tb
        tb = tb.tb_next
    if last is None:  # e.g. a TypeError raised at the call: the plug-in's code never ran
        return ""
    tb = last
    code = tb.tb_frame.f_code
    return f" ({how} {os.path.basename(code.co_filename)}:{tb.tb_lineno}, in {code.co_name})"


def _param_dict(cls, impl, attr: str, when: str, shapes: dict, dtype) -> dict:
    """``impl.params`` / ``impl.grads``: a dict with exactly torch's names, each an array of
    the parameter's shape (and, for grads, floating point)."""
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
        hint = (f"; return one numpy array of shape {tuple(shape)} (np.asarray(...)), not Python "
                f"{type(value).__name__}s") if isinstance(value, (list, tuple)) else ""
        raise ContractViolation(f"{impl_name(cls)}: {what} must be a numpy array, got {_what(value)}{hint}")
    if value.shape != tuple(shape):
        raise ContractViolation(
            f"{impl_name(cls)}: {what} must have shape {tuple(shape)}, got {value.shape}"
        )
    # Another floating dtype than the inputs' is not a violation here: the values are
    # compared (at the requested precision's budget) and the dtype reported apart
    # (core/dtypes.py). What cannot be compared as numbers is.
    if dtype is not None and value.dtype.kind != "f":
        raise ContractViolation(
            f"{impl_name(cls)}: {what} has dtype {value.dtype}, but the inputs were {np.dtype(dtype)}: "
            "return floating-point arrays (the contract: compute in the dtype you are given)"
        )


def _what(value) -> str:
    if value is None:
        return "None"
    if isinstance(value, np.ndarray):
        return f"ndarray of shape {value.shape}"
    if isinstance(value, (tuple, list)):
        kinds = sorted({type(v).__name__ for v in value})
        inner = f" {kinds[0]}s" if len(kinds) == 1 else (f" ({', '.join(kinds)})" if kinds else "")
        return f"a {type(value).__name__} of {len(value)}{inner}"
    return type(value).__name__


def _kw(kwargs: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
