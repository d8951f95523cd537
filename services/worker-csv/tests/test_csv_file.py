"""Uploaded CSV text: record-aligned blocks, formats, and errors that name the line."""

import csv
import io
import math
import statistics
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from csv_hooks import Hooks
from taskbus.errors import Fail
from taskbus_worker_csv.blocks import BlockCutter, RecordTooLong, record_boundary
from taskbus_worker_csv.column_stats import CsvResult, NumericSummary, TextSummary
from taskbus_worker_csv.csv_file import CsvInputError, FileStatistics
from taskbus_worker_csv.handler import summarise_file
from taskbus_worker_csv.parameters import CsvParameters

FILE_ID = "0b7e0a54-3c55-4c1f-9d43-2bd1f8f0c6a4"


def _params(**options: Any) -> CsvParameters:
    return CsvParameters(file_id=FILE_ID, **options)


def _table(rows: int) -> bytes:
    lines = ["id,amount,city,note"]
    cities = ["Oslo", "Lima", "Pune", "", "Kyiv"]
    for i in range(rows):
        amount = "" if i % 7 == 0 else f"{(i * 37 % 1000) / 4:.2f}"
        note = f'"says ""hi"", line\n{i}"' if i % 11 == 0 else "plain"
        lines.append(f"{i},{amount},{cities[i % 5]},{note}")
    return ("\n".join(lines) + "\n").encode()


def _stats_in_pieces(data: bytes, params: CsvParameters, piece: int) -> CsvResult:
    reading = FileStatistics(params)
    for start in range(0, len(data), piece):
        reading.feed([data[start : start + piece]])
    return reading.finish()


def _fails_with(data: bytes, params: CsvParameters | None = None) -> str:
    with pytest.raises((CsvInputError, RecordTooLong)) as raised:
        _stats_in_pieces(data, params or _params(), piece=4096)
    return str(raised.value)


def test_a_boundary_is_a_line_break_outside_quotes() -> None:
    assert record_boundary(b'a,b\n1,"x\ny"\n2,') == 12
    assert record_boundary(b'a,b\n1,"x\ny') == 4
    assert record_boundary(b'1,"x\ny') == 0


def test_blocks_keep_records_whole_and_count_lines() -> None:
    cutter = BlockCutter()
    first = cutter.feed([b'a,b\n1,"x\n', b'y"\n'])
    second = cutter.feed([b"2,z\n3,"])
    last = cutter.finish()

    assert first is not None
    assert (first.data, first.first_line) == (b'a,b\n1,"x\ny"\n', 1)
    assert second is not None
    assert (second.data, second.first_line) == (b"2,z\n", 4)
    assert last is not None
    assert (last.data, last.first_line) == (b"3,", 5)


def test_a_record_that_never_ends_is_refused() -> None:
    cutter = BlockCutter(max_record_bytes=100)

    cutter.feed([b'a\n"'])
    cutter.feed([b"x" * 40])
    cutter.feed([b"x" * 40])

    with pytest.raises(RecordTooLong, match=r'line 2: .* is a quote \("\) left open'):
        cutter.feed([b"x" * 40])


def test_statistics_equal_an_independent_computation_whatever_the_pieces() -> None:
    data = _table(3000)
    rows = list(csv.DictReader(io.StringIO(data.decode(), newline="")))

    for piece in (97, 4096, len(data)):
        result = _stats_in_pieces(data, _params(), piece)

        assert result.rows == len(rows) == 3000
        amounts = [float(r["amount"]) for r in rows if r["amount"]]
        amount = result.columns["amount"]
        assert isinstance(amount, NumericSummary)
        assert (amount.count, amount.nulls) == (len(amounts), 3000 - len(amounts))
        assert amount.sum == pytest.approx(math.fsum(amounts), rel=1e-12)
        assert amount.std == pytest.approx(statistics.stdev(amounts), rel=1e-9)
        assert (amount.min, amount.max) == (min(amounts), max(amounts))
        city = result.columns["city"]
        assert isinstance(city, TextSummary)
        counts = Counter(r["city"] for r in rows if r["city"])
        assert (city.count, city.nulls, city.distinct) == (2400, 600, 4)
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        assert [(t.value, t.count) for t in city.top] == ranked
        note = result.columns["note"]
        assert isinstance(note, TextSummary)
        assert note.distinct == len({r["note"] for r in rows})


async def test_progress_follows_the_bytes_read() -> None:
    data = _table(60_000)
    hooks = Hooks()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 128 * 1024):
            yield data[start : start + 128 * 1024]

    result = await summarise_file(chunks(), len(data), _params(), hooks=hooks)

    assert result.rows == 60_000
    assert hooks.progress_reported[-1] == 100
    assert hooks.progress_reported == sorted(hooks.progress_reported)


def test_a_semicolon_table_is_recognised_and_a_given_delimiter_is_used() -> None:
    semicolons = b"name;score\nada;1,5\nbob;2,5\n"
    tabs = b"name\tscore\nada\t1\nbob\t2\n"

    sniffed = _stats_in_pieces(semicolons, _params(), 4096)
    given = _stats_in_pieces(tabs, _params(delimiter="\t"), 4096)

    assert set(sniffed.columns) == {"name", "score"}
    score = given.columns["score"]
    assert isinstance(score, NumericSummary)
    assert score.sum == 3


def test_a_table_without_header_gets_numbered_columns() -> None:
    result = _stats_in_pieces(b"1,x\n2,y\n", _params(has_header=False), 4096)

    assert result.rows == 2
    numbers, letters = result.columns.values()
    assert isinstance(numbers, NumericSummary)
    assert numbers.sum == 3
    assert isinstance(letters, TextSummary)
    assert letters.distinct == 2


def test_binary_input_is_refused_as_not_csv() -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 10

    assert _fails_with(png) == (
        "line 3 holds a NUL byte: this looks like a binary file, not CSV text"
    )


def test_text_with_many_control_characters_is_refused_as_binary() -> None:
    message = _fails_with(bytes([0xA5, 0x01, 0x02, ord("\n")]) * 1000)

    assert message.endswith("control characters: this looks like a binary file, not CSV text")


def test_a_first_block_that_is_not_utf8_is_refused_before_parsing() -> None:
    assert _fails_with(b"name\n" + b"\xa5" * 1000 + b"\n") == (
        'line 2 is not UTF-8 text (set encoding to "utf8-lossy" to replace the bytes that are not)'
    )


def test_a_value_that_breaks_its_column_type_is_located() -> None:
    data = _table(2000) + b"2000,12.5,Oslo,fine\n2001,n/a,Oslo,bad\n"

    message = _fails_with(data)

    lines = data.count(b"\n")
    assert message == (
        f"line {lines}: column 'amount' holds 'n/a', which is not a number like the"
        " column's values in the first rows"
    )


def test_a_row_with_too_many_fields_is_located() -> None:
    data = _table(2000) + b"2000,1.5,Oslo,note,extra\n"

    lines = data.count(b"\n")
    assert _fails_with(data) == f"line {lines}: 5 fields where the table has 4 columns"


def test_text_that_is_not_utf8_is_located_and_lossy_decoding_reads_it() -> None:
    data = _table(2000) + b"2000,1.5,Gen\xe8ve,latin-1\n"

    lines = data.count(b"\n")
    assert _fails_with(data).startswith(f"line {lines} is not UTF-8 text")
    lossy = _stats_in_pieces(data, _params(encoding="utf8-lossy"), 4096)
    assert lossy.rows == 2001


def test_an_empty_file_fails_and_a_header_alone_has_no_rows() -> None:
    with pytest.raises(CsvInputError, match="the file is empty"):
        FileStatistics(_params()).finish()
    assert _stats_in_pieces(b"a,b\n", _params(), 4096).rows == 0


async def test_bad_input_fails_the_task_with_the_reason() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"a,b\n1,2\n"
        yield b"\x00\x01\x02"

    with pytest.raises(Fail, match="NUL byte"):
        await summarise_file(chunks(), 11, _params(), hooks=Hooks())
