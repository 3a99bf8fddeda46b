"""What a model family is, as one record that the generic machinery reads.

A family (the RNN layer, the RNNCell; LSTM and GRU next) is everything the harness must know
that differs from one torch module to another. Everything else (drawing cases, running both
sides, comparing, the tolerance rule, messages, JSON, report, repro, plots, plug-in loading,
contract checks) reads these fields and is written once. ``docs/architecture.md`` has the
recipe for adding a family.

The contract is declared by *structure*: the names of what ``forward`` takes and returns,
and what ``backward`` takes and returns, nested exactly as the Python values are::

    RNN     forward(x, h0)           -> (output, h_n)
            backward(d_output, d_h_n) -> (dx, dh0)
    RNNCell forward(x, h)            -> h_next
            backward(d_h_next)        -> (dx, dh)

(an LSTM's ``forward(x, (h0, c0)) -> (output, (h_n, c_n))`` nests). torch's module is called
with the same structure, so one generic vector-Jacobian product serves every family. The
i-th thing backward takes is the upstream gradient of the i-th thing forward returned, and
the i-th thing backward returns is the gradient of the i-th thing forward took; the flat
dict of each side is ``{forward results..., backward results..., "grad <param>"...}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


def flat(structure) -> list[str]:
    """The names in a (possibly nested) structure, in order: ("x", ("h0", "c0")) -> x, h0, c0."""
    if isinstance(structure, str):
        return [structure]
    return [name for part in structure for name in flat(part)]


def describe(structure) -> str:
    """How the structure reads in a message: ("output", ("h_n", "c_n")) -> "(output, (h_n, c_n))"."""
    if isinstance(structure, str):
        return structure
    return "(" + ", ".join(describe(s) for s in structure) + ")"


@dataclass(frozen=True)
class Row:
    """One named row of the table that drives the parity tests and the report.

    ``pins`` fixes strategy knobs of the family's configuration strategy (a value pins it,
    a ``(lo, hi)`` tuple bounds it; unpinned knobs are drawn); ``report`` is the
    representative configuration ``make report`` shows for the row, or a tuple of them,
    simplest first (``core.cases.report_cases``)."""

    name: str
    family: str
    pins: dict = field(default_factory=dict)
    report: object = None

    def __repr__(self) -> str:  # shows up in test ids and failure headers
        return f"Row({self.name})"


@dataclass(frozen=True)
class Family:
    name: str  # "rnn": the key in families.FAMILIES and in JSON
    torch_name: str  # "torch.nn.RNN": what the implementation is compared with
    option: str  # "--rnn-impl": the plug-in option (pytest, report, repro)
    default_impl: str  # "rnn_parity.scratch:RNN"
    config_cls: type  # the configuration dataclass (core/cases.py explains its shape)
    # The contract, as structures of names (see the module docstring).
    forward_args: tuple
    forward_returns: object
    backward_args: tuple
    backward_returns: tuple
    torch_module: str  # "RNN": torch.nn.<torch_module> is the oracle, run by core/runs.reference
    # bounds(case, arrays) -> {tensor name: running error bound M} for the tolerance rule.
    bounds: Callable
    # locate(config, tensor, index) -> words: "layer 1, reverse direction, time step 3, ...".
    locate: Callable
    # configs(**knobs) -> hypothesis strategy of configurations; knobs keyword-only, bounded.
    configs: Callable
    # edge_cases(pins) -> the cases every row runs first as @example.
    edge_cases: Callable
    rows: tuple  # the family's rows of the table
    # Keyword extensions a case may carry, passed to forward / backward when set (scratch's).
    forward_extensions: tuple = ()
    backward_extensions: tuple = ()
    # torch_call(case) -> None, or how to run the torch module for this case (vjp's call):
    # scratch's extensions need torch's own packed / chunked runs.
    torch_call: Callable | None = None
    # Diagnosis hooks (diagnosis/ calls them; None: only the family-independent parts run).
    # localize(probe) -> (forward words or None, backward words or None);
    # mutants(probe) -> [(Suspect, {tensor: alternative})], each one classic mistake computed.
    localize: Callable | None = None
    mutants: Callable | None = None

    def __post_init__(self):
        _BY_CONFIG[self.config_cls] = self

    def shapes(self, config) -> dict:
        """Shape of every array of the contract. The configuration gives what forward takes
        and returns (``config.array_shapes()``); an upstream gradient is shaped like what it
        is the gradient of, and so is a returned gradient."""
        s = dict(config.array_shapes())
        s.update(zip(flat(self.backward_args), [s[n] for n in flat(self.forward_returns)]))
        s.update(zip(flat(self.backward_returns), [s[n] for n in flat(self.forward_args)]))
        return s


_BY_CONFIG: dict = {}


def family_of(config) -> Family:
    """The family a configuration belongs to (its record registered it when it was made)."""
    try:
        return _BY_CONFIG[type(config)]
    except KeyError:
        raise TypeError(f"{type(config).__name__} is no family's configuration") from None
