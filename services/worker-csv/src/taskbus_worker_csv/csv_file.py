"""Parsing an uploaded CSV block by block, with errors a person can act on.

The first block fixes the columns and their types (inferred from every row of it, some 100,000
rows, not polars' default 100); later blocks are parsed with that schema. polars is fast but
says little about where input is wrong, so when it refuses a block the block is read again
with Python's ``csv`` module to find the first offending line and say what is wrong there.

A block of at most ``PLAIN_BYTES`` is read by ``plain_csv`` instead, which gives polars'
reading exactly or declines and leaves the block, and any error in it, to polars.
"""

import csv
import io
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import polars as pl

from taskbus_worker_csv.blocks import Block, BlockCutter
from taskbus_worker_csv.column_stats import CsvResult, TableStats
from taskbus_worker_csv.parameters import CsvParameters
from taskbus_worker_csv.plain_csv import PlainSchema, PlainTable, read_plain
from taskbus_worker_csv.plain_types import polars_schema

Encoding = Literal["utf8", "utf8-lossy"]

_SNIFF_BYTES = 64 * 1024
_SNIFFED_DELIMITERS = ",;\t|"
_INTEGER = re.compile(r"^\s*[+-]?\d+\s*$")
# Control bytes that text never holds (tab, line feed, form feed and carriage return it does).
_BINARY_CONTROLS = bytes([*range(0x01, 0x09), 0x0B, *range(0x0E, 0x20), 0x7F])
_MAX_CONTROL_SHARE = 0.01
PLAIN_BYTES = 8 * 1024
"""Blocks up to this size are read without polars. CPU to read and summarise a block (best of
5, 2 busy cores, Python 3.11, polars 2.1), plain against polars, for a 4-column table of
numbers and words and for one with quoted multi-line notes: 0.07 against 1.0 ms at 10 rows
(~230 bytes), 0.26-0.32 against 0.85-1.0 ms at 100 rows (2 KB), even at 500 rows (10 KB).
Larger than 16 KiB, ``read_plain`` declines anyway (polars would read several chunks).
"""


class CsvInputError(ValueError):
    """The input is not CSV this task can read; the message says where and why."""


@dataclass(frozen=True, slots=True)
class CsvFormat:
    delimiter: str
    encoding: Encoding
    has_header: bool

    @classmethod
    def of(cls, params: CsvParameters, sample: bytes) -> "CsvFormat":
        """The task's format; a delimiter the task did not give is guessed from ``sample``."""
        delimiter = params.delimiter or sniff_delimiter(sample) or ","
        if len(delimiter.encode()) != 1:
            raise CsvInputError(f"the delimiter {delimiter!r} is not a single-byte character")
        return cls(delimiter, params.encoding, params.has_header)


def sniff_delimiter(sample: bytes) -> str | None:
    """The likeliest of , ; tab | in ``sample``'s first 64 KiB, or None if none stands out.

    Each candidate splits the records with the csv module (quotes respected, linear time);
    the winner gives the most records one same number of fields, two or more, then the most
    fields. Not ``csv.Sniffer``: its quote-guessing regular expressions backtrack, 22 s of CPU
    on a 64 KiB line of ``,"``.
    """
    text = sample[:_SNIFF_BYTES].decode("utf-8", errors="replace")
    if "\n" in text:
        text = text[: text.rindex("\n")]
    best: str | None = None
    best_fit = (0.0, 0)
    for delimiter in _SNIFFED_DELIMITERS:
        fit = _fit(text, delimiter)
        if fit > best_fit:  # a tie keeps the earlier, more common delimiter
            best, best_fit = delimiter, fit
    return best


def _fit(text: str, delimiter: str) -> tuple[float, int]:
    """How well ``delimiter`` splits ``text``: the share of records with the commonest field
    count and that count; (0, 0) when it is one field or ``text`` is no CSV with it."""
    records = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        counts = Counter(len(row) for row in records if row)
    except csv.Error:
        return 0.0, 0
    if not counts:
        return 0.0, 0
    fields, agreeing = counts.most_common(1)[0]
    return (agreeing / counts.total(), fields) if fields > 1 else (0.0, 0)


def _is_float(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return "_" not in value


def _value_check(dtype: pl.DataType) -> tuple[Callable[[str], bool], str] | None:
    """How to tell whether a cell fits ``dtype``, and what to call the dtype, if it is checked."""
    if dtype.is_integer():
        return (lambda value: bool(_INTEGER.match(value))), "a whole number"
    if dtype.is_float():
        return _is_float, "a number"
    if dtype == pl.Boolean:
        return (lambda value: value.strip().lower() in ("true", "false")), "true or false"
    return None


class BlockParser:
    """Parses the blocks of one file in order into frames of one schema."""

    def __init__(self, fmt: CsvFormat) -> None:
        self._fmt = fmt
        self._schema: PlainSchema | pl.Schema | None = None

    def parse(self, block: Block) -> pl.DataFrame | PlainTable:
        first = self._schema is None
        # polars would read NULs as text; in a CSV they mean binary data.
        nul = block.data.find(b"\0")
        if nul >= 0:
            raise CsvInputError(
                f"line {_line_at(block, nul)} holds a NUL byte: this looks like a binary"
                " file, not CSV text"
            )
        if first:
            self._check_looks_like_text(block)
        plain = self._read_plain(block, header=first and self._fmt.has_header)
        if plain is not None:
            self._schema = plain.schema
            return plain
        try:
            frame = pl.read_csv(
                block.data,
                has_header=first and self._fmt.has_header,
                schema=self._polars_schema(),
                infer_schema_length=None,
                separator=self._fmt.delimiter,
                encoding=self._fmt.encoding,
            )
        except pl.exceptions.PolarsError as exc:
            raise CsvInputError(self._explain(block, exc)) from None
        if first:
            self._schema = frame.schema
        return frame

    def _read_plain(self, block: Block, *, header: bool) -> PlainTable | None:
        if len(block.data) > PLAIN_BYTES or isinstance(self._schema, pl.Schema):
            return None  # once polars has read a block, it reads the rest
        return read_plain(
            block.data, delimiter=self._fmt.delimiter, has_header=header, schema=self._schema
        )

    def _polars_schema(self) -> pl.Schema | None:
        if self._schema is None or isinstance(self._schema, pl.Schema):
            return self._schema
        return polars_schema(self._schema)

    def _check_looks_like_text(self, block: Block) -> None:
        """Refuse input whose start is not text before polars reads it as a strange table."""
        sample = block.data[:_SNIFF_BYTES]
        controls = sum(sample.count(byte) for byte in _BINARY_CONTROLS)
        if controls > len(sample) * _MAX_CONTROL_SHARE:
            raise CsvInputError(
                f"{controls:,} of the first {len(sample):,} bytes are control characters:"
                " this looks like a binary file, not CSV text"
            )
        if self._fmt.encoding == "utf8":
            try:
                sample.decode("utf-8")
            except UnicodeDecodeError as exc:
                # A character cut by the end of the sample is not an error.
                if exc.start < len(sample) - 3:
                    raise CsvInputError(
                        f"line {_line_at(block, exc.start)} is not UTF-8 text"
                        ' (set encoding to "utf8-lossy" to replace the bytes that are not)'
                    ) from None

    def _explain(self, block: Block, exc: pl.exceptions.PolarsError) -> str:
        found = find_problem(
            block,
            self._fmt,
            self._polars_schema(),
            header=self._schema is None and self._fmt.has_header,
        )
        if found is not None:
            return found
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"lines {block.first_line}-{block.last_line}: the CSV parser failed: {reason}"


def _line_at(block: Block, offset: int) -> int:
    return block.first_line + block.data.count(b"\n", 0, offset)


def find_problem(
    block: Block, fmt: CsvFormat, schema: pl.Schema | None, *, header: bool
) -> str | None:
    """The first problem in ``block`` as 'line N: what is wrong', or None if none is found.

    ``schema`` is what the block's cells must fit (None while the first block still sets it);
    ``header`` says the block starts with the header row.
    """
    try:
        text = block.data.decode("utf-8", errors="strict" if fmt.encoding == "utf8" else "replace")
    except UnicodeDecodeError as exc:
        return (
            f"line {_line_at(block, exc.start)} is not UTF-8 text"
            ' (set encoding to "utf8-lossy" to replace the bytes that are not)'
        )
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=fmt.delimiter, strict=True)
    columns = list(schema.items()) if schema is not None else None
    start = 0
    try:
        for row in rows:
            line, start = block.first_line + start, rows.line_num
            if not row:
                continue
            if columns is None:
                columns = [(f"column_{i + 1}", pl.String()) for i in range(len(row))]
                if header:
                    continue
            problem = _row_problem(row, columns)
            if problem is not None:
                return f"line {line}: {problem}"
    except csv.Error as exc:
        return f"line {block.first_line + start}: {exc}"
    return None


def _row_problem(row: list[str], columns: list[tuple[str, pl.DataType]]) -> str | None:
    if len(row) != len(columns):
        return f"{len(row)} fields where the table has {len(columns)} columns"
    for value, (name, dtype) in zip(row, columns, strict=True):
        check = _value_check(dtype)
        if value and check is not None and not check[0](value):
            return (
                f"column {name!r} holds {value[:60]!r}, which is not {check[1]} like the"
                " column's values in the first rows"
            )
    return None


class FileStatistics:
    """Statistics of one CSV byte stream fed in pieces; blocking, so run it off the event loop."""

    def __init__(self, params: CsvParameters) -> None:
        self._params = params
        self._cutter = BlockCutter()
        self._parser: BlockParser | None = None
        self.stats = TableStats()

    def feed(self, pieces: Sequence[bytes]) -> None:
        block = self._cutter.feed(pieces)
        if block is not None:
            self._fold(block)

    def finish(self) -> CsvResult:
        block = self._cutter.finish()
        if block is not None:
            self._fold(block)
        if self._parser is None:
            raise CsvInputError("the file is empty")
        return self.stats.result()

    def _fold(self, block: Block) -> None:
        if self._parser is None:
            self._parser = BlockParser(CsvFormat.of(self._params, block.data))
        self.stats.add(self._parser.parse(block))
