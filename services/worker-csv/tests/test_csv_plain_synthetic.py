"""Small synthetic tables: drawn, read and summarised in plain Python as polars would, inline."""

import io
from collections.abc import AsyncIterator, Callable
from typing import ParamSpec, TypeVar
from unittest import mock

import pytest
from csv_hooks import Hooks
from hypothesis import given, settings
from hypothesis import strategies as st
from taskbus_worker_csv import sources
from taskbus_worker_csv.column_stats import TableStats
from taskbus_worker_csv.handler import summarise, summarise_file
from taskbus_worker_csv.parameters import CsvParameters
from taskbus_worker_csv.plain_csv import PlainTable
from taskbus_worker_csv.sources import is_plain, synthetic_batches
from taskbus_worker_csv.synthetic import PLAIN_ROWS, _frame, synthetic_csv

P = ParamSpec("P")
R = TypeVar("R")
SEEDS = st.one_of(st.integers(-1000, 1000), st.integers(-(2**63), 2**63))


def _vectorised_csv(seed: int, start: int, stop: int) -> bytes:
    buffer = io.BytesIO()
    _frame(seed, start, stop).write_csv(buffer)
    return buffer.getvalue()


@settings(max_examples=200, deadline=None)
@given(SEEDS, st.integers(0, 5_000_000), st.integers(1, PLAIN_ROWS))
def test_plain_rows_are_the_vectorised_rows(seed: int, start: int, rows: int) -> None:
    assert synthetic_csv(seed, start, start + rows) == _vectorised_csv(seed, start, start + rows)


def _result_json(num_rows: int, seed: int, paced: bool) -> str:
    stats = TableStats()
    for batch in synthetic_batches(num_rows, seed, paced=paced):
        stats.add(batch.table)
    return stats.result().model_dump_json()


@settings(max_examples=200, deadline=None)
@given(st.integers(1, PLAIN_ROWS) | st.integers(1, 20), SEEDS, st.booleans())
def test_a_plain_table_summarises_as_polars_reads_it(num_rows: int, seed: int, paced: bool) -> None:
    # One or two rows may leave a column all null: polars then reads it as text.
    plain = _result_json(num_rows, seed, paced)
    with mock.patch.object(sources, "PLAIN_ROWS", 0):
        polars = _result_json(num_rows, seed, paced)

    assert plain == polars


def test_small_tables_and_small_paced_steps_are_plain() -> None:
    assert all(isinstance(b.table, PlainTable) for b in synthetic_batches(PLAIN_ROWS, 0))
    assert is_plain(10)
    assert is_plain(5_000, paced=True)
    assert not is_plain(PLAIN_ROWS + 1)
    assert not any(isinstance(b.table, PlainTable) for b in synthetic_batches(PLAIN_ROWS + 1, 0))


class _NoThreads(Hooks):
    async def run_sync(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        raise AssertionError("small work does not go to a thread")


async def test_small_inputs_are_summarised_on_the_event_loop() -> None:
    inline = await summarise(
        synthetic_batches(10, 3), processing_time=0, hooks=_NoThreads(), inline=True
    )
    threaded = await summarise(synthetic_batches(10, 3), processing_time=0, hooks=Hooks())
    text = synthetic_csv(3, 0, 10)

    async def chunks() -> AsyncIterator[bytes]:
        yield text

    params = CsvParameters(file_id="0b7e0a54-3c55-4c1f-9d43-2bd1f8f0c6a4")
    from_file = await summarise_file(chunks(), len(text), params, hooks=_NoThreads())

    assert inline == threaded == from_file
    assert inline.rows == 10


async def test_large_inputs_still_go_to_a_thread() -> None:
    with pytest.raises(AssertionError, match="thread"):
        await summarise(synthetic_batches(1_000, 0), processing_time=0, hooks=_NoThreads())
