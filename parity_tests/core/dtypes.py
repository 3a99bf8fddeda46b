"""The dtype a plug-in returns: reported on its own, never in the way of the numbers.

The contract says: compute in the dtype you are given. Much real code does not: it
allocates with ``np.zeros(...)`` (float64) whatever the input, or hard-codes ``dtype='f'``.
The harness always compares the values, each against the budget of the precision the case
asked for (the dtype of its inputs, ``core/tolerance.py``), and reports the dtype apart:

* an *upcast* (float32 in, float64 out) is judged on its values at float32's budget, and
  passes when they are right;
* a *downcast* (float64 in, float32 arithmetic or results) fails on its values, as it
  should (float32 rounding is ~1e9 times float64's budget), and the message says that the
  returned precision is float32's;
* the mismatch itself is a ``DtypeWarning`` for a plug-in (``--rnn-impl`` and friends), a
  failure with ``--strict-dtype``. The harness's own classes (no plug-in option given: the
  default implementations) and any class the library is called with directly run strict.

This module imports nothing (not even numpy): the pytest plugin names ``DtypeWarning`` in a
``filterwarnings`` entry in every pytest run, which imports it.
"""

from __future__ import annotations

STRICT_FLAG = "--strict-dtype"
_STRICT_ATTR = "_rnn_parity_strict_dtype"  # set only by with_dtype_policy (a plug-in option)


class DtypeWarning(UserWarning):
    """A plug-in returned a tensor in another dtype than its inputs'. Its values were still
    compared, against the budget of the inputs' precision; ``--strict-dtype`` makes this a
    failure. The pytest plugin shows it as a warning even under ``filterwarnings = error``."""


# The filter the pytest plugin adds to the ini's filterwarnings (after the project's own,
# so that it wins over a blanket "error"): the warning is shown, not raised.
WARNING_FILTER = f"default::{DtypeWarning.__module__}.{DtypeWarning.__qualname__}"


def with_dtype_policy(cls, strict: bool):
    """``cls`` (a plug-in given by option) with its dtype policy: ``strict`` (``--strict-dtype``)
    makes a dtype mismatch a failure, otherwise it is a DtypeWarning. A subclass, like
    ``contract.with_reduction``: the user's class itself is never modified."""
    return type(cls.__name__, (cls,), {
        _STRICT_ATTR: bool(strict),
        "__module__": cls.__module__, "__qualname__": cls.__qualname__,
    })


def strict_dtype(cls) -> bool:
    """Does a dtype mismatch fail ``cls``? Yes unless it is a plug-in given without
    ``--strict-dtype`` (``with_dtype_policy(cls, False)``)."""
    return bool(getattr(cls, _STRICT_ATTR, True))


def dtype_flag(cls) -> str:
    """``"--strict-dtype"`` when ``cls`` is strict because that option was given (so that a
    repro line reproduces the same verdict), else ``""``."""
    return STRICT_FLAG if getattr(cls, _STRICT_ATTR, None) is True else ""


def mismatches(comparisons) -> list:
    """The comparisons whose returned dtype is not the requested one, in causal order."""
    return [c for c in comparisons if not c.dtype_ok]


def tensors_in_words(comparisons) -> str:
    """``"output, h_n and dx returned as float64"``, grouped by the dtype returned; every
    tensor mismatched the same way reads ``"every tensor returned as float64"``."""
    bad = mismatches(comparisons)
    by_dtype: dict = {}
    for c in bad:
        by_dtype.setdefault(c.dtype, []).append(c.tensor)
    if len(by_dtype) == 1 and len(bad) == len(comparisons):
        return f"every tensor ({bad[0].tensor} first) returned as {bad[0].dtype}"
    return "; ".join(f"{_join(names)} returned as {dtype}" for dtype, names in by_dtype.items())


def dtype_line(cls, comparisons) -> str:
    """The failure message's line for a dtype mismatch ("" when there is none)."""
    bad = mismatches(comparisons)
    if not bad:
        return ""
    requested = bad[0].requested_dtype
    consequence = ("a failure under the strict dtype policy (--strict-dtype; always for the harness's "
                   "own classes)" if strict_dtype(cls) else "a warning; --strict-dtype makes it a failure")
    return (f"Dtype mismatch: {tensors_in_words(comparisons)}, but the case's inputs are {requested} "
            f"(values judged against {requested}'s budget; the mismatch is {consequence})")


def warning_text(name: str, comparisons) -> str:
    """The DtypeWarning: the implementation, the tensor(s) and both dtypes. The same text for
    every case of a test when every tensor comes back in one dtype (the usual np.zeros story),
    so pytest's summary lists it once."""
    requested = mismatches(comparisons)[0].requested_dtype
    return (f"{name}: {tensors_in_words(comparisons)}, but its inputs were {requested}; the values "
            f"were compared against {requested}'s budget. Return arrays of the input's dtype "
            f"(the contract), or pass {STRICT_FLAG} to make a dtype mismatch a failure")


def _join(names: list) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
