"""Small CSV text read in plain Python exactly as ``pl.read_csv`` reads it, or not at all.

polars costs some 0.5 ms per ``read_csv`` call however few the rows, this reader a few
microseconds per row, so small inputs are read here (``PLAIN_ROWS`` in ``synthetic``,
``PLAIN_BYTES`` in ``csv_file``) and all others by polars. Where it answers, it answers as
polars does: the same columns, types (``plain_types``) and values. It declines, returning
None, wherever it might not, so that polars reads that input, raises its errors, and the
messages about bad input stay what they were:

- bytes that are not UTF-8, a byte-order mark, a NUL, a carriage return outside quotes that
  does not end a line (``\\r\\n``), a blank line (polars reads a null row), a quote inside an
  unquoted field or text after a closing quote, a record with another number of fields than
  the header;
- a header with an empty or repeated name (polars renames those), or with a quote in a
  name (polars keeps the doubled quote of a quoted name: one escaped quote names ``""``);
- more than ``_ONE_CHUNK_BYTES``, or more than one record after the header when the last one
  has no line break: polars reads either into several chunks, whose float sums it adds.

Quoting is RFC 4180's (``""`` is a quote inside a quoted field). An unquoted empty field is
null, a quoted one the empty string, as polars reads them; the empty string is text.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from taskbus_worker_csv.plain_types import Cell, Kind, read_column

PlainSchema = dict[str, Kind]
_ONE_CHUNK_BYTES = 16 * 1024
"""polars reads larger text into several chunks (the smallest seen: 32 KB), and the float sum
of a column is then the sum of its chunks' sums, which the plain sums, one chunk's, are not."""


@dataclass(frozen=True, slots=True)
class PlainTable:
    rows: int
    schema: PlainSchema
    columns: list[Sequence[Cell]]
    """One sequence of cells per column, one cell per row (see ``Cell``)."""


def read_plain(
    data: bytes,
    *,
    delimiter: str = ",",
    has_header: bool = True,
    schema: PlainSchema | None = None,
    infer_rows: int | None = None,
) -> PlainTable | None:
    """``pl.read_csv(data, separator=delimiter, has_header=..., schema=...,
    infer_schema_length=infer_rows)`` in plain Python, or None where it might differ.

    With ``schema`` the header, if any, is skipped and the cells must fit the schema.
    """
    records = _records(data, delimiter) if len(data) <= _ONE_CHUNK_BYTES else None
    if not records:
        return None
    header = records.pop(0) if has_header else None
    if len(records) > 1 and not data.endswith(b"\n"):
        return None  # polars reads an unterminated last record into a chunk of its own
    names = list(schema) if schema is not None else _names(header, records)
    if names is None or (header is not None and len(header) != len(names)):
        return None
    if any(len(record) != len(names) for record in records):
        return None
    cells = list(zip(*records, strict=True)) if records else [() for _ in names]
    kinds = list(schema.values()) if schema is not None else [None] * len(names)
    resolved: PlainSchema = {}
    columns: list[Sequence[Cell]] = []
    for name, column, given in zip(names, cells, kinds, strict=True):
        read = read_column(column, given, infer_rows)
        if read is None:
            return None
        resolved[name], values = read
        columns.append(values)
    return PlainTable(len(records), resolved, columns)


def _names(header: list[str | None] | None, records: list[list[str | None]]) -> list[str] | None:
    if header is None:
        # As polars 2 numbers them; the agreement tests read headerless tables both ways.
        return [f"column_{i}" for i in range(len(records[0]))]
    names = [name for name in header if name and '"' not in name]
    return names if len(names) == len(header) == len(set(names)) else None


def _records(data: bytes, delimiter: str) -> list[list[str | None]] | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if delimiter in '"\r\n' or "\0" in text or text.startswith("\ufeff"):
        return None
    if '"' in text:
        return _quoted_records(text, delimiter)
    if "\r" in text:
        if text.count("\r") != text.count("\r\n"):
            return None
        text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    if "" in lines:
        return None
    return [[cell or None for cell in line.split(delimiter)] for line in lines]


@cache
def _field(delimiter: str) -> re.Pattern[str]:
    """A quoted field (group 1, RFC 4180 quoting) or an unquoted one (group 2), up to the
    delimiter, a line break (``\\n`` or ``\\r\\n``) or the end."""
    d = re.escape(delimiter)
    end = rf"(?={d}|\r?\n|\Z)"
    return re.compile(rf'"((?:[^"]|"")*)"{end}|([^"{d}\r\n]*){end}')


def _quoted_records(text: str, delimiter: str) -> list[list[str | None]] | None:
    field = _field(delimiter)
    records: list[list[str | None]] = []
    record: list[str | None] = []
    pos, end = 0, len(text)
    while True:
        match = field.match(text, pos)
        if match is None:
            return None
        quoted, plain = match.groups()
        record.append(quoted.replace('""', '"') if quoted is not None else plain or None)
        pos = match.end()
        if pos < end and text[pos] == delimiter:
            pos += 1
            continue
        if record == [None]:
            return None  # a blank line
        records.append(record)
        record = []
        pos += 2 if text.startswith("\r\n", pos) else 1
        if pos >= end:
            return records
