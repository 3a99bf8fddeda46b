"""The generic strategy driver: every knob keyword-only and bounded.

Hypothesis draws the sizes, flags, scales and one RNG seed; the dense arrays are filled by
``np.random.default_rng(seed)`` in ``Case.materialize`` (hypothesis' ``arrays()`` gives
near-constant data at these sizes, which hides transposition and indexing bugs).

``cases(family, **knobs)``: the scales are drawn here, for every family alike; every other
knob goes to the family's own configuration strategy (``family.configs``, e.g.
``families/rnn.py``), where its bounds are documented. A knob left as ``None`` is drawn; a
value pins it.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import strategies as st

from .cases import MAX_INPUT_SCALE, MAX_WEIGHT_SCALE, MIN_NONZERO_SCALE, Case


def scales(max_weight_scale: float = MAX_WEIGHT_SCALE, max_input_scale: float = MAX_INPUT_SCALE,
           min_weight_scale: float | None = None) -> dict:
    """Strategies for a case's seed and scales: 0 exactly, or a normal number of at least
    MIN_NONZERO_SCALE (core/cases.py says why). ``min_weight_scale``: draw the weight scale
    from [min_weight_scale, max_weight_scale] only (a row where gradients must carry back
    through many steps: truncated BPTT shows only there)."""
    if not 0 < max_weight_scale <= MAX_WEIGHT_SCALE:
        raise ValueError(f"max_weight_scale must be in (0, {MAX_WEIGHT_SCALE}], got {max_weight_scale}")
    if not 0 < max_input_scale <= MAX_INPUT_SCALE:
        raise ValueError(f"max_input_scale must be in (0, {MAX_INPUT_SCALE}], got {max_input_scale}")
    if min_weight_scale is None:
        weight = st.one_of(st.just(0.0), st.floats(MIN_NONZERO_SCALE, max_weight_scale))
    elif MIN_NONZERO_SCALE <= min_weight_scale <= max_weight_scale:
        weight = st.floats(min_weight_scale, max_weight_scale)
    else:
        raise ValueError(f"min_weight_scale must be in [{MIN_NONZERO_SCALE}, {max_weight_scale}], got {min_weight_scale}")
    return dict(
        seed=st.integers(0, 2**32 - 1),
        weight_scale=weight,
        input_scale=st.one_of(st.just(0.0), st.floats(MIN_NONZERO_SCALE, max_input_scale)),
    )


def cases(family, *, max_weight_scale: float = MAX_WEIGHT_SCALE, max_input_scale: float = MAX_INPUT_SCALE,
          min_weight_scale: float | None = None, grad_scale: float = 1.0, **config_knobs):
    """Cases of ``family``; ``config_knobs`` go to ``family.configs``. ``grad_scale``
    multiplies the upstream gradients (pinned, not drawn)."""
    if not 0 < grad_scale <= 1e4:
        raise ValueError(f"grad_scale must be in (0, 1e4], got {grad_scale}")
    return st.builds(Case, config=family.configs(**config_knobs), grad_scale=st.just(grad_scale),
                     **scales(max_weight_scale, max_input_scale, min_weight_scale))


@st.composite
def cases_with_lengths(draw, family, **knobs):
    """Cases with one length per batch element, in [1, T], unsorted (torch's
    enforce_sorted=False path keeps the batch order). For families with ``lengths``."""
    case = draw(cases(family, **knobs))
    c = case.config
    lengths = draw(st.lists(st.integers(1, c.seq_len), min_size=c.batch, max_size=c.batch))
    return replace(case, lengths=tuple(lengths))


@st.composite
def cases_truncated(draw, family, **knobs):
    """Unidirectional cases with truncated BPTT every k steps, 1 <= k <= T. For families
    with ``truncate``."""
    case = draw(cases(family, bidirectional=False, **knobs))
    return replace(case, truncate=draw(st.integers(1, case.config.seq_len)))


# ---------------------------------------------------------------------------------------
# Helpers for the families' configuration strategies: the knobs every family shares.
# ---------------------------------------------------------------------------------------
FLAGS = {
    "nonlinearity": st.sampled_from(["tanh", "relu"]),
    "bias": st.booleans(),
    "batch_first": st.booleans(),
    "bidirectional": st.booleans(),
    "dtype": st.sampled_from(["float64", "float32"]),
    "has_h0": st.booleans(),
}


def knob(draw, pinned, strategy):
    """A knob: the pinned value, or (None) a draw from ``strategy``."""
    return draw(strategy) if pinned is None else pinned


def draw_flags(draw, **pins) -> dict:
    """Each named flag of ``FLAGS``: pinned to the given value, or drawn when it is None."""
    return {name: knob(draw, pinned, FLAGS[name]) for name, pinned in pins.items()}


def draw_sizes(draw, *, max_input_size: int, max_hidden_size: int, square: bool) -> tuple[int, int]:
    """(input_size, hidden_size). I == H a quarter of the time, always when ``square``: that
    is when a swapped or transposed matrix stops failing with a shape error."""
    input_size = draw(st.integers(1, max_input_size))
    if square:
        return input_size, input_size
    return input_size, draw(st.one_of(st.just(input_size), st.integers(1, max_hidden_size)))
