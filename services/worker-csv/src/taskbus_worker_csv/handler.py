"""The ``csv_processing`` task: per-column statistics of an uploaded or a synthetic CSV table.

An uploaded file streams from the file store in record-aligned blocks, one block in memory at
a time, while the previous block is parsed off the event loop. A redelivered attempt reads the
file again from its start instead of resuming from a checkpoint: statistics are a pure function
of the input, so the second pass gives the same result and nothing outside the task saw the
first; re-reading costs a few seconds per GB, whereas the partial aggregates a checkpoint would
carry (up to 100,000 distinct values per text column) can outgrow a NATS message.

Small inputs (``is_plain`` tables, files up to ``PLAIN_BYTES``) are read in plain Python and on
the event loop. A trip to a thread costs some 80 us of CPU, as much as reading ten rows, and
buys nothing here: plain Python holds the GIL on a thread too, which hands it back to the loop
only every ``sys.getswitchinterval()`` (5 ms), longer than such a batch takes (at most 2.5 ms,
0.1 ms for ten rows). The rare small input the plain reader declines costs polars' 1-2 ms on
the loop; heartbeats come seconds apart.
"""

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator
from typing import ParamSpec, Protocol, TypeVar

from nats.errors import Error as NatsError
from taskbus.errors import Fail, Retry
from taskbus.files import FileCorrupt
from taskbus.worker import TaskContext

from taskbus_worker_csv.blocks import RecordTooLong, gathered
from taskbus_worker_csv.column_stats import CsvResult, TableStats
from taskbus_worker_csv.csv_file import PLAIN_BYTES, CsvInputError, FileStatistics
from taskbus_worker_csv.parameters import CsvParameters
from taskbus_worker_csv.sources import Batch, is_plain, synthetic_batches

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class TaskHooks(Protocol):
    """What the statistics loop needs of its attempt; ``TaskContext`` provides it."""

    async def progress(self, percent: float, message: str | None = None) -> None: ...

    async def run_sync(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R: ...


class _Pacer:
    """The seed's ``processing_time``: spread the work so it ends no sooner than that many
    seconds after it started, so that a demo task stays visible while it runs."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._started = time.monotonic()

    async def keep_pace(self, done: float) -> None:
        ahead = self._started + self._seconds * done - time.monotonic()
        if ahead > 0:
            await asyncio.sleep(ahead)


async def _inline(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``run_sync`` for work smaller than a trip to a thread."""
    return fn(*args, **kwargs)


def _fold_next(batches: Iterator[Batch], stats: TableStats) -> float | None:
    """Read and fold one batch; the fraction done, or None at the end of the input."""
    batch = next(batches, None)
    if batch is None:
        return None
    stats.add(batch.table)
    return batch.done


async def summarise(
    batches: Iterator[Batch], *, processing_time: float, hooks: TaskHooks, inline: bool = False
) -> CsvResult:
    """Fold every batch into column statistics, one batch per trip off the event loop (or on
    it, when the batches are ``inline`` small)."""
    stats = TableStats()
    pacer = _Pacer(processing_time)
    run = _inline if inline else hooks.run_sync
    while (done := await run(_fold_next, batches, stats)) is not None:
        await hooks.progress(done * 100, f"{stats.rows:,} rows")
        await pacer.keep_pace(done)
    return stats.result()


async def _read_ahead(items: AsyncIterator[T]) -> AsyncIterator[T]:
    """``items``, with the next one being read while the caller works on the current one."""
    upcoming = asyncio.ensure_future(anext(items, None))
    try:
        while (item := await upcoming) is not None:
            upcoming = asyncio.ensure_future(anext(items, None))
            yield item
    finally:
        upcoming.cancel()


async def summarise_file(
    chunks: AsyncIterable[bytes], size: int, params: CsvParameters, *, hooks: TaskHooks
) -> CsvResult:
    """Statistics of the CSV text ``chunks`` (``size`` bytes), progress by bytes read.

    Raises ``Fail`` naming the line and the problem when the input is not readable CSV.
    """
    reading = FileStatistics(params)
    pacer = _Pacer(params.processing_time)
    run = _inline if size <= PLAIN_BYTES else hooks.run_sync
    read = 0
    try:
        async for pieces in _read_ahead(gathered(chunks)):
            await run(reading.feed, pieces)
            read += sum(len(piece) for piece in pieces)
            await hooks.progress(100 * read / size, f"{reading.stats.rows:,} rows")
            await pacer.keep_pace(read / size)
        return await run(reading.finish)
    except (CsvInputError, RecordTooLong) as exc:
        raise Fail(str(exc)) from exc


async def _summarise_input(ctx: TaskContext, file_id: str, params: CsvParameters) -> CsvResult:
    try:
        reader = await ctx.open_input(file_id)
        return await summarise_file(reader, reader.info.size, params, hooks=ctx)
    except FileCorrupt as exc:
        raise Fail(str(exc)) from exc
    except NatsError as exc:
        raise Retry(f"the file store did not answer: {exc!r}") from exc


async def handle(ctx: TaskContext, params: CsvParameters) -> CsvResult:
    """Statistics of the task's uploaded file or synthetic table."""
    if params.file_id is not None:
        result = await _summarise_input(ctx, params.file_id, params)
    else:
        # CsvParameters defaults num_rows whenever file_id is absent.
        assert params.num_rows is not None
        paced = params.processing_time > 0
        result = await summarise(
            synthetic_batches(params.num_rows, params.seed, paced=paced),
            processing_time=params.processing_time,
            hooks=ctx,
            inline=is_plain(params.num_rows, paced=paced),
        )
    # DEBUG: the runtime logs every attempt that succeeds, and the result holds these counts;
    # a JSON line at INFO cost ~35 us, an eighth of a ten-row task.
    ctx.log.debug("csv summarised", rows=result.rows, columns=len(result.columns))
    return result
