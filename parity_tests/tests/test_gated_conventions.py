"""Gate-order and GRU-update conventions (``families/gated_conventions.py``) through the harness.

For each convention, a correct class written that way (``planted/gated.py``: the same
equations reading its weights in another gate order, or with h' = z n + (1 - z) h):
adapted, it passes; unadapted, it fails in forward (it reads torch's weights as other
gates); and a bug in it still fails through the adapter, with the same first tensor it has
in torch's convention. Fixed cases (the whole check is a few seconds).
"""

from __future__ import annotations

import numpy as np
import pytest

from parity_tests.core.cases import Case
from parity_tests.core.contract import impl_name
from parity_tests.core.messages import ParityMismatch
from parity_tests.core.runs import run_both
from parity_tests.diagnosis import Probe, suspects
from parity_tests.families.gated_conventions import adapt_gated, canonical_order, gate_orders
from parity_tests.families.gru import GRUConfig
from parity_tests.families.gru_cell import GRUCellConfig
from parity_tests.families.lstm import LSTMConfig
from parity_tests.families.lstm_cell import LSTMCellConfig
from parity_tests.planted import gated as G
from parity_tests.properties import assert_parity

CONFIGS = {"lstm": LSTMConfig, "gru": GRUConfig, "lstm_cell": LSTMCellConfig, "gru_cell": GRUCellConfig}
LAYER = dict(input_size=3, hidden_size=4, seq_len=3, batch=2)
CELL = dict(input_size=3, hidden_size=4, batch=2)


def _cases(family):
    """A handful of fixed cases covering the options an adapter could get wrong."""
    C = CONFIGS[family]
    if family in ("lstm_cell", "gru_cell"):
        return [Case(C(**CELL), seed=1), Case(C(**dict(CELL, bias=False, has_h0=False)), seed=2),
                Case(C(**dict(CELL, dtype="float32")), seed=3)]
    extra = dict(proj_size=2) if family == "lstm" else {}
    return [
        Case(C(**LAYER), seed=1),
        Case(C(**dict(LAYER, num_layers=2, bidirectional=True, batch_first=True, **extra)), seed=2),
        Case(C(**dict(LAYER, bias=False, has_h0=False)), seed=3),
        Case(C(**dict(LAYER, dtype="float32")), seed=4, weight_scale=3.0),
    ]


# (family, the class written in the convention, the options that describe it)
WRITTEN = [
    ("lstm", G.LSTMGatesIFOG, dict(gate_order="ifog")),
    ("lstm", G.LSTMGatesFIGO, dict(gate_order="f,i,c,o")),
    ("gru", G.GRUKeras, dict(gate_order="zrh")),
    ("gru", G.GRUKeras, dict(gate_order="keras")),
    ("gru", G.GRUComplement, dict(gru_update="complement")),
    ("gru", G.GRUKerasComplement, dict(gate_order="z,r,n", gru_update="complement")),
    ("lstm_cell", G.LSTMCellIFOG, dict(gate_order="ifog")),
    ("gru_cell", G.GRUCellComplement, dict(gru_update="complement")),
]
_ids = [f"{cls.__name__}-{'-'.join(f'{k}={v}' for k, v in opts.items())}" for _, cls, opts in WRITTEN]


@pytest.mark.parametrize("family, cls, opts", WRITTEN, ids=_ids)
def test_adapted_class_in_another_convention_passes(family, cls, opts):
    adapted = adapt_gated(cls, family, **opts)
    for case in _cases(family):
        assert_parity(adapted, case)


@pytest.mark.parametrize("family, cls, opts", WRITTEN, ids=_ids)
def test_unadapted_class_in_another_convention_fails_in_forward(family, cls, opts):
    with pytest.raises(ParityMismatch) as info:
        assert_parity(cls, _cases(family)[0])
    assert info.value.failed[0] == ("output" if family in ("lstm", "gru") else "h_next"), str(info.value)


def test_keras_lstm_order_is_torchs_and_adapting_it_changes_nothing():
    """Keras's LSTM order i, f, c, o is torch's i, f, g, o: scratch passes adapted that way."""
    assert canonical_order("keras", "lstm") == canonical_order("i,f,c,o", "lstm") == "ifgo"
    adapted = adapt_gated(G.LSTM, "lstm", gate_order="keras")
    assert_parity(adapted, _cases("lstm")[1])


# A bug written in a convention: the adapter must not hide it.
class IFOGCellStateNotCarried(G.LSTMCellStateNotCarried):
    gate_order = "ifog"


class IFOGTanhCDerivativeMissing(G.LSTMTanhCDerivativeMissing):
    gate_order = "ifog"


class ComplementZSwappedInBackward(G.GRU):
    """h' = z n + (1 - z) h, with z and 1 - z swapped in its backward."""

    gru_update = "complement"

    def update_grads(self, dh, z, n, h_prev):
        return dh * (1 - z), dh * (n - h_prev), dh * z


class KerasBhnOutsideReset(G.GRUBhnOutsideReset):
    gate_order = "zrn"


class KerasResetBefore(G.GRUResetBefore):
    """Keras's GRU(reset_after=False) as a NumPy class: gates z, r, h, reset before W_hn."""

    gate_order = "zrn"


class ComplementCellResetGradMissing(G.GRUCellResetGradMissing):
    gru_update = "complement"


BUGGY = [
    ("lstm", IFOGCellStateNotCarried, dict(gate_order="ifog"), "dx"),
    ("lstm", IFOGTanhCDerivativeMissing, dict(gate_order="ifog"), "dx"),
    ("gru", ComplementZSwappedInBackward, dict(gru_update="complement"), "dx"),
    ("gru", KerasBhnOutsideReset, dict(gate_order="zrh"), "output"),
    ("gru", KerasResetBefore, dict(gate_order="zrh"), "output"),
    ("gru_cell", ComplementCellResetGradMissing, dict(gru_update="complement"), "dx"),
]


@pytest.mark.parametrize("family, cls, opts, first", BUGGY, ids=[b[1].__name__ for b in BUGGY])
def test_a_bug_still_fails_through_the_adapter(family, cls, opts, first):
    adapted = adapt_gated(cls, family, **opts)
    with pytest.raises(ParityMismatch) as info:
        assert_parity(adapted, _cases(family)[0])
    assert info.value.failed[0] == first, str(info.value)
    assert impl_name(adapted) in str(info.value)  # the verdict names the options as typed


def test_the_verdict_names_the_options_as_typed():
    adapted = adapt_gated(G.GRUKerasComplement, "gru", gate_order="z,r,h", gru_update="complement", spec="m:G")
    assert adapted.cli == "m:G --gate-order z,r,h --gru-update complement"
    assert impl_name(adapted) == adapted.cli
    assert adapted.Learner is G.GRUKerasComplement


def test_no_option_is_the_class_itself():
    assert adapt_gated(G.LSTM, "lstm") is G.LSTM
    assert adapt_gated(G.GRU, "gru", gru_update="torch") is G.GRU


def test_translation_is_exact_and_its_own_inverse():
    """Weights handed over and gradients handed back are permuted and negated, nothing
    else: the round trip is bit for bit."""
    adapted = adapt_gated(G.GRUKerasComplement, "gru", gate_order="zrh", gru_update="complement")
    impl = adapted(3, 4, num_layers=2, bidirectional=True)
    rng = np.random.default_rng(0)
    for name, value in impl.params.items():
        v = rng.standard_normal(value.shape)
        assert np.array_equal(impl._to_contract(name, impl._to_learner(name, v)), v), name
    H = 4
    w = np.arange(3 * H * 3, dtype=float).reshape(3 * H, 3)  # rows r, z, n in torch's order
    mine = impl._to_learner("weight_ih_l0", w)
    np.testing.assert_array_equal(mine[:H], -w[H:2 * H])  # the class's z block: torch's z, negated
    np.testing.assert_array_equal(mine[H:2 * H], w[:H])  # its r block: torch's r
    np.testing.assert_array_equal(mine[2 * H:], w[2 * H:])  # n unchanged


def test_projection_weight_has_no_gates_and_passes_unchanged():
    adapted = adapt_gated(G.LSTMGatesIFOG, "lstm", gate_order="ifog")
    impl = adapted(3, 4, proj_size=2)
    w = np.arange(8.0).reshape(2, 4)
    np.testing.assert_array_equal(impl._to_learner("weight_hr_l0", w), w)


BAD = [
    (dict(family="lstm", gate_order="ifg"), ValueError, "gate_order for the LSTM"),
    (dict(family="lstm", gate_order="iffo"), ValueError, "gate_order for the LSTM"),
    (dict(family="lstm", gate_order="rzn"), ValueError, "gate_order for the LSTM"),
    (dict(family="gru", gate_order="ifgo"), ValueError, "gate_order for the GRU"),
    (dict(family="lstm", gru_update="complement"), ValueError, "gru_update applies to the GRU"),
    (dict(family="gru", gru_update="reversed"), ValueError, "gru_update must be one of"),
    (dict(family="rnn", gate_order="ifgo"), ValueError, "family must be one of"),
    (dict(family="gru", gate_order=3), TypeError, "gate_order must be a str"),
]


@pytest.mark.parametrize("kwargs, error, words", BAD, ids=[str(b[0]) for b in BAD])
def test_bad_options_are_named(kwargs, error, words):
    with pytest.raises(error, match=words):
        adapt_gated(G.GRU, **kwargs)


def test_an_instance_is_not_a_class():
    with pytest.raises(TypeError, match="cls must be a class"):
        adapt_gated(G.GRU(3, 4), "gru", gate_order="zrn")


def test_gate_order_values_go_to_the_family_whose_letters_they_spell():
    assert gate_orders(None) == {}
    assert gate_orders("ifco") == {"lstm": "ifco"}
    assert gate_orders(["zrh", "i,f,o,g"]) == {"gru": "zrh", "lstm": "i,f,o,g"}
    assert gate_orders("keras") == {"lstm": "keras", "gru": "keras"}
    with pytest.raises(ValueError, match="--gate-order must spell"):
        gate_orders("abcd")
    with pytest.raises(ValueError, match="given twice for the LSTM"):
        gate_orders(["ifco", "ifog"])


# ---------------------------------------------------------------------------------------
# The command-line options reach the adapter (options.resolve, shared by pytest and the CLI).
# ---------------------------------------------------------------------------------------
def _option_values(**given):
    from parity_tests.options import option_specs

    values = {flags[0]: kw.get("default") for flags, kw in option_specs()}
    values.update(given)
    return values


@pytest.mark.parametrize("option, spec, values", [
    ("--gru-impl", "parity_tests.planted.gated:GRUKerasComplement",
     {"--gate-order": ["zrh"], "--gru-update": "complement"}),
    ("--lstm-impl", "parity_tests.planted.gated:LSTMGatesFIGO", {"--gate-order": ["f,i,c,o"]}),
    ("--gru-cell-impl", "parity_tests.planted.gated:GRUCellComplement", {"--gru-update": "complement"}),
])
def test_options_adapt_the_plugin(option, spec, values):
    from parity_tests.options import given, resolve

    family = {"--gru-impl": "gru", "--lstm-impl": "lstm", "--gru-cell-impl": "gru_cell"}[option]
    opts = _option_values(**{option: spec}, **values)
    assert given(opts)
    adapted = resolve(opts)[family]
    for case in _cases(family)[:2]:
        assert_parity(adapted, case)
    # The same class without the convention options is judged in torch's convention: fails.
    plain = resolve(_option_values(**{option: spec}))[family]
    with pytest.raises(ParityMismatch):
        assert_parity(plain, _cases(family)[0])


@pytest.mark.parametrize("values, match", [
    ({"--gate-order": ["zrh"]}, "--gate-order and --gru-update describe a gated plug-in"),
    ({"--gru-update": "complement"}, "--gate-order and --gru-update describe a gated plug-in"),
    ({"--gate-order": ["abc"], "--gru-impl": "parity_tests.planted.gated:GRU"}, "--gate-order must spell"),
    # a convention no given plug-in has says so (it used to fail on "--rnn-impl: this
    # convention takes a module name", an option not given)
    ({"--lstm-impl": "my_layers", "--convention": "rows"},
     r"--convention rows describes none of the plug-ins given \(conventions by plug-in: --rnn-impl: column, "
     r"rows, cs231n, columns, dlfs2; --cell-impl: cs231n, columns, dlfs2; --lstm-impl: cs231n, columns, dlfs2; "
     r"--lstm-cell-impl: cs231n, columns, dlfs2\)"),
    ({"--gru-impl": "parity_tests.planted.gated:GRU", "--convention": "cs231n"}, "describes none of the plug-ins"),
    # a labeling of a family not given describes nothing (an LSTM's order beside a GRU alone
    # was silently unused, and the run passed)
    ({"--gru-impl": "parity_tests.planted.gated:GRU", "--gate-order": ["ifgo"]},
     r"--gate-order ifgo is an order of the LSTM's gates, but no LSTM plug-in is given \(--lstm-impl or "
     r"--lstm-cell-impl\)"),
    ({"--lstm-impl": "parity_tests.planted.gated:LSTMGatesIFOG", "--gate-order": ["ifog", "zrh"]},
     "--gate-order zrh is an order of the GRU's gates, but no GRU plug-in is given"),
    ({"--lstm-cell-impl": "parity_tests.planted.gated:LSTMCell", "--gru-update": "complement"},
     r"--gru-update complement describes a GRU, but no GRU plug-in is given \(--gru-impl or --gru-cell-impl\)"),
])
def test_bad_convention_options_are_named(values, match):
    from parity_tests.options import resolve

    with pytest.raises(ValueError, match=match):
        resolve(_option_values(**values))


def test_keras_names_both_kinds_and_needs_only_one_of_them_given():
    from parity_tests.options import resolve

    impls = resolve(_option_values(**{"--gru-impl": "parity_tests.planted.gated:GRUKeras", "--gate-order": ["keras"]}))
    assert impls["gru"].gate_order == "zrn"


def test_rnn_parity_check_passes_the_convention_options_to_pytest(monkeypatch):
    from parity_tests import cli

    seen = []
    monkeypatch.setattr(pytest, "main", lambda args: seen.append(args) or 0)
    spec = "parity_tests.planted.gated:GRUKerasComplement"
    assert cli.check(["--gru-impl", spec, "--lstm-impl", "parity_tests.planted.gated:LSTM", "--gate-order", "zrh",
                      "--gate-order", "ifco", "--gru-update", "complement"]) == 0
    assert cli.check(["--gru-impl", spec]) == 0
    given_args, plain_args = seen
    joined = " ".join(given_args)
    assert "--gate-order zrh --gate-order ifco" in joined and "--gru-update complement" in joined
    assert "--parity-only lstm,gru" in joined
    assert "--gate-order" not in plain_args and "--gru-update" not in plain_args


def test_a_keras_reset_after_false_gru_is_told_it_is_another_model_not_another_order():
    """Declared --gate-order zrh, the order is taken care of; what is left is the reset gate's
    place, which no option changes: the suspect says so and names no option to declare."""
    adapted = adapt_gated(KerasResetBefore, "gru", gate_order="zrh")
    case = _cases("gru")[0]
    found = suspects(Probe(adapted, run_both(adapted, case)))
    assert found and found[0].name.startswith("GRU reset gate applied to h before W_hn"), [s.name for s in found]
    assert "no option maps onto torch's" in found[0].equation
