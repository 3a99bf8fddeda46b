"""The model families, one record each (``core/family.py`` says what a record holds).

``CATALOG`` is the light part: each family's name, plug-in option, torch class, default
implementation and where its record lives. The pytest plugin and the ``rnn-parity`` CLI read
only the catalog until a parity test actually runs, so that installing rnn-parity costs an
unrelated pytest run nothing (no torch, no hypothesis strategies). The records themselves
(``FAMILIES``: name -> record; ``ROWS``: the one table of named rows, every family's rows in
turn) are imported on first use. Registering a family is one ``Entry`` here.
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Entry:
    name: str  # "rnn": the key in FAMILIES and in JSON
    option: str  # "--rnn-impl": the plug-in option (pytest, rnn-parity check/report/repro)
    torch_name: str  # "torch.nn.RNN": what the implementation is compared with
    default_impl: str  # "rnn_parity.scratch:RNN"
    record: str  # "rnn:RNN": module (in this package) and name of the Family record

    def fields(self) -> dict:
        """The catalog's fields of the record (``Family(**entry("rnn").fields(), ...)``)."""
        d = asdict(self)
        d.pop("record")
        return d


CATALOG = (
    Entry("rnn", "--rnn-impl", "torch.nn.RNN", "rnn_parity.scratch:RNN", "rnn:RNN"),
    Entry("rnn_cell", "--cell-impl", "torch.nn.RNNCell", "rnn_parity.scratch:RNNCell", "rnn_cell:RNN_CELL"),
    Entry("lstm", "--lstm-impl", "torch.nn.LSTM", "rnn_parity.scratch:LSTM", "lstm:LSTM"),
    Entry("gru", "--gru-impl", "torch.nn.GRU", "rnn_parity.scratch:GRU", "gru:GRU"),
    Entry("lstm_cell", "--lstm-cell-impl", "torch.nn.LSTMCell", "rnn_parity.scratch:LSTMCell", "lstm_cell:LSTM_CELL"),
    Entry("gru_cell", "--gru-cell-impl", "torch.nn.GRUCell", "rnn_parity.scratch:GRUCell", "gru_cell:GRU_CELL"),
)


def entry(name: str) -> Entry:
    for e in CATALOG:
        if e.name == name:
            return e
    raise KeyError(name)


def _load() -> tuple[dict, tuple]:
    families = {}
    for e in CATALOG:
        module, attr = e.record.split(":")
        families[e.name] = getattr(importlib.import_module(f".{module}", __name__), attr)
    return families, tuple(row for f in families.values() for row in f.rows)


def __getattr__(name):  # FAMILIES and ROWS on first use (PEP 562)
    if name in ("FAMILIES", "ROWS"):
        global FAMILIES, ROWS
        FAMILIES, ROWS = _load()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def row_by_name(name: str):
    for row in __getattr__("ROWS"):
        if row.name == name:
            return row
    raise KeyError(name)


def family_by_option(option: str):
    """The family whose plug-in option is ``option`` ("--rnn-impl" -> RNN)."""
    for e in CATALOG:
        if e.option == option:
            return __getattr__("FAMILIES")[e.name]
    raise KeyError(option)
