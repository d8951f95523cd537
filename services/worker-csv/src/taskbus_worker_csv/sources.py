"""Where a CSV task's rows come from, as a sequence of parsed batches.

Every source yields polars frames of one schema plus how much of the input has been consumed,
so the statistics and the progress reporting do not care whether rows are synthetic or read
from an uploaded file.
"""

import math
from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl

from taskbus_worker_csv.synthetic import synthetic_csv

# Batches small enough that one takes well under a second (cancellation stays prompt) and
# numerous enough that progress moves in steps of at most 5 %, but not so small that the
# fixed cost of a batch (parsing, statistics, a trip off the event loop) swamps the rows:
# a small table is one batch, unless pacing asks for steps a person can watch.
_MAX_BATCH_ROWS = 100_000
_MIN_BATCH_ROWS = 10_000
_MIN_BATCHES = 20


@dataclass(frozen=True, slots=True)
class Batch:
    frame: pl.DataFrame
    done: float
    """Fraction of the whole input consumed once this batch is counted, 0 to 1."""


def synthetic_batches(num_rows: int, seed: int, *, paced: bool = False) -> Iterator[Batch]:
    """The synthetic table of ``seed``, generated as CSV text a chunk at a time and parsed.

    Later chunks are parsed with the first chunk's inferred types, as a streaming reader would.
    A ``paced`` table always comes in at least ``_MIN_BATCHES`` steps.
    """
    batch_rows = min(_MAX_BATCH_ROWS, math.ceil(num_rows / _MIN_BATCHES))
    if not paced:
        batch_rows = max(batch_rows, _MIN_BATCH_ROWS)
    schema: pl.Schema | None = None
    for start in range(0, num_rows, batch_rows):
        stop = min(num_rows, start + batch_rows)
        frame = pl.read_csv(synthetic_csv(seed, start, stop), schema=schema)
        schema = frame.schema
        yield Batch(frame, stop / num_rows)
