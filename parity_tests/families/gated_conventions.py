"""Adapters: an LSTM or GRU (or their cells) written in another convention, wrapped into the
contract (torch's gate order and torch's GRU update).

    pytest --lstm-impl mymod:MyLSTM --gate-order ifog            # stacked rows i, f, o, g
    pytest --gru-impl mymod:MyGRU --gate-order zrh               # Keras's z, r, h
    pytest --gru-impl mymod:MyGRU --gru-update complement        # h' = z * n + (1 - z) * h
    pytest --lstm-impl a:L --gru-impl b:G --gate-order keras     # Keras: i, f, c, o and z, r, h

**Gate order.** torch stacks the gates of ``weight_ih*``, ``weight_hh*``, ``bias_ih*`` and
``bias_hh*`` along the first axis in the order i, f, g, o (LSTM) and r, z, n (GRU); each
block is H rows. A class written with another order reads those rows as other gates. The
adapter keeps ``params`` in torch's order (the harness injects torch's weights by name) and,
at every forward, hands the class its weights with the H-row blocks permuted into the
class's order; after backward it permutes the class's gradients back. Letters: an LSTM's
order spells i, f, g, o once each, where c (Keras's name of the candidate) means g; a GRU's
spells r, z, n, where h (Keras's name of the candidate) means n. ``keras`` names Keras's
orders (i, f, c, o, which is torch's, and z, r, h). ``weight_hr*`` (the LSTM's projection)
has no gates and passes unchanged.

**GRU update.** torch: h' = (1 - z) * n + z * h. Some derivations (Cho et al. 2014's
paper, several course notes) write h' = z * n + (1 - z) * h: their z is torch's 1 - z.
Since 1 - sigmoid(a) = sigmoid(-a), such a class computes torch's GRU exactly when its z
rows (of weight_ih, weight_hh, bias_ih and bias_hh) are the NEGATIVES of torch's: the
adapter negates them when it hands the weights over, and negates the z rows of the
gradients it gets back (the gradient of -theta is minus the gradient of theta). Nothing
else changes: r and n, and every dx, dh0, are the same numbers.

Both are exact re-labelings (a permutation of rows, a sign), so an adapted class is judged
by the same tolerance as any other: the adapter adds no arithmetic but negation, which is
exact. What an adapter cannot translate: Keras's ``reset_after=False`` GRU (the reset gate
applied to h before W_hn, one bias for n) is another model, not another labeling, and no
option makes it torch's.

``adapt_gated(cls, family, gate_order=None, gru_update=None, spec=None)`` returns the class
under the contract (``cls`` itself when neither option is given), carrying ``cli`` (the
options as typed), ``Learner`` (the class) and ``gate_order`` (torch's letters; as typed:
``gate_order_typed``) / ``gru_update``.
"""

from __future__ import annotations

import inspect

import numpy as np

# torch's order of the stacked gates, and the names other conventions use for a gate.
TORCH_ORDER = {"lstm": "ifgo", "gru": "rzn"}
ALIASES = {"lstm": {"c": "g"}, "gru": {"h": "n"}}
# Named orders: --gate-order keras.
NAMED_ORDERS = {"keras": {"lstm": "ifco", "gru": "zrh"}}
GRU_UPDATES = {
    "torch": "h' = (1 - z) * n + z * h (torch's; the default)",
    "complement": "h' = z * n + (1 - z) * h: the class's z is torch's 1 - z (its z rows are torch's negated)",
}
# The families and the gate letters (their layer's) they use.
GATED_FAMILIES = {"lstm": "lstm", "lstm_cell": "lstm", "gru": "gru", "gru_cell": "gru"}
_STACKED = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")  # gate-stacked parameters


def canonical_order(gate_order: str, kind: str) -> str:
    """``gate_order`` as typed ("i,f,c,o", "IFCO", "zrh", "keras") -> the family kind's
    letters in torch's names ("ifgo", "zrn"). ValueError naming ``gate_order`` unless it
    spells every gate of ``kind`` ("lstm" or "gru") exactly once."""
    if not isinstance(gate_order, str):
        raise TypeError(f"gate_order must be a str such as {TORCH_ORDER[kind]!r}, got {type(gate_order).__name__}")
    typed = gate_order.strip().lower()
    if typed in NAMED_ORDERS:
        typed = NAMED_ORDERS[typed][kind]
    letters = [ALIASES[kind].get(ch, ch) for ch in typed.replace(",", "").replace(" ", "")]
    if sorted(letters) != sorted(TORCH_ORDER[kind]):
        names = ", ".join(TORCH_ORDER[kind]) + " (" + ", ".join(f"{a} for {b}" for a, b in ALIASES[kind].items()) + ")"
        raise ValueError(
            f"gate_order for the {kind.upper()} must spell each of its gates {names} once, "
            f"e.g. {TORCH_ORDER[kind]!r} (torch's) or {NAMED_ORDERS['keras'][kind]!r} (Keras's); got {gate_order!r}"
        )
    return "".join(letters)


def gate_orders(values) -> dict:
    """The ``--gate-order`` values as given (one str, a list of them, or None) -> {"lstm":
    typed, "gru": typed}: each value belongs to the family kind whose letters it spells (the
    LSTM's i, f, g/c, o and the GRU's r, z, n/h share none); ``keras`` gives both. A value
    that spells neither, or two values for one kind, is a ValueError naming --gate-order."""
    if values is None:
        return {}
    values = [values] if isinstance(values, str) else list(values)
    out: dict = {}
    for value in values:
        kinds = list(TORCH_ORDER) if str(value).strip().lower() in NAMED_ORDERS else []
        for kind in TORCH_ORDER:
            if not kinds:
                try:
                    canonical_order(value, kind)
                    kinds = [kind]
                except ValueError:
                    pass
        if not kinds:
            raise ValueError(
                f"--gate-order must spell an LSTM's gates (i, f, g or c, o: e.g. 'ifco') or a GRU's "
                f"(r, z, n or h: e.g. 'zrh'), or be one of {list(NAMED_ORDERS)}; got {value!r}"
            )
        for kind in kinds:
            if kind in out:
                raise ValueError(f"--gate-order given twice for the {kind.upper()}: {out[kind]!r} and {value!r}")
            out[kind] = value
    return out


class _GatedAdapter:
    """A class in another gate order / GRU update convention, under the contract.

    ``params`` is torch's (the harness assigns by name); the class (``self.learner``) gets
    its own translation at every forward, assigned key by key into its ``params``.
    """

    Learner = None
    family = ""
    gate_order = None  # the class's order in torch's letters ("ifog"), None for torch's
    gru_update = None  # "complement" or None
    cli = ""

    def __init__(self, *args, **kwargs):
        self.learner = self.Learner(*args, **kwargs)  # NotImplementedError: declined, as it is
        self.params = {name: self._to_contract(name, np.array(value)) for name, value in self.learner.params.items()}
        self.grads = {}

    # -- translation ---------------------------------------------------------------------
    def _blocks(self, name: str, value: np.ndarray):
        """The (G, H, ...) view of a gate-stacked parameter, or None for one without gates."""
        if not name.startswith(_STACKED):
            return None
        G = len(TORCH_ORDER[GATED_FAMILIES[self.family]])
        return value.reshape((G, value.shape[0] // G) + value.shape[1:])

    def _negated_z(self, blocks: np.ndarray, order: str) -> np.ndarray:
        if self.gru_update != "complement":
            return blocks
        blocks = blocks.copy()
        blocks[order.index("z")] *= -1  # exact: a sign
        return blocks

    def _to_learner(self, name: str, value: np.ndarray) -> np.ndarray:
        """torch's rows -> the class's: blocks in its order, z negated for ``complement``."""
        blocks = self._blocks(name, value)
        if blocks is None:
            return np.array(value)
        torch_order = TORCH_ORDER[GATED_FAMILIES[self.family]]
        order = self.gate_order or torch_order
        mine = blocks[[torch_order.index(g) for g in order]]
        return self._negated_z(mine, order).reshape(value.shape)

    def _to_contract(self, name: str, value: np.ndarray) -> np.ndarray:
        """The class's rows (a parameter or its gradient) -> torch's: the inverse."""
        value = np.asarray(value)
        blocks = self._blocks(name, value)
        if blocks is None:
            return np.array(value)
        torch_order = TORCH_ORDER[GATED_FAMILIES[self.family]]
        order = self.gate_order or torch_order
        blocks = self._negated_z(blocks, order)
        return np.ascontiguousarray(blocks[[order.index(g) for g in torch_order]]).reshape(value.shape)

    # -- the contract ----------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        own = self.learner.params
        for name, value in self.params.items():
            own[name] = self._to_learner(name, np.asarray(value))
        self.grads = {}
        return self.learner.forward(*args, **kwargs)

    def backward(self, *args, **kwargs):
        result = self.learner.backward(*args, **kwargs)
        grads = self.learner.grads
        self.grads = {name: self._to_contract(name, g) for name, g in grads.items()} if isinstance(grads, dict) else grads
        return result


def adapt_gated(cls, family: str, gate_order: str | None = None, gru_update: str | None = None,
                spec: str | None = None):
    """A class under ``family``'s contract for ``cls`` written in another convention.

    ``family``: "lstm", "gru", "lstm_cell" or "gru_cell". ``gate_order``: the order in which
    ``cls`` reads the stacked gate rows, as typed ("ifog", "i,f,c,o", "zrh", "keras"; see
    ``canonical_order``), None for torch's. ``gru_update``: "complement" (h' = z n + (1 - z)
    h) or "torch"/None; GRU and GRUCell only. ``spec``: the plug-in as typed, for ``cli``.
    Neither option given: ``cls`` itself. An unknown family, order or update is a
    ValueError naming the argument; a ``cls`` that is not a class a TypeError.
    """
    if family not in GATED_FAMILIES:
        raise ValueError(f"family must be one of {list(GATED_FAMILIES)}, got {family!r}")
    if not inspect.isclass(cls):
        raise TypeError(f"cls must be a class (the plug-in, module:Class), got {type(cls).__name__}")
    if gru_update is not None and gru_update not in GRU_UPDATES:
        raise ValueError(f"gru_update must be one of {list(GRU_UPDATES)} (or None), got {gru_update!r}")
    kind = GATED_FAMILIES[family]
    if gru_update == "complement" and kind != "gru":
        raise ValueError(f"gru_update applies to the GRU and GRUCell only, not to family {family!r}")
    order = canonical_order(gate_order, kind) if gate_order is not None else None
    if order is None and gru_update in (None, "torch"):
        return cls
    if spec is not None and not isinstance(spec, str):
        raise TypeError(f"spec must be the plug-in as typed (a str) or None, got {type(spec).__name__}")
    spec = spec or f"{cls.__module__}:{cls.__qualname__}"
    cli = (spec + (f" --gate-order {gate_order}" if gate_order is not None else "")
           + (f" --gru-update {gru_update}" if gru_update == "complement" else ""))
    return type(cls.__name__, (_GatedAdapter,), {
        "Learner": cls, "family": family, "gate_order": order, "gate_order_typed": gate_order,
        "gru_update": "complement" if gru_update == "complement" else None, "cli": cli,
        "__module__": cls.__module__, "__qualname__": f"{cls.__qualname__}[gated adapter]",
    })
