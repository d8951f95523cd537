"""An attempt writes its TaskStarted only once it has lasted (taskbus.worker.start)."""

import asyncio
from datetime import timedelta
from typing import Any
from uuid import uuid4

from support.worker_harness import (
    TASK_TYPE,
    NoParameters,
    events_once_ended,
    eventually,
    of_type,
    submit,
    work_settled,
    worker,
)
from taskbus.eventlog import EventLog
from taskbus.events import (
    TaskCancelled,
    TaskCheckpoint,
    TaskEvent,
    TaskFailed,
    TaskProgress,
    TaskRetried,
    TaskStarted,
    TaskSubmitted,
    TaskSucceeded,
    utcnow,
)
from taskbus.readmodel.fold import fold_history
from taskbus.tasks import TaskStatus
from taskbus.worker import TaskContext


def kinds(events: list[TaskEvent]) -> list[str]:
    return [event.type for event in events]


async def test_an_attempt_that_ends_at_once_writes_only_its_end_which_says_when_it_began(
    nats_url: str,
) -> None:
    async def handler(ctx: TaskContext, params: NoParameters) -> dict[str, Any]:
        await ctx.progress(50, "half")
        return {"rows": 1}

    async with worker(nats_url, handler, start_event_after_s=5) as eventlog:
        task_id = await submit(eventlog)
        events = await events_once_ended(eventlog, task_id)
        state = fold_history(await eventlog.history(task_id))

    assert kinds(events) == ["TaskSubmitted", "TaskSucceeded"]
    [succeeded] = of_type(events, TaskSucceeded)
    assert succeeded.started_at is not None
    assert events[0].time <= succeeded.started_at <= succeeded.time
    assert state is not None
    assert (state.status, state.started_at) == (TaskStatus.SUCCESS, succeeded.started_at)


async def test_an_attempt_that_lasts_writes_its_start_then_the_progress_held_until_it(
    nats_url: str,
) -> None:
    async def handler(ctx: TaskContext, params: NoParameters) -> dict[str, Any]:
        await ctx.progress(20, "a fifth")
        await asyncio.sleep(0.6)
        return {"rows": 1}

    async with worker(nats_url, handler, start_event_after_s=0.2) as eventlog:
        task_id = await submit(eventlog)
        events = await events_once_ended(eventlog, task_id)

    assert kinds(events) == ["TaskSubmitted", "TaskStarted", "TaskProgress", "TaskSucceeded"]
    assert of_type(events, TaskProgress)[0].progress == 20
    assert of_type(events, TaskSucceeded)[0].started_at is None


async def test_a_checkpoint_is_written_after_the_start_however_early(nats_url: str) -> None:
    async def handler(ctx: TaskContext, params: NoParameters) -> dict[str, Any]:
        await ctx.progress(10)
        await ctx.checkpoint({"done": 1})
        return {"rows": 1}

    async with worker(nats_url, handler, start_event_after_s=5) as eventlog:
        task_id = await submit(eventlog)
        events = await events_once_ended(eventlog, task_id)

    assert kinds(events) == [
        "TaskSubmitted",
        "TaskStarted",
        "TaskProgress",
        "TaskCheckpoint",
        "TaskSucceeded",
    ]
    assert of_type(events, TaskCheckpoint)[0].data == {"done": 1}


async def test_a_cancel_before_the_start_stops_the_handler_and_nothing_follows_it(
    nats_url: str,
) -> None:
    running, stopped = asyncio.Event(), asyncio.Event()

    async def handler(ctx: TaskContext, params: NoParameters) -> dict[str, Any]:
        running.set()
        try:
            await asyncio.sleep(30)
        finally:
            stopped.set()
        return {"rows": 1}

    async with worker(nats_url, handler, start_event_after_s=20) as eventlog:
        task_id = await submit(eventlog)
        await asyncio.wait_for(running.wait(), 10)
        await eventlog.append(TaskCancelled(task_id=task_id, task_type=TASK_TYPE))
        await asyncio.wait_for(stopped.wait(), 10)
        await eventually(lambda: work_settled(eventlog))
        events = [logged.event for logged in await eventlog.history(task_id)]

    assert kinds(events) == ["TaskSubmitted", "TaskCancelled"]


async def test_a_redelivery_writes_its_start_before_the_handler_runs(nats_url: str) -> None:
    """A delivery after the first counts towards WORKER_MAX_DELIVER, however short: the one
    before it may have died inside the window. A retry whose time has not come is handed
    back once with a delay, so the delivery that runs it is the second."""
    task_id = uuid4()
    opened: list[EventLog] = []
    started_first: list[bool] = []

    async def prepare(eventlog: EventLog) -> None:
        opened.append(eventlog)
        common = {"task_id": task_id, "task_type": TASK_TYPE}
        await eventlog.append(TaskSubmitted(**common, parameters={}, attempt=1, max_attempts=2))
        await eventlog.append(
            TaskFailed(**common, attempt=1, error="passing", will_retry=True, retry_at=utcnow())
        )
        not_before = utcnow() + timedelta(seconds=0.5)
        await eventlog.append(
            TaskRetried(**common, parameters={}, attempt=2, max_attempts=2, not_before=not_before)
        )

    async def handler(ctx: TaskContext, params: NoParameters) -> dict[str, Any]:
        history = await opened[0].history(ctx.task_id)
        started_first.append(any(isinstance(logged.event, TaskStarted) for logged in history))
        return {"rows": 2}

    async with worker(nats_url, handler, prepare=prepare, start_event_after_s=5) as eventlog:
        await eventually(lambda: work_settled(eventlog))
        events = [logged.event for logged in await eventlog.history(task_id)]

    assert started_first == [True]
    assert kinds(events)[3:] == ["TaskStarted", "TaskSucceeded"]
    assert [(e.attempt, e.started_at) for e in of_type(events, TaskSucceeded)] == [(2, None)]
