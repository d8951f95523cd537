"""The handler's loop: progress steps, pacing and prompt cancellation."""

import asyncio
import time

import pytest
from csv_hooks import Hooks
from taskbus_worker_csv.handler import summarise
from taskbus_worker_csv.sources import synthetic_batches


async def test_progress_moves_in_steps_of_at_most_ten_percent_up_to_100() -> None:
    hooks = Hooks()

    await summarise(synthetic_batches(123_456, 0), processing_time=0, hooks=hooks)

    reported = hooks.progress_reported
    steps = [b - a for a, b in zip([0.0, *reported], reported, strict=False)]
    assert reported[-1] == 100
    assert all(0 < step <= 10 for step in steps)


def test_a_small_table_is_one_batch_unless_paced() -> None:
    assert len(list(synthetic_batches(1_234, 0))) == 1
    assert len(list(synthetic_batches(1_234, 0, paced=True))) == 20


async def test_processing_time_paces_the_work() -> None:
    started = time.monotonic()
    await summarise(synthetic_batches(200, 0), processing_time=0.3, hooks=Hooks())

    assert time.monotonic() - started >= 0.3


async def test_a_paced_task_stops_within_a_second_of_being_cancelled() -> None:
    hooks = Hooks()
    task = asyncio.create_task(
        summarise(synthetic_batches(1_000_000, 0), processing_time=600, hooks=hooks)
    )
    await hooks.first_progress.wait()
    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=1.0)
