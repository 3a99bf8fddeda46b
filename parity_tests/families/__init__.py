"""The model families, one record each (``core/family.py`` says what a record holds).

``FAMILIES`` maps a family's name to its record; ``ROWS`` is the one table of named rows
that drives the parity tests and the report, every family's rows in turn.
"""

from .rnn import RNN
from .rnn_cell import RNN_CELL

FAMILIES = {f.name: f for f in (RNN, RNN_CELL)}
ROWS = tuple(row for f in FAMILIES.values() for row in f.rows)


def row_by_name(name: str):
    for row in ROWS:
        if row.name == name:
            return row
    raise KeyError(name)


def family_by_option(option: str):
    """The family whose plug-in option is ``option`` ("--rnn-impl" -> RNN)."""
    for f in FAMILIES.values():
        if f.option == option:
            return f
    raise KeyError(option)
