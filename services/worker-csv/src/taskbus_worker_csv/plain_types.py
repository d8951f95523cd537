r"""What polars makes of a CSV column's cells: its type and values, in plain Python.

polars infers a column's type with the regular expressions of ``polars-io``: a cell matching
``-?\d+`` is an integer, ``[-+]?(\d*\.\d+([eE][-+]?\d+)?|inf|NaN|\d+[eE][-+]?\d+|\d+\.)``
a float, ``true`` or ``false`` in any case a boolean; a column is the one type its cells have
(integers and floats: float), text if they have several or none (all null). ``read_column``
does the same and converts the cells, or declines (None) where Python might read a cell
otherwise than polars or polars would go on to something else:

- a cell polars' expressions take whose ASCII form they are not (digits other than 0-9,
  "false" with a long s: polars then fails to parse it), in a column that is not text;
- an integer outside Int64 (polars infers Int128);
- a float column whose minimum or maximum is a zero while both signed zeros are in it:
  polars' min/max kernels then return either zero, depending on the lanes they land in.

A float column's NaN is null here, as ``fill_nan(None)`` makes it for the statistics.
"""

import math
import re
from collections.abc import Callable, Sequence
from typing import Literal

import polars as pl

Kind = Literal["int", "float", "bool", "text"]
Cell = int | float | str | None
"""int or float in numeric columns (None for null and NaN), str in others; a boolean column
holds "true" and "false", as polars casts it to text."""

_INT64 = range(-(2**63), 2**63)
# ASCII forms of polars' inference expressions; group 1 an integer, 2 a float, 3 a boolean.
_TYPED = re.compile(
    r"(-?[0-9]+)"
    r"|([-+]?(?:[0-9]*\.[0-9]+(?:[eE][-+]?[0-9]+)?|inf|NaN|[0-9]+[eE][-+]?[0-9]+|[0-9]+\.))"
    r"|((?i:true|false))",
    re.ASCII,
)
# polars' own expressions: \d is any Unicode digit and case folding is Unicode's, as in Rust.
_POLARS_TYPED = re.compile(
    r"(-?\d+)|([-+]?(?:\d*\.\d+(?:[eE][-+]?\d+)?|inf|NaN|\d+[eE][-+]?\d+|\d+\.))|((?i:true|false))"
)
_KINDS: tuple[Kind, ...] = ("text", "int", "float", "bool")
_WEIRD = 4
"""Added to a cell's kind when polars' expression takes it and the ASCII one does not."""


def polars_schema(schema: dict[str, Kind]) -> pl.Schema:
    """``schema`` as polars types, to read the next block with polars."""
    return pl.Schema({name: _POLARS_TYPES[kind] for name, kind in schema.items()})


def _kind_of(cell: str) -> int:
    """The index in ``_KINDS`` of what polars infers ``cell`` to be, plus ``_WEIRD`` when
    polars' expression takes it and the ASCII one does not or the integer is not an Int64."""
    match = _TYPED.fullmatch(cell)
    if match is not None:
        kind = match.lastindex or 0
        if kind == 1 and len(cell) > 18 and int(cell) not in _INT64:
            return _WEIRD + kind
        return kind
    polars = _POLARS_TYPED.fullmatch(cell)
    return _WEIRD + (polars.lastindex or 0) if polars is not None else 0


def _resolve(kinds: set[int]) -> Kind:
    """The column type polars infers from the kinds of its cells (none: all null)."""
    kinds = {kind % _WEIRD for kind in kinds}
    if not kinds or 0 in kinds or (3 in kinds and len(kinds) > 1):
        return "text"
    if 2 in kinds:
        return "float"
    return _KINDS[kinds.pop()]


def read_column(
    cells: tuple[str | None, ...], kind: Kind | None, infer_rows: int | None
) -> tuple[Kind, Sequence[Cell]] | None:
    """The column's type (``kind`` if given, else inferred from its first ``infer_rows``
    cells, all when None) and its values, or None where polars might read it otherwise."""
    if kind == "text":
        return kind, cells
    window = len(cells) if infer_rows is None else infer_rows
    found: list[int | None] = []
    for cell in cells:
        found.append(None if cell is None else _kind_of(cell))
        if kind is None and found[-1] == 0 and len(found) <= window:
            return "text", cells  # one text cell makes the column text
    if kind is None:
        kind = _resolve({k for k in found[:window] if k is not None})
        if kind == "text":
            return kind, cells
    fits = _FITS[kind]
    if any(k is not None and k not in fits for k in found):
        return None
    values = _CONVERT[kind](cells)
    return None if values is None else (kind, values)


def _ints(cells: tuple[str | None, ...]) -> list[int | None]:
    return [None if cell is None else int(cell) for cell in cells]


def _floats(cells: tuple[str | None, ...]) -> list[float | None] | None:
    values: list[float | None] = []
    for cell in cells:
        value = None if cell is None else float(cell)
        values.append(None if value is None or math.isnan(value) else value)
    return values if _zeros_agree(values) else None


def _zeros_agree(values: list[float | None]) -> bool:
    """False when the minimum or maximum is a zero and both signed zeros are present."""
    zeros = {math.copysign(1.0, v) for v in values if v == 0}
    if len(zeros) < 2:
        return True
    present = [v for v in values if v is not None]
    return min(present) != 0 and max(present) != 0


def _bools(cells: tuple[str | None, ...]) -> list[str | None]:
    return [None if cell is None else cell.lower() for cell in cells]


# Which cell kinds a typed column takes; a quoted empty string is text, so it never fits.
_FITS: dict[Kind, frozenset[int]] = {
    "int": frozenset({1}),
    "float": frozenset({1, 2}),
    "bool": frozenset({3}),
}
_CONVERT: dict[Kind, Callable[[tuple[str | None, ...]], Sequence[Cell] | None]] = {
    "int": _ints,
    "float": _floats,
    "bool": _bools,
}
_POLARS_TYPES: dict[Kind, pl.DataType] = {
    "int": pl.Int64(),
    "float": pl.Float64(),
    "bool": pl.Boolean(),
    "text": pl.String(),
}
