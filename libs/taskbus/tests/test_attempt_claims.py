"""A delivery writes only while it holds its task: cancels win, stalled deliveries are fenced.

Each test runs the worker runtime in-process against the session's nats-server and writes
what other parties would (a user's cancel, a newer delivery's start) straight to the log.
"""

import asyncio
import json
import re
from typing import Any
from uuid import UUID

import pytest
from support.worker_harness import (
    TASK_TYPE,
    LogWatch,
    NoParameters,
    events_once_ended,
    eventually,
    of_type,
    submit,
    work_settled,
    worker,
)
from taskbus.eventlog import EventLog, LogMoved
from taskbus.events import (
    TaskCancelled,
    TaskCheckpoint,
    TaskEvent,
    TaskFailed,
    TaskRetried,
    TaskStarted,
    TaskSucceeded,
    utcnow,
)
from taskbus.files import FileStore
from taskbus.readmodel.fold import fold_history
from taskbus.tasks import TaskStatus
from taskbus.worker import TaskContext

STOOD_DOWN = "standing down"


async def history(eventlog: EventLog, task_id: UUID) -> list[TaskEvent]:
    return [logged.event for logged in await eventlog.history(task_id)]


async def cancel(eventlog: EventLog, task_id: UUID) -> bool:
    """Cancel as the API does: decided from the fold, appended on its condition, else again."""
    while True:
        logged = await eventlog.history(task_id)
        state = fold_history(logged)
        if state is None or state.status.is_terminal:
            return False
        try:
            await eventlog.append(
                TaskCancelled(task_id=task_id, task_type=TASK_TYPE), expect_last=logged[-1].seq
            )
        except LogMoved:
            continue
        return True


async def settled_as(eventlog: EventLog, task_id: UUID) -> TaskStatus:
    """The task's state once the worker has acknowledged everything it was given."""
    await eventually(lambda: work_settled(eventlog))
    state = fold_history(await eventlog.history(task_id))
    assert state is not None
    return state.status


@pytest.fixture
def racing_cancels() -> list[float]:
    # From "before the worker has fetched it" to "while the handler runs".
    return [i * 0.004 for i in range(24)]


async def test_cancels_at_every_moment_of_a_start_leave_no_success_behind_them(
    nats_url: str, racing_cancels: list[float]
) -> None:
    finished: set[UUID] = set()

    async def handler(ctx: TaskContext, params: NoParameters) -> dict[str, Any]:
        await asyncio.sleep(0.05)
        await ctx.ensure_current()
        finished.add(ctx.task_id)
        return {}

    async with worker(nats_url, handler) as eventlog:

        async def submit_then_cancel(after_s: float) -> tuple[UUID, bool]:
            task_id = await submit(eventlog)
            await asyncio.sleep(after_s)
            return task_id, await cancel(eventlog, task_id)

        outcomes = await asyncio.gather(*(submit_then_cancel(s) for s in racing_cancels))
        statuses = {task_id: await settled_as(eventlog, task_id) for task_id, _ in outcomes}
        histories = {task_id: await history(eventlog, task_id) for task_id, _ in outcomes}

    for task_id, cancelled in outcomes:
        events = histories[task_id]
        if cancelled:
            assert statuses[task_id] is TaskStatus.CANCELLED
            # Nothing the worker wrote follows the cancel in the log.
            after = events[[type(e) for e in events].index(TaskCancelled) + 1 :]
            assert after == [], f"{task_id}: {after}"
            assert of_type(events, TaskSucceeded) == []
            assert task_id not in finished
        else:
            assert statuses[task_id] is TaskStatus.SUCCESS
    assert any(cancelled for _, cancelled in outcomes)


async def test_a_cancel_between_a_failure_and_its_retry_stops_the_retry(
    nats_url: str, logs: LogWatch
) -> None:
    """What a worker that died right after its TaskFailed(will_retry) leaves to redeliver."""
    calls = 0
    task_id = UUID(int=0)

    async def handler(ctx: TaskContext, params: NoParameters) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return {}

    async def failed_then_cancelled(eventlog: EventLog) -> None:
        nonlocal task_id
        task_id = await submit(eventlog, max_attempts=3)
        for event in (
            TaskStarted(task_id=task_id, task_type=TASK_TYPE, attempt=1, worker_id="gone"),
            TaskFailed(
                task_id=task_id,
                task_type=TASK_TYPE,
                attempt=1,
                error="passing",
                will_retry=True,
                retry_at=utcnow(),
            ),
            TaskCancelled(task_id=task_id, task_type=TASK_TYPE),
        ):
            await eventlog.append(event)

    async with worker(nats_url, handler, prepare=failed_then_cancelled) as eventlog:
        status = await settled_as(eventlog, task_id)
        events = await history(eventlog, task_id)

    assert status is TaskStatus.CANCELLED
    assert of_type(events, TaskRetried) == []
    assert calls == 0


async def test_a_stalled_delivery_stops_before_its_side_effect_once_a_newer_one_started(
    nats_url: str, logs: LogWatch
) -> None:
    calls, side_effects = 0, list[int]()
    entered, release = asyncio.Event(), asyncio.Event()

    async def handler(ctx: TaskContext, params: NoParameters) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        call = calls
        if call == 1:
            entered.set()
            await release.wait()
        await ctx.ensure_current()
        side_effects.append(call)
        return {"call": call}

    async with worker(nats_url, handler, ack_wait_s=1) as eventlog:
        task_id = await submit(eventlog)
        await asyncio.wait_for(entered.wait(), 30)
        # What a redelivery to another replica writes while this one is stalled.
        await eventlog.append(
            TaskStarted(task_id=task_id, task_type=TASK_TYPE, attempt=1, worker_id="newer")
        )
        release.set()
        await asyncio.wait_for(logs.wait_for(STOOD_DOWN, task_id), 30)
        # The newer delivery is the test's and never finishes: JetStream hands the message
        # back once ack_wait has passed, and that delivery runs it to the end.
        events = await events_once_ended(eventlog, task_id)

    assert side_effects == [2]
    assert [e.result for e in of_type(events, TaskSucceeded)] == [{"call": 2}]


async def test_an_unexpected_error_is_retried_with_backoff(nats_url: str) -> None:
    async def handler(ctx: TaskContext, params: NoParameters) -> dict[str, Any]:
        if ctx.attempt == 1:
            raise KeyError("a bug that a second try gets past")
        return {"attempt": ctx.attempt}

    async with worker(nats_url, handler, retry_base_s=0.1) as eventlog:
        task_id = await submit(eventlog, max_attempts=2)
        await eventually(lambda: _succeeded(eventlog, task_id))
        events = await history(eventlog, task_id)

    [failed] = of_type(events, TaskFailed)
    assert (failed.reason, failed.will_retry) == ("error", True)
    assert failed.error == "KeyError: 'a bug that a second try gets past'"
    assert [e.attempt for e in of_type(events, TaskRetried)] == [2]
    assert [e.result for e in of_type(events, TaskSucceeded)] == [{"attempt": 2}]


async def _succeeded(eventlog: EventLog, task_id: UUID) -> bool:
    return bool(of_type(await history(eventlog, task_id), TaskSucceeded))


async def test_a_result_too_large_to_log_is_stored_as_an_artifact(nats_url: str) -> None:
    rows = ["x" * 100] * 5_000

    async def handler(ctx: TaskContext, params: NoParameters) -> dict[str, Any]:
        return {"rows": rows}

    async with worker(nats_url, handler, result_max_bytes=64 * 1024) as eventlog:
        task_id = await submit(eventlog)
        events = await events_once_ended(eventlog, task_id)
        [succeeded] = of_type(events, TaskSucceeded)
        pointer = succeeded.result["result_file"]
        store = FileStore(eventlog.js, eventlog.subjects.files_bucket)
        stored = b"".join([chunk async for chunk in await store.open(pointer["file_id"])])

    assert json.loads(stored) == {"rows": rows}
    assert pointer["size"] == len(stored)


async def test_a_checkpoint_over_its_limit_fails_the_task(nats_url: str) -> None:
    async def handler(ctx: TaskContext, params: NoParameters) -> dict[str, Any]:
        await ctx.checkpoint({"every_index": list(range(10_000))})
        return {}

    async with worker(nats_url, handler, checkpoint_max_bytes=8 * 1024) as eventlog:
        task_id = await submit(eventlog)
        events = await events_once_ended(eventlog, task_id)

    [failed] = of_type(events, TaskFailed)
    assert re.fullmatch(r"a checkpoint of \d+ bytes is over the limit of 8192 bytes", failed.error)
    assert of_type(events, TaskCheckpoint) == []
