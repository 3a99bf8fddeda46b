"""The gated families' extensions (``lengths``, ``truncate``) are tested honestly:

- the properties of ``tests/test_gated_lengths_truncation.py`` reject every planted mistake of
  ``planted/gated_extension_bugs.py``, by their @examples alone and by hypothesis' draws
  alone, and accept the correct cell chain written differently from scratch;
- the running error bounds of a truncated run stop at the cuts exactly as the gradient does,
  and the reference loop cuts exactly where torch's chunked run does;
- the bounds of a run with lengths are each sequence's own, zero past its length;
- the extensions stay optional: a plug-in whose forward has no ``lengths`` (and backward no
  ``truncate``) still runs the gated rows, as for the RNN.
"""

from __future__ import annotations

import inspect
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import Phase, settings

from parity_tests.core.cases import Case
from parity_tests.core.family import flat
from parity_tests.core.messages import ParityMismatch
from parity_tests.families.gru import GRUConfig
from parity_tests.families.lstm import LSTMConfig
from parity_tests.planted import gated as independent
from parity_tests.planted import gated_extension_bugs as bugs
from parity_tests.properties import assert_parity
from parity_tests.tests.test_gated_lengths_truncation import KINDS, lengths_property, truncate_property
from rnn_parity.reference.gated import gated_loop, gru_bounds, lstm_bounds
from rnn_parity.reference.torch_ref import build, extension_call, vjp

EXPLICIT = settings(phases=[Phase.explicit], database=None)
# The draws alone (no @example): derandomized, so the same draws every run; not shrunk (the
# first failing draw is enough here, shrinking only costs time).
DRAWN = settings(phases=[Phase.generate], derandomize=True, max_examples=40, database=None, deadline=None)


def _chain_supported(case) -> bool:
    c = case.config
    return c.num_layers == 1 and not c.bidirectional and not getattr(c, "proj_size", 0)


# (planted class, kind, extension, what the chain declines is left out)
PLANTED = [
    (bugs.LSTMIgnoresLengths, "lstm", "lengths"),
    (bugs.GRUIgnoresLengths, "gru", "lengths"),
    (bugs.LSTMMasksOutputsOnly, "lstm", "lengths"),
    (bugs.GRUMasksOutputsOnly, "gru", "lengths"),
    (bugs.LSTMIgnoresTruncate, "lstm", "truncate"),
    (bugs.GRUIgnoresTruncate, "gru", "truncate"),
    (bugs.LSTMTruncateKeepsCellState, "lstm", "truncate"),
    (bugs.LSTMTruncateOffByOne, "lstm", "truncate"),
    (bugs.GRUTruncateOffByOne, "gru", "truncate"),
]


def _property(cls, kind: str, extension: str, test_settings):
    _, family, length_examples, truncate_examples = KINDS[kind]
    chain = issubclass(cls, bugs._CellChain)
    # The chain declines more than one layer, two directions and a projection: its examples
    # and draws are the ones it runs (one layer, unidirectional, not projected).
    knobs = dict(num_layers=1, **({"projected": False} if kind == "lstm" else {})) if chain else {}
    if extension == "lengths":
        return test_settings(lengths_property(cls, family, length_examples))
    examples = [e for e in truncate_examples if not chain or _chain_supported(e)]
    return test_settings(truncate_property(cls, family, examples, **knobs))


@pytest.mark.parametrize("how", ["examples", "draws"])
@pytest.mark.parametrize("cls, kind, extension", PLANTED, ids=lambda v: getattr(v, "__name__", None))
def test_planted_extension_bug_is_rejected(cls, kind, extension, how):
    with pytest.raises(ParityMismatch) as info:
        _property(cls, kind, extension, EXPLICIT if how == "examples" else DRAWN)()
    if extension == "truncate":  # a backward mistake is never blamed on the forward pass
        forward = flat(KINDS[kind][1].forward_returns)
        assert not [t for t in info.value.failed if t in forward], str(info.value)


@pytest.mark.parametrize("cls, kind", [(bugs.LSTMChainTruncated, "lstm"), (bugs.GRUChainTruncated, "gru")],
                         ids=["lstm", "gru"])
def test_correct_cell_chain_with_truncation_passes(cls, kind):
    """The control: the chain cutting at k, 2k, ... passes the same examples and draws as its
    planted siblings, so their rejection is their cut's fault."""
    _property(cls, kind, "truncate", EXPLICIT)()
    _property(cls, kind, "truncate", DRAWN)()


# ---------------------------------------------------------------------------------------
# The bounds of a truncated run stop at the cuts.
# ---------------------------------------------------------------------------------------
def _bounds(kind, case, a, *, T=None, final_grads=True, truncate=None):
    """The family's bounds on time-major arrays, on the first T steps only when T is given
    (with zero upstream gradients of the final states when ``final_grads`` is False)."""
    kw, T = case.config.module_kwargs(), T or case.config.seq_len
    g = (lambda v: v) if final_grads else np.zeros_like
    if kind == "lstm":
        return lstm_bounds(kw, a["params"], a["x"][:T], a["h0"], a["c0"], a["d_output"][:T], g(a["d_h_n"]),
                           g(a["d_c_n"]), truncate=truncate)
    return gru_bounds(kw, a["params"], a["x"][:T], a["h0"], a["d_output"][:T], g(a["d_h_n"]), truncate=truncate)


@pytest.mark.parametrize("kind", KINDS)
def test_truncated_bounds_of_the_first_chunk_are_the_chunk_alone(kind):
    """With truncate=k nothing from steps k.. reaches steps 0..k-1 (the states entering step k
    are detached), so the bounds of dh0 (dc0) and of dx at t < k are exactly those of a run of
    the first k steps alone, whose final states get no upstream gradient; and they are below
    the untruncated ones (the cut is no no-op)."""
    cfg = LSTMConfig(3, 4, seq_len=7, batch=2) if kind == "lstm" else GRUConfig(3, 4, seq_len=7, batch=2)
    case, k = Case(cfg, seed=3), 3
    a = case.materialize()
    full, cut = _bounds(kind, case, a), _bounds(kind, case, a, truncate=k)
    chunk = _bounds(kind, case, a, T=k, final_grads=False)
    for name in ["dh0", "dc0"] if kind == "lstm" else ["dh0"]:
        np.testing.assert_array_equal(cut[name], chunk[name], err_msg=name)
        assert np.all(cut[name] <= full[name]) and np.any(cut[name] < full[name]), name
    np.testing.assert_array_equal(cut["dx"][:k], chunk["dx"], err_msg="dx")
    for name in ("output", "h_n"):  # a detach changes no forward value, nor its bound
        np.testing.assert_array_equal(cut[name], full[name], err_msg=name)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_reference_loop_cuts_where_torch_chunks(kind, k):
    """``gated_loop(truncate=k)`` (whose traces the bounds read) gives torch's own chunked
    gradients: it detaches exactly where torch's run with detached states does."""
    if kind == "lstm":
        config = LSTMConfig(3, 4, num_layers=2, proj_size=2, seq_len=5, batch=2)
        states, finals = ("h0", "c0"), ("d_h_n", "d_c_n")
    else:
        config = GRUConfig(3, 4, num_layers=2, seq_len=5, batch=2)
        states, finals = ("h0",), ("d_h_n",)
    a = Case(config, seed=4).materialize()
    kw = config.module_kwargs()
    loop = gated_loop(kind.upper(), kw, a["params"], a["x"], tuple(a[s] for s in states), a["d_output"],
                      tuple(a[f] for f in finals), truncate=k)
    module = build(kind.upper(), a["params"], **kw)
    hx = tuple(a[s] for s in states) if kind == "lstm" else a["h0"]
    d_fin = tuple(a[f] for f in finals) if kind == "lstm" else a["d_h_n"]
    outs, in_grads, pgrads = vjp(module, (a["x"], hx), (a["d_output"], d_fin), extension_call(truncate=k))
    np.testing.assert_allclose(loop.output, outs[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(loop.dx, in_grads[0], rtol=1e-12, atol=1e-14)
    for got, want in zip(loop.d_init, in_grads[1:]):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    for name, want in pgrads.items():
        np.testing.assert_allclose(loop.grads[name], want, rtol=1e-12, atol=1e-14, err_msg=name)


@pytest.mark.parametrize("kind", KINDS)
def test_bounds_with_lengths_are_each_sequences_own(kind):
    """Zero past each length; a sequence's state bounds are those of the sequence run alone."""
    _, family, examples, _ = KINDS[kind]
    case = examples[0]  # bidirectional, two layers, lengths (2, 5, 1, 3)
    a = case.materialize()
    m = family.bounds(case, a)
    for b, n in enumerate(case.lengths):
        assert np.all(m["output"][n:, b] == 0) and np.all(m["dx"][n:, b] == 0)
        assert np.all(m["output"][:n, b] > 0)
        one = Case(replace(case.config, seq_len=n, batch=1), seed=case.seed)
        alone = family.bounds(one, {**a, "x": a["x"][:n, b:b + 1], "d_output": a["d_output"][:n, b:b + 1],
                                    **{s: a[s][:, b:b + 1] for s in ("h0", "c0", "d_h_n", "d_c_n") if s in a}})
        for name in ("h_n", "dh0"):
            np.testing.assert_array_equal(m[name][:, b], alone[name][:, 0], err_msg=f"{name}, batch {b}")


# ---------------------------------------------------------------------------------------
# The extensions stay optional, as for the RNN.
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_a_plug_in_without_the_extensions_still_runs_the_rows(kind):
    """The records declare ``lengths`` / ``truncate`` as extensions, passed only when a case
    carries them (no row's case does): the independent classes of ``planted/gated.py``, whose
    forward has no ``lengths`` and backward no ``truncate``, pass as before."""
    cls = independent.LSTM if kind == "lstm" else independent.GRU
    assert "lengths" not in inspect.signature(cls.forward).parameters
    assert "truncate" not in inspect.signature(cls.backward).parameters
    _, family, _, _ = KINDS[kind]
    for row in family.rows:
        for case in family.edge_cases(row.pins):
            assert case.lengths is None and case.truncate is None
    config = (LSTMConfig(3, 4, num_layers=2, bidirectional=True, proj_size=2) if kind == "lstm"
              else GRUConfig(3, 4, num_layers=2, bidirectional=True))
    assert_parity(cls, Case(config, seed=5))
