"""Hypothesis strategies: every knob keyword-only and bounded.

Hypothesis draws the sizes, flags, scales and one RNG seed; the dense arrays are filled by
``np.random.default_rng(seed)`` in ``RNNCase.materialize`` (hypothesis' ``arrays()`` gives
near-constant data at these sizes, which hides transposition and indexing bugs).

A knob left as ``None`` is drawn; a value pins it; for ``num_layers`` a ``(lo, hi)`` tuple
bounds the draw. ``square=True`` forces input_size == hidden_size, the shape coincidence
under which swapped or transposed matrices no longer fail with a shape error.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import strategies as st

from .cases import (
    MAX_INPUT_SCALE,
    MAX_WEIGHT_SCALE,
    MIN_NONZERO_SCALE,
    CellCase,
    CellConfig,
    ModelCase,
    ModelConfig,
    RNNCase,
    RNNConfig,
    with_pins,
)

__all__ = [
    "rnn_configs", "rnn_cases", "rnn_cases_with_lengths", "rnn_cases_truncated",
    "model_cases", "optimizer_cases", "cell_configs", "cell_cases", "rnn_edge_cases", "cell_edge_cases",
]


def _knob(draw, pinned, strategy):
    return draw(strategy) if pinned is None else pinned


@st.composite
def rnn_configs(
    draw,
    *,
    max_input_size: int = 5,
    max_hidden_size: int = 5,
    max_seq_len: int = 7,
    max_batch: int = 3,
    num_layers=None,
    nonlinearity=None,
    bias=None,
    batch_first=None,
    bidirectional=None,
    has_h0=None,
    dtype=None,
    square: bool = False,
) -> RNNConfig:
    layers_lo, layers_hi = num_layers if isinstance(num_layers, tuple) else (1, 3)
    input_size = draw(st.integers(1, max_input_size))
    if square:
        hidden_size = input_size
    else:
        # I == H a quarter of the time: that is when shape errors stop catching swaps.
        hidden_size = draw(st.one_of(st.just(input_size), st.integers(1, max_hidden_size)))
    return RNNConfig(
        input_size=input_size,
        hidden_size=hidden_size,
        num_layers=num_layers if isinstance(num_layers, int) else draw(st.integers(layers_lo, layers_hi)),
        nonlinearity=_knob(draw, nonlinearity, st.sampled_from(["tanh", "relu"])),
        bias=_knob(draw, bias, st.booleans()),
        batch_first=_knob(draw, batch_first, st.booleans()),
        bidirectional=_knob(draw, bidirectional, st.booleans()),
        seq_len=draw(st.integers(1, max_seq_len)),
        batch=draw(st.integers(1, max_batch)),
        dtype=_knob(draw, dtype, st.sampled_from(["float64", "float32"])),
        has_h0=_knob(draw, has_h0, st.booleans()),
    )


def _scales(max_weight_scale: float, max_input_scale: float):
    if not 0 < max_weight_scale <= MAX_WEIGHT_SCALE:
        raise ValueError(f"max_weight_scale must be in (0, {MAX_WEIGHT_SCALE}], got {max_weight_scale}")
    if not 0 < max_input_scale <= MAX_INPUT_SCALE:
        raise ValueError(f"max_input_scale must be in (0, {MAX_INPUT_SCALE}], got {max_input_scale}")
    # 0 exactly, or a normal number of at least MIN_NONZERO_SCALE (see cases.py).
    return dict(
        seed=st.integers(0, 2**32 - 1),
        weight_scale=st.one_of(st.just(0.0), st.floats(MIN_NONZERO_SCALE, max_weight_scale)),
        input_scale=st.one_of(st.just(0.0), st.floats(MIN_NONZERO_SCALE, max_input_scale)),
    )


def rnn_cases(*, max_weight_scale: float = MAX_WEIGHT_SCALE, max_input_scale: float = MAX_INPUT_SCALE, **config_knobs):
    """Cases for the RNN parity property; ``config_knobs`` go to ``rnn_configs``."""
    return st.builds(RNNCase, config=rnn_configs(**config_knobs), **_scales(max_weight_scale, max_input_scale))


@st.composite
def rnn_cases_with_lengths(draw, **knobs):
    """Cases with one length per batch element, in [1, T], unsorted (torch's
    enforce_sorted=False path keeps the batch order)."""
    case = draw(rnn_cases(**knobs))
    c = case.config
    lengths = draw(st.lists(st.integers(1, c.seq_len), min_size=c.batch, max_size=c.batch))
    return replace(case, lengths=tuple(lengths))


@st.composite
def rnn_cases_truncated(draw, **knobs):
    """Unidirectional cases with truncated BPTT every k steps, 1 <= k <= T."""
    case = draw(rnn_cases(bidirectional=False, **knobs))
    return replace(case, truncate=draw(st.integers(1, case.config.seq_len)))


@st.composite
def model_cases(draw, *, nonlinearity=None, head="any", loss=None, max_seq_len: int = 6, max_batch: int = 3):
    """RNN + head + loss configurations (scratch.model.SequenceModel vs the torch model).

    ``head="any"`` draws among "last", "every" and None. The identity recurrence is
    unidirectional (its reference is an explicit torch loop); cross-entropy needs a head.
    """
    nl = _knob(draw, nonlinearity, st.sampled_from(["tanh", "relu", "identity"]))
    hd = draw(st.sampled_from(["last", "every", None])) if head == "any" else head
    ls = _knob(draw, loss, st.sampled_from(["mse", "half_sse", "sse"] + (["cross_entropy"] if hd else [])))
    cfg = ModelConfig(
        input_size=draw(st.integers(1, 4)),
        hidden_size=draw(st.integers(1, 5)),
        output_size=draw(st.integers(1 if ls != "cross_entropy" else 2, 4)),
        nonlinearity=nl,
        num_layers=draw(st.integers(1, 2)),
        bidirectional=False if nl == "identity" else draw(st.booleans()),
        bias=draw(st.booleans()),
        batch_first=draw(st.booleans()),
        head=hd,
        loss=ls,
        seq_len=draw(st.integers(1, max_seq_len)),
        batch=draw(st.integers(1, max_batch)),
        dtype=draw(st.sampled_from(["float64", "float32"])),
    )
    # The identity recurrence is linear: keep its gain below 1 so the states stay O(1).
    max_scale = 1.0 if nl == "identity" else MAX_WEIGHT_SCALE
    scales = _scales(max_scale, MAX_INPUT_SCALE)
    return draw(st.builds(ModelCase, config=st.just(cfg), **scales))


def _maybe_zero(strategy):
    return st.one_of(st.just(0.0), strategy)


OPTIMIZER_HYPERPARAMETERS = {
    "SGD": lambda: st.fixed_dictionaries(
        {"lr": st.floats(1e-5, 1.0), "momentum": _maybe_zero(st.floats(0.0, 0.99)),
         "dampening": _maybe_zero(st.floats(0.0, 0.5)), "weight_decay": _maybe_zero(st.floats(0.0, 0.1))}
    ).flatmap(lambda h: st.fixed_dictionaries(
        {**{k: st.just(v) for k, v in h.items()},
         "nesterov": st.booleans() if h["momentum"] > 0 and h["dampening"] == 0 else st.just(False)})),
    "RMSprop": lambda: st.fixed_dictionaries(
        {"lr": st.floats(1e-5, 0.1), "alpha": st.floats(0.5, 0.999), "eps": st.sampled_from([1e-8, 1e-6, 1e-3]),
         "weight_decay": _maybe_zero(st.floats(0.0, 0.1)), "momentum": _maybe_zero(st.floats(0.0, 0.99)),
         "centered": st.booleans()}),
    "Adam": lambda: st.fixed_dictionaries(
        {"lr": st.floats(1e-5, 0.1), "betas": st.tuples(st.floats(0.0, 0.99), st.floats(0.001, 0.9999)),
         "eps": st.sampled_from([1e-8, 1e-6, 1e-3]), "weight_decay": _maybe_zero(st.floats(0.0, 0.1)),
         "amsgrad": st.booleans()}),
}


@st.composite
def optimizer_cases(draw, *, max_steps: int = 40):
    """(optimizer name, hyperparameters, number of steps, RNG seed for params and gradients)."""
    name = draw(st.sampled_from(sorted(OPTIMIZER_HYPERPARAMETERS)))
    hyper = draw(OPTIMIZER_HYPERPARAMETERS[name]())
    return name, hyper, draw(st.integers(1, max_steps)), draw(st.integers(0, 2**32 - 1))


@st.composite
def cell_configs(
    draw,
    *,
    max_input_size: int = 6,
    max_hidden_size: int = 6,
    max_batch: int = 4,
    nonlinearity=None,
    bias=None,
    has_h0=None,
    dtype=None,
    square: bool = False,
) -> CellConfig:
    input_size = draw(st.integers(1, max_input_size))
    hidden_size = input_size if square else draw(
        st.one_of(st.just(input_size), st.integers(1, max_hidden_size))
    )
    return CellConfig(
        input_size=input_size,
        hidden_size=hidden_size,
        nonlinearity=_knob(draw, nonlinearity, st.sampled_from(["tanh", "relu"])),
        bias=_knob(draw, bias, st.booleans()),
        batch=draw(st.integers(1, max_batch)),
        dtype=_knob(draw, dtype, st.sampled_from(["float64", "float32"])),
        has_h0=_knob(draw, has_h0, st.booleans()),
    )


def cell_cases(*, max_weight_scale: float = MAX_WEIGHT_SCALE, max_input_scale: float = MAX_INPUT_SCALE, **config_knobs):
    return st.builds(CellCase, config=cell_configs(**config_knobs), **_scales(max_weight_scale, max_input_scale))


# ---------------------------------------------------------------------------------------
# Edge cases, run first as @example on every row (adjusted to the row's pins).
# ---------------------------------------------------------------------------------------
def rnn_edge_cases(pins: dict) -> list[RNNCase]:
    base = RNNConfig(input_size=2, hidden_size=3, num_layers=1, seq_len=3, batch=2)
    cases = []
    for nl in ("relu", "tanh"):
        # All-zero weights and inputs: every pre-activation is exactly 0, so relu'(0)
        # decides every gradient (torch: relu'(0) = 0).
        cfg = with_pins(replace(base, nonlinearity=nl), pins)
        cases.append(RNNCase(cfg, seed=1, weight_scale=0.0, zero_weights=True, zero_inputs=True))
    # Zero weights, non-zero inputs: h stays 0 but dW_ih and d(bias) are not zero.
    cases.append(RNNCase(with_pins(base, pins), seed=2, weight_scale=0.0, zero_weights=True))
    # T = 1 and B = 1: no recurrence at all and no batch sum.
    cases.append(RNNCase(with_pins(replace(base, seq_len=1, batch=1), pins), seed=3))
    # I == H: swapped W_ih / W_hh no longer trips a shape error.
    cases.append(RNNCase(with_pins(replace(base, input_size=3, hidden_size=3, seq_len=4), pins), seed=4))
    return cases


def cell_edge_cases(pins: dict) -> list[CellCase]:
    base = CellConfig(input_size=2, hidden_size=3, batch=2)
    cases = []
    for nl in ("relu", "tanh"):
        cfg = with_pins(replace(base, nonlinearity=nl), pins)
        cases.append(CellCase(cfg, seed=1, weight_scale=0.0, zero_weights=True, zero_inputs=True))
    cases.append(CellCase(with_pins(replace(base, batch=1), pins), seed=3))
    cases.append(CellCase(with_pins(replace(base, input_size=3, hidden_size=3), pins), seed=4))
    return cases
