"""Running one delivered work message: one attempt of one task, start to ack."""

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

import structlog
from nats.aio.msg import Msg
from pydantic import BaseModel, ValidationError

from taskbus import metrics, subjects
from taskbus.connections import NATS_UNAVAILABLE
from taskbus.errors import Fail, Retry
from taskbus.eventlog import EventLog, LoggedEvent
from taskbus.events import (
    FailureReason,
    TaskFailed,
    TaskRetried,
    TaskStarted,
    TaskSubmitted,
    TaskSucceeded,
    encode_event,
    utcnow,
)
from taskbus.files import FileStore, derived_file_id
from taskbus.worker.claim import Claim, ClaimLost
from taskbus.worker.context import TaskContext
from taskbus.worker.recovery import Plan, backoff_delay, plan
from taskbus.worker.settings import WorkerSettings
from taskbus.worker.start import AttemptStart

log = structlog.get_logger(__name__)

WorkEvent = TaskSubmitted | TaskRetried
Handler = Callable[[TaskContext, Any], Awaitable[BaseModel | dict[str, Any]]]
Outcome = Literal["succeeded", "failed"]

ErrorKind = Literal["claim_lost", "timeout", "nats_unavailable", "retry", "fail", "error"]
"""What an error that ended a handler means for its attempt (see :func:`classify`)."""

_MAX_CHAIN = 32
_ERROR_MAX_CHARS = 4000
_HOLD_FIRST_S = 0.5
_HOLD_MAX_S = 5.0
_MAX_DECISIONS = 16
"""Decisions a delivery makes before it leaves the message to a redelivery: each one follows
another writer's event, and a task has only so many writers."""


def classify(exc: BaseException, *, deadline_expired: bool) -> ErrorKind:
    """What ``exc``, raised by a handler, makes of its attempt.

    A lost claim comes first: whatever else the handler meant, another writer owns the task
    now. ``Fail`` and ``Retry`` are the handler's own verdicts and stand whatever caused
    them. Only the task's own deadline (``deadline_expired``) is a timeout: NATS clients
    time out with the builtin ``TimeoutError`` too, and such a timeout, or any other error
    saying NATS is out of reach, even wrapped in another, is no fault of the task.
    """
    if _caused_by(exc, ClaimLost):
        return "claim_lost"
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
    """Whether ``exc``, or an error it chains to, says NATS or JetStream is out of reach."""
    return _caused_by(exc, NATS_UNAVAILABLE)


def _caused_by(
    exc: BaseException, kinds: type[BaseException] | tuple[type[BaseException], ...]
) -> bool:
    """Whether ``exc`` or an error it chains to is one of ``kinds``.

    The chain is the one a traceback shows: the explicit cause, else the error being
    handled when ``exc`` was raised unless ``raise ... from None`` hid it. A group (a
    ``TaskGroup`` in a handler) counts when every error in it does: any other among them is
    a fault of the handler.
    """
    for link in _chain(exc):
        if isinstance(link, BaseExceptionGroup):
            return all(_caused_by(inner, kinds) for inner in link.exceptions)
        if isinstance(link, kinds):
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
    """Owns one work message until it is acked, nak'ed or left to a newer delivery.

    What it does is decided from the task's history (:func:`~taskbus.worker.recovery.plan`)
    and written through a :class:`Claim`, so each event it appends is conditional on nobody
    else having written since. When someone has (a cancel, a newer delivery), or when NATS
    was out of reach, it decides again from the log; the message is never nak'ed for either,
    so neither spends one of the attempt's deliveries.
    """

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
        self._claim = Claim(eventlog, event.task_id)
        self._delivery = msg.metadata.num_delivered
        self._handler_task: asyncio.Task[BaseModel | dict[str, Any]] | None = None
        self._deadline: asyncio.Timeout | None = None
        self._stop_reason: Literal["cancelled", "claim_lost", "shutdown"] | None = None
        self.outcome: Outcome | None = None
        self._started: float | None = None
        self.log = log.bind(
            task_id=str(event.task_id),
            task_type=event.task_type,
            attempt=event.attempt,
            delivery=self._delivery,
        )

    @property
    def task_id(self) -> UUID:
        return self.event.task_id

    def cancel(self) -> None:
        """The user cancelled the task (its TaskCancelled is in the log): stop the handler."""
        self._stop("cancelled")

    def hand_back(self) -> None:
        """Shutdown ran out of grace: stop the handler and let another replica redeliver."""
        self._stop("shutdown")

    def _stop(self, reason: Literal["cancelled", "claim_lost", "shutdown"]) -> None:
        # Shutdown stays the reason once given: the message must go back, whatever else.
        if self._stop_reason != "shutdown":
            self._stop_reason = reason
        if self._handler_task is not None:
            self._handler_task.cancel()

    async def run(self) -> None:
        """Run the attempt to its end, deciding again whenever the log or NATS calls for it.

        Any call of the runtime's own (reading the log, TaskStarted, the events that end the
        attempt, acks) may meet a leader election or a restart. None of that is the task's
        fault: the attempt holds its message (the heartbeat keeps it from being redelivered)
        and decides again from the log once NATS answers, which neither repeats an end that
        did land nor loses a checkpoint.
        """
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            await self._decide_until_done()
        finally:
            heartbeat.cancel()

    async def _decide_until_done(self) -> None:
        hold = _HOLD_FIRST_S
        for _ in range(_MAX_DECISIONS):
            try:
                await self._decide_and_act()
                return
            except ClaimLost as exc:
                self.log.info(
                    "the task's log moved under this delivery; deciding again", seq=exc.last_seq
                )
            except Exception as exc:
                if not nats_unavailable(exc):
                    raise
                if self._stop_reason == "shutdown":
                    await self._nak_quietly(exc)
                    return
                self.log.warning(
                    "nats unavailable; attempt held, deciding again soon",
                    error=repr(exc),
                    retry_in_s=round(hold, 2),
                )
                await asyncio.sleep(hold)
                hold = min(hold * 2, _HOLD_MAX_S)
            if self._stop_reason == "shutdown":
                await self._nak_quietly(None)
                return
        self.log.warning("attempt kept being interrupted; leaving it to a redelivery")

    async def _nak_quietly(self, cause: BaseException | None) -> None:
        try:
            await self._msg.nak()
        except NATS_UNAVAILABLE as exc:
            self.log.warning(
                "could not hand the attempt back; it is redelivered once ack_wait has passed",
                error=repr(exc),
                cause=repr(cause),
            )

    async def _decide_and_act(self) -> None:
        event = self.event
        if isinstance(event, TaskRetried) and event.not_before is not None:
            wait = (event.not_before - utcnow()).total_seconds()
            if wait > 0.05:
                await self._msg.nak(delay=wait)
                return
        if self._stop_reason != "shutdown":
            # The log decides anew: a stop asked for before this decision is in it.
            self._stop_reason = None
        history = await self._history()
        decided = plan(
            history, event.attempt, known_seq=self._claim.seq, own_ids=self._claim.own_ids
        )
        self._claim.rebase(decided.last_seq)
        match decided.action:
            case "skip":
                self.log.info("skipping delivery", why=decided.why)
                await self._msg.ack()
            case "stand_down":
                # The message is the newer delivery's now: an ack or nak would be its.
                self.log.warning("standing down", why=decided.why)
            case "finish":
                await self._finish_recovered(decided)
            case "run":
                await self._start(decided)

    async def _history(self) -> list[LoggedEvent]:
        """The task's history, in one request when nothing follows the delivered submit."""
        position = await self._log.task_position(self.event.task_id)
        delivered = self._msg.metadata.sequence.stream
        if isinstance(self.event, TaskSubmitted) and position == delivered:
            # A task's history begins with its submit: with nothing after it, the history is
            # the message in hand, and reading it back would only repeat it.
            return [LoggedEvent(delivered, self.event)]
        return await self._log.history(self.event.task_id, at_least=position)

    async def _finish_recovered(self, decided: Plan) -> None:
        if decided.schedule_retry is not None:
            await self._schedule_retry(decided.schedule_retry)
        self.log.info("attempt already finished in the log; acking redelivery")
        await self._msg.ack()

    async def _start(self, decided: Plan) -> None:
        event = self.event
        if decided.starts >= self._settings.max_deliver:
            await self._give_up(decided.starts)
            return
        try:
            parameters = self._parameters_model.model_validate(event.parameters)
        except ValidationError as exc:
            await self._fail(f"invalid parameters: {exc}", retry_delay=None)
            return
        start = AttemptStart(
            self._claim,
            TaskStarted(
                task_id=event.task_id,
                task_type=event.task_type,
                attempt=event.attempt,
                worker_id=self._settings.worker_id,
            ),
            msg_id=subjects.started_msg_id(event.task_id, event.attempt, self._delivery),
        )
        if self._delivery > 1 or self._settings.start_event_after_s == 0:
            # A redelivery counts towards WORKER_MAX_DELIVER before its handler runs: the
            # delivery before it may have died inside the window (taskbus.worker.start).
            await start.write()
        await self._execute(parameters, decided.resume, start)

    async def _give_up(self, starts: int) -> None:
        """A message that kept killing or stalling workers ends its task FAILED, once."""
        self.log.error("attempt failed after max deliveries", starts=starts)
        await self._fail(
            f"gave up after {starts} deliveries: every worker that took this task "
            "died or stalled before finishing it",
            retry_delay=None,
            reason="max_deliver",
        )

    async def _execute(
        self, parameters: BaseModel, resume: dict[str, Any] | None, start: AttemptStart
    ) -> None:
        event = self.event
        ctx = TaskContext(
            self._log,
            self._claim,
            start,
            task_id=event.task_id,
            task_type=event.task_type,
            attempt=event.attempt,
            resume=resume,
            interval_s=self._settings.progress_interval_s,
            checkpoint_max_bytes=self._settings.checkpoint_max_bytes,
        )
        if self._stop_reason is not None:
            # Stopped while deciding: a cancel, say, in the log right after TaskStarted.
            raise ClaimLost(self._claim.seq or 0)
        self.log.debug("attempt started", resumed=resume is not None)
        self._started = time.monotonic()
        metrics.QUEUE_WAIT.labels(event.task_type).observe(
            max(0.0, (utcnow() - event.time).total_seconds())
        )
        self._handler_task = asyncio.create_task(self._call_handler(ctx, parameters))
        announcing = asyncio.create_task(self._announce_when_due(ctx)) if start.due else None
        try:
            await self._await_handler(start)
        finally:
            self._handler_task = None
            if announcing is not None:
                announcing.cancel()

    async def _announce_when_due(self, ctx: TaskContext) -> None:
        """Write the attempt's TaskStarted once it has run ``WORKER_START_EVENT_AFTER_S``."""
        await asyncio.sleep(self._settings.start_event_after_s)
        hold = _HOLD_FIRST_S
        while True:
            try:
                await ctx.announce_start()
                return
            except ClaimLost:
                self.log.info("the task's log moved before the attempt's start; stopping it")
                self._stop("claim_lost")
                return
            except Exception as exc:
                if not nats_unavailable(exc):
                    self.log.exception("could not write the attempt's start; stopping it")
                    self._stop("claim_lost")
                    return
                # The handler runs on meanwhile; its end, or this, lands once NATS answers.
                self.log.warning("nats unavailable; start not written yet", error=repr(exc))
                await asyncio.sleep(hold)
                hold = min(hold * 2, _HOLD_MAX_S)

    async def _call_handler(
        self, ctx: TaskContext, parameters: BaseModel
    ) -> BaseModel | dict[str, Any]:
        async with asyncio.timeout(self.event.timeout_s) as deadline:
            self._deadline = deadline
            return await self._handler(ctx, parameters)

    async def _await_handler(self, start: AttemptStart) -> None:
        assert self._handler_task is not None
        failure: Exception
        try:
            result = await self._handler_task
        except asyncio.CancelledError:
            if self._stop_reason is None:
                raise
            await start.settle()
            await self._after_stop()
            return
        except Exception as exc:
            failure = exc
        else:
            await self._succeed(result, started_at=await start.settle())
            return
        # Settled outside the except clause: an error of the publishes below would otherwise
        # chain to the handler's, and nats_unavailable would judge it by that.
        await self._settle_failure(failure, started_at=await start.settle())

    async def _settle_failure(self, exc: Exception, *, started_at: datetime | None) -> None:
        deadline_expired = self._deadline is not None and self._deadline.expired()
        match classify(exc, deadline_expired=deadline_expired):
            case "claim_lost" | "nats_unavailable":
                # Decided again from the log, by _decide_until_done.
                raise exc
            case "timeout":
                error = f"timed out after {self.event.timeout_s} s"
                await self._fail(error, retry_delay=None, reason="timeout", started_at=started_at)
            case "retry":
                assert isinstance(exc, Retry)
                delay = self._retry_delay(exc.delay)
                await self._fail(str(exc), retry_delay=delay, started_at=started_at)
            case "fail":
                await self._fail(str(exc), retry_delay=None, started_at=started_at)
            case "error":
                self.log.error("handler raised", exc_info=exc)
                error = f"{type(exc).__name__}: {exc}"
                await self._fail(error, retry_delay=self._retry_delay(), started_at=started_at)

    async def _after_stop(self) -> None:
        match self._stop_reason:
            case "shutdown":
                self.log.info("attempt handed back on shutdown")
                await self._msg.nak()
            case "cancelled":
                self.log.info("attempt stopped: task cancelled")
                await self._msg.ack()
                metrics.TASKS.labels(self.event.task_type, "cancelled").inc()
            case _:
                raise ClaimLost(self._claim.seq or 0)

    def _finished(self, outcome: Outcome, *, metric_outcome: str | None = None) -> None:
        self.outcome = outcome
        task_type = self.event.task_type
        metrics.TASKS.labels(task_type, metric_outcome or outcome).inc()
        if self._started is not None:
            metrics.TASK_DURATION.labels(task_type).observe(time.monotonic() - self._started)

    def _retry_delay(self, asked: float | None = None) -> float:
        if asked is not None:
            return asked
        return backoff_delay(
            self.event.attempt,
            base_s=self._settings.retry_base_s,
            max_s=self._settings.retry_max_s,
            rng=self._rng,
        )

    async def _succeed(
        self, result: BaseModel | dict[str, Any], *, started_at: datetime | None
    ) -> None:
        data = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
        succeeded = TaskSucceeded(
            task_id=self.event.task_id,
            task_type=self.event.task_type,
            attempt=self.event.attempt,
            result=data,
            started_at=started_at,
        )
        size = len(encode_event(succeeded))
        if size > self._settings.result_max_bytes:
            succeeded = succeeded.model_copy(update={"result": await self._store_result(data)})
        await self._claim.append(
            succeeded, msg_id=subjects.ended_msg_id(self.event.task_id, self.event.attempt)
        )
        self.log.debug("attempt succeeded")
        # Counted once the log has the end, as in _fail.
        self._finished("succeeded")
        await self._msg.ack()

    async def _store_result(self, result: dict[str, Any]) -> dict[str, Any]:
        """Keep a result too large to log as an artifact; the logged result points at it.

        Its id is the attempt's, so a repeat of this store replaces, never adds, a file.
        """
        files = FileStore(self._log.js, self._log.subjects.files_bucket)
        stored = await files.put(
            json.dumps(result).encode(),
            name="result.json",
            content_type="application/json",
            file_id=derived_file_id(self.event.task_id, f"result-{self.event.attempt}"),
        )
        self.log.info("result stored as an artifact", size=stored.size)
        return {"result_file": {"file_id": stored.file_id, "size": stored.size}}

    async def _fail(
        self,
        error: str,
        *,
        retry_delay: float | None,
        reason: FailureReason = "error",
        started_at: datetime | None = None,
    ) -> None:
        event = self.event
        will_retry = retry_delay is not None and event.attempt < event.max_attempts
        if len(error) > _ERROR_MAX_CHARS:
            error = f"{error[:_ERROR_MAX_CHARS]}… ({len(error) - _ERROR_MAX_CHARS} more characters)"
        failed = TaskFailed(
            task_id=event.task_id,
            task_type=event.task_type,
            attempt=event.attempt,
            error=error,
            reason=reason,
            will_retry=will_retry,
            retry_at=utcnow() + timedelta(seconds=retry_delay or 0) if will_retry else None,
            started_at=started_at,
        )
        await self._claim.append(failed, msg_id=subjects.ended_msg_id(event.task_id, event.attempt))
        self.log.warning("attempt failed", error=error, reason=reason, will_retry=will_retry)
        # Counted once the log has the end: what follows may still be lost to an election,
        # and a redelivery that finds this end in the log finishes it without counting.
        self._finished("failed", metric_outcome="retrying" if will_retry else "failed")
        if will_retry:
            await self._schedule_retry(failed)
        await self._msg.ack()

    async def _schedule_retry(self, failed: TaskFailed) -> None:
        """Append the retry a failure asked for, unless a cancel got in between."""
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
        await self._claim.append(
            retried, msg_id=subjects.retry_msg_id(event.task_id, retried.attempt)
        )

    async def _heartbeat(self) -> None:
        """Keep JetStream from redelivering while the attempt is alive; notice a lost claim.

        A cancel normally reaches a running handler within milliseconds (the worker watches
        the stream for them); this check is what stops it when that notice went missing, and
        what stops a delivery that stalled while a newer one took over.
        """
        interval = self._settings.ack_wait_s / 3
        while True:
            await asyncio.sleep(interval)
            try:
                await self._msg.in_progress()
                if self._handler_task is not None:
                    await self._claim.verify()
            except ClaimLost:
                self.log.info("the task's log moved under the running handler; stopping it")
                self._stop("claim_lost")
            except NATS_UNAVAILABLE as exc:
                # Keep beating: a beat missed in an election is made up by the next, whereas
                # stopping would let ack_wait pass and hand the work to a second replica
                # while this one still runs it.
                self.log.warning("heartbeat not sent", error=repr(exc))
