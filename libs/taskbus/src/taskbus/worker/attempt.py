"""Running one delivered work message: one attempt of one task, start to ack."""

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any, Literal

import structlog
from nats.aio.msg import Msg
from pydantic import BaseModel, ValidationError

from taskbus import metrics, subjects
from taskbus.connections import NATS_UNAVAILABLE
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
from taskbus.worker.recovery import Recovery, backoff_delay, hand_back_delay, recover
from taskbus.worker.settings import WorkerSettings

log = structlog.get_logger(__name__)

WorkEvent = TaskSubmitted | TaskRetried
Handler = Callable[[TaskContext, Any], Awaitable[BaseModel | dict[str, Any]]]
Outcome = Literal["succeeded", "failed"]

ErrorKind = Literal["timeout", "nats_unavailable", "retry", "fail", "error"]
"""What an error that ended a handler means for its attempt (see :func:`classify`)."""

_MAX_CHAIN = 32


def classify(exc: BaseException, *, deadline_expired: bool) -> ErrorKind:
    """What ``exc``, raised by a handler, makes of its attempt.

    ``Fail`` and ``Retry`` are the handler's own verdicts and stand whatever caused them.
    Only the task's own deadline (``deadline_expired``) is a timeout: NATS clients time out
    with the builtin ``TimeoutError`` too, and such a timeout, or any other error saying
    NATS is out of reach, even wrapped in another, is no fault of the task.
    """
    if isinstance(exc, Retry):
        return "retry"
    if isinstance(exc, Fail):
        return "fail"
    if deadline_expired:
        # The deadline cancelled the handler: whatever it raised on the way out follows from it.
        return "timeout"
    if nats_unavailable(exc):
        return "nats_unavailable"
    return "error"


def nats_unavailable(exc: BaseException) -> bool:
    """Whether ``exc``, or an error it chains to, says NATS or JetStream is out of reach.

    The chain is the one a traceback shows: the explicit cause, else the error being
    handled when ``exc`` was raised unless ``raise ... from None`` hid it. A group (a
    ``TaskGroup`` in a handler) counts when every error in it does: any other among them is
    a fault of the handler.
    """
    for link in _chain(exc):
        if isinstance(link, BaseExceptionGroup):
            return all(nats_unavailable(inner) for inner in link.exceptions)
        if isinstance(link, NATS_UNAVAILABLE):
            return True
    return False


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    link: BaseException | None = exc
    # Bounded and cycle-safe: handler code can build chains of any shape.
    while link is not None and id(link) not in seen and len(seen) < _MAX_CHAIN:
        seen.add(id(link))
        yield link
        link = link.__cause__ or (None if link.__suppress_context__ else link.__context__)


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
        self._deadline: asyncio.Timeout | None = None
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
        """Run the attempt to its end; with NATS out of reach, hand the message back instead.

        Any call of the runtime's own (reading the log, TaskStarted, the events that end the
        attempt, acks) may meet a leader election or a restart. None of that is the task's
        fault, so it is not failed: the message goes back to the stream and its redelivery
        is this same attempt again, which reads the log first (``recover``) and so neither
        repeats an end that did land nor loses a checkpoint.
        """
        try:
            await self._run()
        except Exception as exc:
            if not nats_unavailable(exc):
                raise
            await self._hand_back_unavailable(exc)

    async def _run(self) -> None:
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
        return cancelled_seq > self._msg.metadata.sequence.stream

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
        async with asyncio.timeout(self.event.timeout_s) as deadline:
            self._deadline = deadline
            return await self._handler(ctx, parameters)

    async def _await_handler(self) -> None:
        assert self._handler_task is not None
        failure: Exception
        try:
            result = await self._handler_task
        except asyncio.CancelledError:
            if not (self._cancelled_by_user or self._handed_back):
                raise
            await self._after_stop()
            return
        except Exception as exc:
            failure = exc
        else:
            await self._succeed(result)
            return
        # Settled outside the except clause: an error of the publishes below would otherwise
        # chain to the handler's, and nats_unavailable (in run) would judge it by that.
        await self._settle_failure(failure)

    async def _settle_failure(self, exc: Exception) -> None:
        deadline_expired = self._deadline is not None and self._deadline.expired()
        match classify(exc, deadline_expired=deadline_expired):
            case "nats_unavailable":
                await self._hand_back_unavailable(exc)
            case "timeout":
                error = f"timed out after {self.event.timeout_s} s"
                await self._fail(error, retry_delay=None, reason="timeout")
            case "retry":
                assert isinstance(exc, Retry)
                await self._fail(str(exc), retry_delay=self._retry_delay(exc))
            case "fail":
                await self._fail(str(exc), retry_delay=None)
            case "error":
                self.log.error("handler raised", exc_info=exc)
                await self._fail(f"{type(exc).__name__}: {exc}", retry_delay=None)

    async def _hand_back_unavailable(self, exc: BaseException) -> None:
        """Give the message back to JetStream for a redelivery soon, to this or another replica.

        Nothing goes to the log (which is what is out of reach), and the attempt number
        stays: the redelivery is this attempt again, not a retry.
        """
        num_delivered = self._msg.metadata.num_delivered
        delay = hand_back_delay(num_delivered, rng=self._rng)
        self.log.warning(
            "nats unavailable; attempt handed back for redelivery",
            error=repr(exc),
            delivery=num_delivered,
            redelivery_in_s=round(delay, 2),
        )
        try:
            await self._msg.nak(delay=delay)
        except NATS_UNAVAILABLE as nak_exc:
            self.log.warning(
                "could not hand the attempt back; it is redelivered once ack_wait has passed",
                error=repr(nak_exc),
                ack_wait_s=self._settings.ack_wait_s,
            )

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
        # Counted once the log has the end, as in _fail.
        self._finished("succeeded")
        await self._msg.ack()

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
        # Counted once the log has the end: what follows may still be lost to an election,
        # and a redelivery that finds this end in the log finishes it without counting.
        self._finished("failed", metric_outcome="retrying" if will_retry else "failed")
        if will_retry:
            await self._schedule_retry(failed)
        await self._msg.ack()

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
            try:
                await self._msg.in_progress()
            except NATS_UNAVAILABLE as exc:
                # Keep beating: a beat missed in an election is made up by the next, whereas
                # stopping would let ack_wait pass and hand the work to a second replica
                # while this one still runs it.
                self.log.warning("heartbeat not sent", error=repr(exc))
