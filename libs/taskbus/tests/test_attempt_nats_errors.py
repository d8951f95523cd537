"""A worker whose NATS calls fail holds its attempt and decides again instead of failing it."""

import asyncio
from typing import Any

from nats.errors import TimeoutError as NatsTimeoutError
from support.worker_harness import (
    ACKED_REDELIVERY,
    HELD,
    PAUSED_WAIT_S,
    TASK_TYPE,
    LogWatch,
    NoParameters,
    events_once_ended,
    eventually,
    of_type,
    paused,
    submit,
    work_settled,
    worker,
)
from taskbus.devrun.nats import NatsServer
from taskbus.events import TaskFailed, TaskStarted, TaskSucceeded
from taskbus.worker import TaskContext


async def test_a_nats_timeout_in_the_handler_is_redelivered_and_resumes(
    nats_url: str, logs: LogWatch
) -> None:
    resumed_from: list[dict[str, Any] | None] = []

    async def handler(ctx: TaskContext, params: NoParameters) -> dict[str, Any]:
        resumed_from.append(ctx.resume)
        if len(resumed_from) == 1:
            await ctx.checkpoint({"rows": 10})
            raise NatsTimeoutError
        return {"rows": 20}

    async with worker(nats_url, handler) as eventlog:
        task_id = await submit(eventlog)
        events = await events_once_ended(eventlog, task_id)

    assert resumed_from == [None, {"rows": 10}]
    assert of_type(events, TaskFailed) == []
    assert [e.result for e in of_type(events, TaskSucceeded)] == [{"rows": 20}]
    # The same delivery of the same attempt decided again: not a retry, and no second start.
    assert [e.attempt for e in of_type(events, TaskStarted)] == [1]
    assert logs.count(HELD, task_id) == 1


async def test_a_redelivery_whose_success_is_in_the_log_is_acked_without_running(
    nats_url: str, logs: LogWatch
) -> None:
    calls = 0

    async def handler(ctx: TaskContext, params: NoParameters) -> dict[str, Any]:
        # What the runtime meets when its TaskSucceeded is stored but the answer is lost.
        nonlocal calls
        calls += 1
        await eventlog.append(
            TaskSucceeded(task_id=ctx.task_id, task_type=TASK_TYPE, attempt=1, result={})
        )
        raise NatsTimeoutError

    async with worker(nats_url, handler) as eventlog:
        task_id = await submit(eventlog)
        await asyncio.wait_for(logs.wait_for(ACKED_REDELIVERY, task_id), 30)
        await eventually(lambda: work_settled(eventlog))
        events = await events_once_ended(eventlog, task_id)

    assert calls == 1
    # The attempt ended before its TaskStarted was due (taskbus.worker.start).
    assert of_type(events, TaskStarted) == []
    assert len(of_type(events, TaskSucceeded)) == 1
    assert of_type(events, TaskFailed) == []


async def test_a_handler_over_its_timeout_fails_with_reason_timeout(nats_url: str) -> None:
    async def handler(ctx: TaskContext, params: NoParameters) -> dict[str, Any]:
        await asyncio.Event().wait()
        raise AssertionError("never set")

    async with worker(nats_url, handler) as eventlog:
        task_id = await submit(eventlog, timeout_s=0.3)
        events = await events_once_ended(eventlog, task_id)

    [failed] = of_type(events, TaskFailed)
    assert (failed.reason, failed.will_retry) == ("timeout", False)
    assert failed.error == "timed out after 0.3 s"
    assert of_type(events, TaskSucceeded) == []


async def test_a_checkpoint_a_paused_server_leaves_unanswered_does_not_fail_the_task(
    private_nats: NatsServer, logs: LogWatch
) -> None:
    entered, release = asyncio.Event(), asyncio.Event()
    calls = 0

    async def handler(ctx: TaskContext, params: NoParameters) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 1:
            entered.set()
            await release.wait()
            await ctx.checkpoint({"rows": 10})
        return {"rows": 20}

    async with worker(private_nats.url, handler) as eventlog:
        task_id = await submit(eventlog)
        await asyncio.wait_for(entered.wait(), 30)
        with paused(private_nats):
            release.set()
            await asyncio.wait_for(logs.wait_for(HELD, task_id), PAUSED_WAIT_S)
        events = await events_once_ended(eventlog, task_id)

    # Run again by the delivery that decided again, and once more if JetStream redelivered
    # meanwhile (the pause outlasted ack_wait): only one of them can end the attempt.
    assert calls in (2, 3)
    assert of_type(events, TaskFailed) == []
    assert [e.result for e in of_type(events, TaskSucceeded)] == [{"rows": 20}]
    # The same attempt, never a retry.
    assert {e.attempt for e in of_type(events, TaskStarted)} == {1}


async def test_a_success_a_paused_server_leaves_unanswered_ends_the_task_once(
    private_nats: NatsServer, logs: LogWatch
) -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    async def handler(ctx: TaskContext, params: NoParameters) -> dict[str, Any]:
        entered.set()
        await release.wait()
        return {"done": True}

    async with worker(private_nats.url, handler) as eventlog:
        task_id = await submit(eventlog)
        await asyncio.wait_for(entered.wait(), 30)
        with paused(private_nats):
            release.set()
            await asyncio.wait_for(logs.wait_for(HELD, task_id), PAUSED_WAIT_S)
        await eventually(lambda: work_settled(eventlog))
        events = await events_once_ended(eventlog, task_id)

    # Whether the unanswered TaskSucceeded was stored once the server carried on (the
    # redelivery then only acks) or lost with the connection (the redelivery runs the handler
    # again) depends on when the client gave up on the server; the task ends once either way.
    assert [e.result for e in of_type(events, TaskSucceeded)] == [{"done": True}]
    assert of_type(events, TaskFailed) == []
