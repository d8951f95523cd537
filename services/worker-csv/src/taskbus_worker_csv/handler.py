"""The ``csv_processing`` task: per-column statistics of a CSV table."""

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import ParamSpec, Protocol, TypeVar

from taskbus.errors import Fail
from taskbus.parameters import CsvParameters
from taskbus.worker import TaskContext

from taskbus_worker_csv.column_stats import CsvResult, TableStats
from taskbus_worker_csv.sources import Batch, synthetic_batches

P = ParamSpec("P")
R = TypeVar("R")


class TaskHooks(Protocol):
    """What the statistics loop needs of its attempt; ``TaskContext`` provides it."""

    async def progress(self, percent: float, message: str | None = None) -> None: ...

    async def run_sync(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R: ...


def _fold_next(batches: Iterator[Batch], stats: TableStats) -> float | None:
    """Read and fold one batch; the fraction done, or None at the end of the input."""
    batch = next(batches, None)
    if batch is None:
        return None
    stats.add(batch.frame)
    return batch.done


async def summarise(
    batches: Iterator[Batch], *, processing_time: float, hooks: TaskHooks
) -> CsvResult:
    """Fold every batch into column statistics, one batch per trip off the event loop.

    ``processing_time`` spreads the work so that it ends no sooner than that many seconds
    after it started: the seed's pacing, kept so a demo task stays visible while it runs.
    """
    stats = TableStats()
    started = time.monotonic()
    while (done := await hooks.run_sync(_fold_next, batches, stats)) is not None:
        await hooks.progress(done * 100, f"{stats.rows:,} rows")
        ahead = started + processing_time * done - time.monotonic()
        if ahead > 0:
            await asyncio.sleep(ahead)
    return stats.result()


async def handle(ctx: TaskContext, params: CsvParameters) -> CsvResult:
    """Statistics of the task's synthetic table."""
    if params.file_id is not None:
        raise Fail("file inputs are not supported yet")
    # CsvParameters defaults num_rows whenever file_id is absent.
    assert params.num_rows is not None
    result = await summarise(
        synthetic_batches(params.num_rows, params.seed),
        processing_time=params.processing_time,
        hooks=ctx,
    )
    ctx.log.info("csv summarised", rows=result.rows, columns=len(result.columns))
    return result
