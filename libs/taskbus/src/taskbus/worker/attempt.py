"""Running one delivered work message: one attempt of one task, start to ack."""

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Literal

import structlog
from nats.aio.msg import Msg
from pydantic import BaseModel, ValidationError

from taskbus import metrics, subjects
from taskbus.errors import Fail, Retry
from taskbus.eventlog import EventLog
from taskbus.events import (
    FailureReason,
    TaskFailed,
    TaskRetried,
    TaskStarted,
    TaskSubmitted,
    TaskSucceeded,
    utcnow,
)
from taskbus.worker.context import TaskContext
from taskbus.worker.recovery import Recovery, backoff_delay, recover
from taskbus.worker.settings import WorkerSettings

log = structlog.get_logger(__name__)

WorkEvent = TaskSubmitted | TaskRetried
Handler = Callable[[TaskContext, Any], Awaitable[BaseModel | dict[str, Any]]]
Outcome = Literal["succeeded", "failed"]


class Attempt:
    """Owns one work message until it is acked, nak'ed (handed back) or terminated."""

    def __init__(
        self,
        eventlog: EventLog,
        msg: Msg,
        event: WorkEvent,
        *,
        handler: Handler,
        parameters_model: type[BaseModel],
        settings: WorkerSettings,
        rng: random.Random,
    ) -> None:
        self._log = eventlog
        self._msg = msg
        self.event = event
        self._handler = handler
        self._parameters_model = parameters_model
        self._settings = settings
        self._rng = rng
        self._handler_task: asyncio.Task[BaseModel | dict[str, Any]] | None = None
        self._cancelled_by_user = False
        self._handed_back = False
        self.outcome: Outcome | None = None
        self._started: float | None = None
        self.log = log.bind(
            task_id=str(event.task_id), task_type=event.task_type.value, attempt=event.attempt
        )

    def cancel(self) -> None:
        """The user cancelled the task: stop the handler now, finish the message."""
        self._cancelled_by_user = True
        if self._handler_task is not None:
            self._handler_task.cancel()

    def hand_back(self) -> None:
        """Shutdown ran out of grace: stop the handler and let another replica redeliver."""
        self._handed_back = True
        if self._handler_task is not None:
            self._handler_task.cancel()

    async def run(self) -> None:
        event = self.event
        if await self._was_cancelled():
            self.log.info("skipping cancelled task")
            await self._msg.ack()
            return
        if isinstance(event, TaskRetried) and event.not_before is not None:
            wait = (event.not_before - utcnow()).total_seconds()
            if wait > 0.05:
                await self._msg.nak(delay=wait)
                return
        recovery = Recovery()
        # A redelivery may find its attempt already ended; a retry may resume an earlier one.
        if self._msg.metadata.num_delivered > 1 or isinstance(event, TaskRetried):
            recovery = recover(await self._log.history(event.task_id), event.attempt)
            if recovery.finished:
                await self._finish_recovered(recovery)
                return
        try:
            parameters = self._parameters_model.model_validate(event.parameters)
        except ValidationError as exc:
            await self._fail(f"invalid parameters: {exc}", retry_delay=None)
            return
        await self._execute(parameters, recovery.resume)

    async def _was_cancelled(self) -> bool:
        """A cancellation logged after this work message wins: the attempt must not start."""
        cancelled_seq = await self._log.last_seq_on(
            self._log.subjects.cancel(self.event.task_type, self.event.task_id)
        )
        return cancelled_seq is not None and cancelled_seq > self._msg.metadata.sequence.stream

    async def _finish_recovered(self, recovery: Recovery) -> None:
        if recovery.scheduled_retry is not None:
            await self._schedule_retry(recovery.scheduled_retry)
        self.log.info("attempt already finished in the log; acking redelivery")
        await self._msg.ack()

    async def _execute(self, parameters: BaseModel, resume: dict[str, Any] | None) -> None:
        event = self.event
        await self._log.append(
            TaskStarted(
                task_id=event.task_id,
                task_type=event.task_type,
                attempt=event.attempt,
                worker_id=self._settings.worker_id,
            ),
        )
        ctx = TaskContext(
            self._log,
            task_id=event.task_id,
            task_type=event.task_type,
            attempt=event.attempt,
            resume=resume,
            interval_s=self._settings.progress_interval_s,
        )
        self.log.info("attempt started", resumed=resume is not None)
        self._started = time.monotonic()
        metrics.QUEUE_WAIT.labels(event.task_type.value).observe(
            max(0.0, (utcnow() - event.time).total_seconds())
        )
        heartbeat = asyncio.create_task(self._heartbeat())
        self._handler_task = asyncio.create_task(self._call_handler(ctx, parameters))
        try:
            await self._await_handler()
        finally:
            heartbeat.cancel()

    async def _call_handler(
        self, ctx: TaskContext, parameters: BaseModel
    ) -> BaseModel | dict[str, Any]:
        async with asyncio.timeout(self.event.timeout_s):
            return await self._handler(ctx, parameters)

    async def _await_handler(self) -> None:
        assert self._handler_task is not None
        try:
            result = await self._handler_task
        except asyncio.CancelledError:
            if not (self._cancelled_by_user or self._handed_back):
                raise
            await self._after_stop()
        except TimeoutError:
            await self._fail(
                f"timed out after {self.event.timeout_s} s", retry_delay=None, reason="timeout"
            )
        except Retry as exc:
            await self._fail(str(exc), retry_delay=self._retry_delay(exc))
        except Fail as exc:
            await self._fail(str(exc), retry_delay=None)
        except Exception as exc:
            self.log.exception("handler raised")
            await self._fail(f"{type(exc).__name__}: {exc}", retry_delay=None)
        else:
            await self._succeed(result)

    async def _after_stop(self) -> None:
        if self._handed_back:
            self.log.info("attempt handed back on shutdown")
            await self._msg.nak()
        else:
            self.log.info("attempt stopped: task cancelled")
            await self._msg.ack()
            metrics.TASKS.labels(self.event.task_type.value, "cancelled").inc()

    def _finished(self, outcome: Outcome, *, metric_outcome: str | None = None) -> None:
        self.outcome = outcome
        task_type = self.event.task_type.value
        metrics.TASKS.labels(task_type, metric_outcome or outcome).inc()
        if self._started is not None:
            metrics.TASK_DURATION.labels(task_type).observe(time.monotonic() - self._started)

    def _retry_delay(self, exc: Retry) -> float:
        if exc.delay is not None:
            return exc.delay
        return backoff_delay(
            self.event.attempt,
            base_s=self._settings.retry_base_s,
            max_s=self._settings.retry_max_s,
            rng=self._rng,
        )

    async def _succeed(self, result: BaseModel | dict[str, Any]) -> None:
        data = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
        await self._log.append(
            TaskSucceeded(
                task_id=self.event.task_id,
                task_type=self.event.task_type,
                attempt=self.event.attempt,
                result=data,
            ),
        )
        self.log.info("attempt succeeded")
        await self._msg.ack()
        self._finished("succeeded")

    async def _fail(
        self, error: str, *, retry_delay: float | None, reason: FailureReason = "error"
    ) -> None:
        event = self.event
        will_retry = retry_delay is not None and event.attempt < event.max_attempts
        failed = TaskFailed(
            task_id=event.task_id,
            task_type=event.task_type,
            attempt=event.attempt,
            error=error,
            reason=reason,
            will_retry=will_retry,
            retry_at=utcnow() + timedelta(seconds=retry_delay or 0) if will_retry else None,
        )
        await self._log.append(failed)
        self.log.warning("attempt failed", error=error, reason=reason, will_retry=will_retry)
        if will_retry:
            await self._schedule_retry(failed)
        await self._msg.ack()
        self._finished("failed", metric_outcome="retrying" if will_retry else "failed")

    async def _schedule_retry(self, failed: TaskFailed) -> None:
        event = self.event
        retried = TaskRetried(
            task_id=event.task_id,
            task_type=event.task_type,
            parameters=event.parameters,
            attempt=failed.attempt + 1,
            max_attempts=event.max_attempts,
            timeout_s=event.timeout_s,
            not_before=failed.retry_at,
        )
        await self._log.append(
            retried, msg_id=subjects.retry_msg_id(event.task_id, retried.attempt)
        )

    async def _heartbeat(self) -> None:
        """Keep JetStream from redelivering while the handler is alive."""
        interval = self._settings.ack_wait_s / 3
        while True:
            await asyncio.sleep(interval)
            await self._msg.in_progress()
