"""The handler's loop: progress steps, pacing and prompt cancellation."""

import asyncio
import time

import pytest

from taskbus_worker_csv.handler import summarise
from taskbus_worker_csv.sources import synthetic_batches


async def test_progress_moves_in_steps_of_at_most_ten_percent_up_to_100() -> None:
    reported: list[float] = []

    async def progress(percent: float, message: str | None) -> None:
        reported.append(percent)

    await summarise(
        synthetic_batches(1_234, 0), processing_time=0, progress=progress, run_sync=asyncio.to_thread
    )

    steps = [b - a for a, b in zip([0.0, *reported], reported, strict=False)]
    assert reported[-1] == 100
    assert all(0 < step <= 10 for step in steps)


async def test_processing_time_paces_the_work() -> None:
    async def progress(percent: float, message: str | None) -> None:
        return None

    started = time.monotonic()
    await summarise(
        synthetic_batches(200, 0), processing_time=0.3, progress=progress, run_sync=asyncio.to_thread
    )

    assert time.monotonic() - started >= 0.3


async def test_a_paced_task_stops_within_a_second_of_being_cancelled() -> None:
    first_batch = asyncio.Event()

    async def progress(percent: float, message: str | None) -> None:
        first_batch.set()

    task = asyncio.create_task(
        summarise(
            synthetic_batches(1_000_000, 0),
            processing_time=600,
            progress=progress,
            run_sync=asyncio.to_thread,
        )
    )
    await first_batch.wait()
    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=1.0)
