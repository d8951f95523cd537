"""The plain reader answers as polars reads the same CSV, or leaves the input to polars.

Tables are generated with typed, mixed, null and odd cells, quoted or not, and sometimes
broken (blank lines, ragged rows, stray quotes, bare carriage returns), and the statistics of
each are compared between the two readers as JSON, where 1 and 1.0, 0.0 and -0.0 differ.
"""

import math
from unittest import mock

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from taskbus_worker_csv import csv_file
from taskbus_worker_csv.blocks import RecordTooLong
from taskbus_worker_csv.column_stats import TableStats
from taskbus_worker_csv.csv_file import CsvInputError, FileStatistics
from taskbus_worker_csv.parameters import CsvParameters
from taskbus_worker_csv.plain_csv import PlainTable, read_plain
from taskbus_worker_csv.plain_types import _WEIRD, _kind_of

FILE_ID = "0b7e0a54-3c55-4c1f-9d43-2bd1f8f0c6a4"
DELIMITERS = ",;\t|"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

INTS = st.one_of(
    st.integers(-1000, 1000).map(str),
    st.integers(INT64_MIN, INT64_MAX).map(str),
    st.integers(0, 999).map(lambda i: f"{i:04d}"),
    st.sampled_from(["-0", str(INT64_MIN), str(INT64_MAX)]),
)
FLOATS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.floats(-1e4, 1e4).map(lambda f: f"{f:.3f}"),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: f"{f:e}"),
    st.sampled_from(
        [
            *["inf", "-inf", "+inf", "NaN", "+NaN", "-NaN", ".5", "5.", "-.5", "+1.5", "1e5"],
            *["1E-5", "0.0", "-0.0", "1" * 30 + ".5", "1" * 400 + ".0", "1e-400", "1e400"],
            "00.5",
        ]
    ),
)
BOOLS = st.sampled_from(["true", "false", "TRUE", "False", "tRuE"])
# Cells on the edges of polars' types and of CSV, including digits Python reads and polars not.
ODD = st.sampled_from(
    [
        *["\u0665", "\uff11\uff12", "fal\u017fe", " 5", "5 ", "1_000", "nan", "INF", "Infinity"],
        *["0x10", "--5", "+5", "1e", ".", "-", "2024-01-01", "1,5", str(2**63), str(-(2**63) - 1)],
        *["9" * 45, '"', '""', "a\nb", "a\r\nb", "\r", "\0", "\ufeff"],
    ]
)
TEXT = st.one_of(st.text(max_size=8), st.sampled_from(["alpha", "Oslo", "ünï", "x y", "日本"]))
CELLS = {"int": INTS, "float": FLOATS, "bool": BOOLS, "text": TEXT}
MIXED = st.one_of(INTS, FLOATS, BOOLS, TEXT, ODD)
# Text polars reads as text or as one of its types, never a cell it would fail to parse.
CLEAN_TEXT = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\0\ufeff"),
    min_size=1,
    max_size=8,
).filter(lambda cell: _kind_of(cell) < _WEIRD)
# Without -0.0: both signed zeros at a float column's minimum or maximum are left to polars.
CLEAN_FLOATS = FLOATS.filter(lambda cell: math.copysign(1, float(cell)) > 0 or float(cell) != 0)
CLEAN = {**CELLS, "float": CLEAN_FLOATS, "text": CLEAN_TEXT}


@st.composite
def column_cells(draw: st.DrawFn, rows: int, *, clean: bool) -> list[str | None]:
    kind = draw(st.sampled_from([*CELLS, "mixed"]) if not clean else st.sampled_from([*CELLS]))
    value = (CLEAN if clean else CELLS).get(kind, MIXED)
    cells = st.one_of(value, st.none(), st.just("")) if draw(st.booleans()) else value
    return draw(st.lists(cells, min_size=rows, max_size=rows))


def _field(cell: str | None, delimiter: str, *, quote: bool, sloppy: bool) -> str:
    if cell is None:
        return ""
    special = cell == "" or any(c in cell for c in (delimiter, '"', "\n", "\r"))
    if sloppy or not (quote or special):
        return cell
    return '"' + cell.replace('"', '""') + '"'


@st.composite
def tables(draw: st.DrawFn, *, clean: bool = False) -> tuple[bytes, str, bool]:
    """CSV bytes, their delimiter and whether they have a header."""
    delimiter = draw(st.sampled_from(DELIMITERS))
    width = draw(st.integers(2 if clean else 1, 5))
    rows = draw(st.integers(0, 12))
    columns = [draw(column_cells(rows, clean=clean)) for _ in range(width)]
    if rows and draw(st.integers(0, 4)) == 0:
        # Past the 128-row blocks of polars' sums: the drawn rows over and over, each time
        # one cell replaced (values far apart in magnitude make the order of additions show).
        longer = draw(st.integers(100, 300))
        columns = [[column[i % rows] for i in range(longer)] for column in columns]
        rows = longer
    has_header = draw(st.booleans()) if not clean else True
    names = [f"c{i}" for i in range(width)]
    if not clean and draw(st.integers(0, 3)) == 0:
        names = draw(st.lists(st.text(max_size=3), min_size=width, max_size=width))
    quote = draw(st.booleans())
    sloppy = not clean and draw(st.integers(0, 9)) == 0
    records = [[_field(n, delimiter, quote=quote, sloppy=sloppy) for n in names]] * has_header
    records += [
        [_field(column[row], delimiter, quote=quote, sloppy=sloppy) for column in columns]
        for row in range(rows)
    ]
    lines = [delimiter.join(record) for record in records]
    if not clean:
        lines = draw(_broken(lines, delimiter))
    newline = "\r\n" if draw(st.booleans()) else "\n"
    text = newline.join(lines) + (newline if clean or draw(st.integers(0, 3)) else "")
    return text.encode(), delimiter, has_header


@st.composite
def _broken(draw: st.DrawFn, lines: list[str], delimiter: str) -> list[str]:
    """Now and then one line of ``lines`` blank, short, long or with a stray quote or CR."""
    if not lines or draw(st.integers(0, 3)) != 0:
        return lines
    at = draw(st.integers(0, len(lines) - 1))
    damage = draw(st.sampled_from(["", "\r", '"', "x" + delimiter, delimiter]))
    broken = list(lines)
    if damage == "":
        broken.insert(at, "")
    elif damage == delimiter:
        broken[at] = broken[at].rsplit(delimiter, 1)[0]
    else:
        broken[at] = damage + broken[at]
    return broken


def _stats_json(table: pl.DataFrame | PlainTable) -> str:
    stats = TableStats()
    stats.add(table)
    return stats.result().model_dump_json()


def _polars(data: bytes, delimiter: str, has_header: bool) -> str | None:
    try:
        frame = pl.read_csv(
            data, separator=delimiter, has_header=has_header, infer_schema_length=None
        )
        return _stats_json(frame)
    except Exception:  # polars refuses it: the plain reader must have declined too
        return None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
# Found by CI: polars names the column of a quoted header `""""` `""`, not `"`.
@example((b'0,1,"""",00\n0,0,0,0', ",", True))
def test_the_plain_reader_agrees_with_polars_or_declines(table: tuple[bytes, str, bool]) -> None:
    data, delimiter, has_header = table

    plain = read_plain(data, delimiter=delimiter, has_header=has_header)

    if plain is not None:
        assert _stats_json(plain) == _polars(data, delimiter, has_header)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(clean=True))
def test_a_well_formed_table_is_read_plain(table: tuple[bytes, str, bool]) -> None:
    data, delimiter, has_header = table
    assume(len(data) <= csv_file.PLAIN_BYTES)

    plain = read_plain(data, delimiter=delimiter, has_header=has_header)

    assert plain is not None
    assert _stats_json(plain) == _polars(data, delimiter, has_header)


def _file_outcome(data: bytes, params: CsvParameters, pieces: int) -> tuple[str, str]:
    reading = FileStatistics(params)
    try:
        for start in range(0, len(data), pieces):
            reading.feed([data[start : start + pieces]])
        return "result", reading.finish().model_dump_json()
    except (CsvInputError, RecordTooLong) as exc:
        return type(exc).__name__, str(exc)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(), st.booleans(), st.integers(16, 4096))
def test_a_small_file_gives_what_polars_gives_or_the_same_error(
    table: tuple[bytes, str, bool], sniffed: bool, pieces: int
) -> None:
    # Fed in pieces, the file is cut into blocks: later blocks are read with the first's types.
    data, delimiter, has_header = table
    assume(len(data) <= csv_file.PLAIN_BYTES)
    params = CsvParameters(
        file_id=FILE_ID, delimiter=None if sniffed else delimiter, has_header=has_header
    )

    plain = _file_outcome(data, params, pieces)
    with mock.patch.object(csv_file, "PLAIN_BYTES", -1):
        polars = _file_outcome(data, params, pieces)

    assert plain == polars


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (b"a\n\n1\n", "a blank line: polars reads a null row"),
        (b"a,a\n1,2\n", "a repeated name: polars renames it"),
        (b'a\n"x"y\n', "text after a closing quote"),
        (b"a\n1\r2\n", "a carriage return alone"),
        (b"a\n9223372036854775808\n", "past Int64: polars reads Int128"),
        (b"a\n\xd9\xa5\n", "an Arabic-Indic digit: polars fails to parse it"),
        (b"a\n0.0\n-0.0\n", "both signed zeros at the minimum"),
        (b"a,b\n1\n", "a short record: polars pads it with nulls"),
    ],
)
def test_what_the_plain_reader_leaves_to_polars(text: bytes, why: str) -> None:
    assert read_plain(text) is None, why


def test_quoted_fields_and_the_empty_string() -> None:
    table = read_plain(b'name,n\n"a ""b"", c",1\n"",2\n,3\n"x\ny","4"\n')

    assert table is not None
    assert table.schema == {"name": "text", "n": "int"}
    assert [list(column) for column in table.columns] == [
        ['a "b", c', "", None, "x\ny"],
        [1, 2, 3, 4],
    ]
