"""Where a CSV task's rows come from, as a sequence of parsed batches.

Every source yields tables of one schema (polars frames, or plain tables for small batches)
plus how much of the input has been consumed, so the statistics and the progress reporting do
not care whether rows are synthetic or read from an uploaded file.
"""

import math
from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl

from taskbus_worker_csv.plain_csv import PlainSchema, PlainTable, read_plain
from taskbus_worker_csv.plain_types import polars_schema
from taskbus_worker_csv.synthetic import PLAIN_ROWS, synthetic_csv

# Batches small enough that one takes well under a second (cancellation stays prompt) and
# numerous enough that progress moves in steps of at most 5 %, but not so small that the
# fixed cost of a batch (parsing, statistics, a trip off the event loop) swamps the rows:
# a small table is one batch, unless pacing asks for steps a person can watch.
_MAX_BATCH_ROWS = 100_000
_MIN_BATCH_ROWS = 10_000
_MIN_BATCHES = 20
_SYNTHETIC_INFER_ROWS = 100
"""``pl.read_csv``'s default ``infer_schema_length``, which the synthetic batches are read with."""


@dataclass(frozen=True, slots=True)
class Batch:
    table: pl.DataFrame | PlainTable
    done: float
    """Fraction of the whole input consumed once this batch is counted, 0 to 1."""


def _batch_rows(num_rows: int, paced: bool) -> int:
    batch_rows = min(_MAX_BATCH_ROWS, math.ceil(num_rows / _MIN_BATCHES))
    return batch_rows if paced else max(batch_rows, _MIN_BATCH_ROWS)


def is_plain(num_rows: int, *, paced: bool = False) -> bool:
    """Whether ``synthetic_batches`` draws, reads and summarises this table without polars:
    when its batches have at most ``PLAIN_ROWS`` rows. CPU per batch, drawn, read and
    summarised (best of 5, 2 busy cores, Python 3.11, polars 2.1):

    ====  =======  ========
    rows  plain    polars
    ====  =======  ========
    10    0.13 ms  4.0 ms
    100   0.85 ms  3.2 ms
    256   2.5 ms   4-6 ms
    ====  =======  ========
    """
    return min(num_rows, _batch_rows(num_rows, paced)) <= PLAIN_ROWS


def synthetic_batches(num_rows: int, seed: int, *, paced: bool = False) -> Iterator[Batch]:
    """The synthetic table of ``seed``, generated as CSV text a chunk at a time and parsed.

    Later chunks are parsed with the first chunk's inferred types, as a streaming reader would.
    A ``paced`` table always comes in at least ``_MIN_BATCHES`` steps.
    """
    batch_rows = _batch_rows(num_rows, paced)
    plain = is_plain(num_rows, paced=paced)
    schema: PlainSchema | pl.Schema | None = None
    for start in range(0, num_rows, batch_rows):
        stop = min(num_rows, start + batch_rows)
        text = synthetic_csv(seed, start, stop)
        table: pl.DataFrame | PlainTable | None = _read_plain(text, schema) if plain else None
        if table is None:
            table = pl.read_csv(text, schema=_polars_schema(schema))
        schema = table.schema
        yield Batch(table, stop / num_rows)


def _read_plain(text: bytes, schema: PlainSchema | pl.Schema | None) -> PlainTable | None:
    if isinstance(schema, pl.Schema):
        return None  # once polars has read a batch, it reads the rest
    return read_plain(text, schema=schema, infer_rows=_SYNTHETIC_INFER_ROWS)


def _polars_schema(schema: PlainSchema | pl.Schema | None) -> pl.Schema | None:
    return schema if schema is None or isinstance(schema, pl.Schema) else polars_schema(schema)
