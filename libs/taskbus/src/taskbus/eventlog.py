"""The task event log: the JetStream stream, appending to it and reading one task's history.

Appends survive a leader election: each carries a message id, and a publish that NATS could
not answer is sent again with the same id for a bounded time, so it lands once. Appends
that decide from a task's state are conditional on the task's last sequence (JetStream's
expected-last-subject-sequence over every subject of the task), which makes a decision and
its event one atomic step (docs/design.md, "Consistency").
"""

import asyncio
import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import structlog
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.js import JetStreamContext
from nats.js.api import PubAck, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, NotFoundError

from taskbus.connections import NATS_UNAVAILABLE
from taskbus.events import TaskEvent, decode_event, encode_event
from taskbus.settings import CommonSettings
from taskbus.subjects import Subjects
from taskbus.tracing import trace_headers

log = structlog.get_logger(__name__)

# JetStream's error code for a failed expected-last-subject-sequence check.
_WRONG_LAST_SEQUENCE = 10071
_WRONG_LAST_SEQUENCE_TEXT = re.compile(r"wrong last sequence: (\d+)")
_HISTORY_BATCH = 1000
_REQUEST_TIMEOUT_S = 5.0
_RETRY_FIRST_S = 0.05
_RETRY_MAX_S = 1.0
APPEND_BUDGET_S = 15.0
"""How long an append keeps trying through a NATS outage (a leader election takes seconds)."""


def stream_config(settings: CommonSettings) -> StreamConfig:
    """The log is the source of truth: file storage, nothing ages out."""
    return StreamConfig(
        name=settings.subjects.stream,
        description="taskbus task events (the source of truth)",
        subjects=[settings.subjects.all_events],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=0,
        num_replicas=settings.stream_replicas,
        duplicate_window=settings.duplicate_window_s,
        allow_direct=True,
        deny_delete=True,
        deny_purge=True,
    )


async def ensure_stream(js: JetStreamContext, settings: CommonSettings) -> None:
    """Create the stream, or bring an existing one to the configured shape.

    A stream already in shape is left alone, with no update asked for: under least privilege
    only the admin may create or update it (docs/design.md, "Threat model"), and the services
    that call this at start then need only to read its configuration.
    """
    config = stream_config(settings)
    try:
        info = await js.stream_info(settings.subjects.stream)
    except NotFoundError:
        await js.add_stream(config)
        log.info("stream created", stream=config.name)
        return
    if _shape(info.config) != _shape(config):
        await js.update_stream(config)


def _shape(config: StreamConfig) -> tuple[object, ...]:
    """The settings :func:`stream_config` chooses, as the server reports them back."""
    return (
        sorted(config.subjects or []),
        config.retention,
        config.storage,
        config.max_age or 0,
        config.num_replicas or 1,
        config.duplicate_window,
        bool(config.allow_direct),
        bool(config.deny_delete),
        bool(config.deny_purge),
        config.description,
    )


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    seq: int
    event: TaskEvent
    msg_id: str | None = None


class LogMoved(Exception):
    """A conditional append found the task's log past the sequence its decision was based on."""

    def __init__(self, last_seq: int) -> None:
        super().__init__(f"the task's last event is now at sequence {last_seq}")
        self.last_seq = last_seq


class EventLog:
    """Appends to and reads from the stream of one taskbus namespace."""

    def __init__(
        self, js: JetStreamContext, subjects: Subjects, *, append_budget_s: float = APPEND_BUDGET_S
    ) -> None:
        self.js = js
        self.subjects = subjects
        self._append_budget_s = append_budget_s

    async def append(
        self, event: TaskEvent, *, msg_id: str | None = None, expect_last: int | None = None
    ) -> PubAck:
        """Append ``event``; returns once JetStream has stored it, with its sequence.

        ``msg_id`` makes the append idempotent within the stream's duplicate window (a repeat
        is acked as ``duplicate`` with the first sequence); without one, a fresh id still makes
        this call's own retries land once. ``expect_last`` stores the event only if the task's
        last event is at that sequence (0: the task has none), else raises :class:`LogMoved`.
        """
        msg_id = msg_id or uuid.uuid4().hex
        headers = {**trace_headers(), "Nats-Msg-Id": msg_id}
        if expect_last is not None:
            headers["Nats-Expected-Last-Subject-Sequence"] = str(expect_last)
            headers["Nats-Expected-Last-Subject-Sequence-Subject"] = self.subjects.history(
                event.task_id
            )
        subject = self.subjects.event(event.type, event.task_type, event.task_id)
        payload = encode_event(event)
        deadline = time.monotonic() + self._append_budget_s
        delay = _RETRY_FIRST_S
        retried = False
        while True:
            try:
                return await self.js.publish(
                    subject, payload, stream=self.subjects.stream, headers=headers
                )
            except APIError as exc:
                moved = _moved_to(exc)
                if moved is None:
                    raise
                # A retry after a lost ack meets its own first copy as "the log moved".
                if retried and (landed := await self._find(event.task_id, msg_id, expect_last)):
                    return landed
                raise LogMoved(moved) from None
            except NATS_UNAVAILABLE as exc:
                if time.monotonic() + delay > deadline:
                    raise
                log.warning("append not answered; retrying", error=repr(exc), msg_id=msg_id)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX_S)
                retried = True

    async def _find(self, task_id: UUID, msg_id: str, after: int | None) -> PubAck | None:
        for logged in await self.history(task_id, after=after or 0):
            if logged.msg_id == msg_id:
                return PubAck(stream=self.subjects.stream, seq=logged.seq, duplicate=True)
        return None

    async def tail(self) -> int:
        """The sequence of the last event in the log, as its leader knows it (0 when empty)."""
        info = await self.js.stream_info(self.subjects.stream)
        return int(info.state.last_seq)

    async def last_seq_on(self, subject: str) -> int:
        """The sequence of the last event on ``subject`` (wildcards allowed), 0 when none.

        Asked of the stream's leader, not of any replica, so it includes every acknowledged
        append.
        """
        # JetStream's own request, not nats-py's get_last_msg, which decodes the message and
        # parses its headers with the email package: a twentieth of a small task's CPU in
        # the worker, for a sequence number.
        nc = self.js._nc  # as in _direct_batch: no public accessor
        reply = await nc.request(
            f"$JS.API.STREAM.MSG.GET.{self.subjects.stream}",
            json.dumps({"last_by_subj": subject}).encode(),
            timeout=_REQUEST_TIMEOUT_S,
        )
        answer = json.loads(reply.data)
        error = answer.get("error")
        if error is None:
            return int(answer["message"]["seq"])
        if error.get("code") == 404:  # nothing on the subject yet
            return 0
        raise _api_error(error)

    async def task_position(self, task_id: UUID) -> int:
        """The sequence of the task's last event (0: the log has none)."""
        return await self.last_seq_on(self.subjects.history(task_id))

    async def history(
        self, task_id: UUID, *, after: int = 0, at_least: int | None = None
    ) -> list[LoggedEvent]:
        """The task's events after sequence ``after``, in log order, up to the newest.

        Read from any replica (direct get), so the answer must reach ``at_least``, a sequence
        known to be stored (a replica that has not caught up yet is asked again); without it,
        the leader is asked for the task's position first.
        """
        if at_least is None:
            at_least = await self.task_position(task_id)
        delay = _RETRY_FIRST_S
        deadline = time.monotonic() + self._append_budget_s
        while True:
            events = await self._read_history(task_id, after)
            last = events[-1].seq if events else after
            if last >= at_least:
                return events
            if time.monotonic() + delay > deadline:
                raise NoRespondersError
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX_S)

    async def _read_history(self, task_id: UUID, after: int) -> list[LoggedEvent]:
        events: list[LoggedEvent] = []
        subject = self.subjects.history(task_id)
        while True:
            batch, more = await self._direct_batch(subject, after + 1)
            events.extend(batch)
            if not more or not batch:
                return events
            after = batch[-1].seq

    async def _direct_batch(self, subject: str, start: int) -> tuple[list[LoggedEvent], bool]:
        """One batched direct get: up to ``_HISTORY_BATCH`` messages on ``subject`` from ``start``.

        nats-py has no batched direct get; the request is JetStream's own (ADR-31): the
        replies are the messages, then an end-of-batch status with the number still pending.
        """
        # nats-py offers no public accessor for the connection behind a JetStream context.
        nc = self.js._nc
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox)
        request = {"seq": start, "next_by_subj": subject, "batch": _HISTORY_BATCH}
        try:
            await nc.publish(
                f"$JS.API.DIRECT.GET.{self.subjects.stream}",
                json.dumps(request).encode(),
                reply=inbox,
            )
            events: list[LoggedEvent] = []
            while True:
                msg = await sub.next_msg(timeout=_REQUEST_TIMEOUT_S)
                status = (msg.headers or {}).get("Status")
                if status is None:
                    events.append(_logged(msg))
                elif status == "204":
                    pending = int((msg.headers or {}).get("Nats-Num-Pending", "0"))
                    return events, pending > 0
                elif status == "404":
                    return events, False
                else:
                    raise NoRespondersError
        finally:
            await sub.unsubscribe()

    async def event_at(self, seq: int) -> TaskEvent:
        raw = await self.js.get_msg(self.subjects.stream, seq)
        if raw.data is None:
            raise NotFoundError
        return decode_event(raw.data)

    async def append_many(
        self, appends: list[tuple[TaskEvent, str | None, int | None]]
    ) -> list[PubAck | LogMoved | Exception]:
        """Append each ``(event, msg_id, expect_last)`` as :meth:`append` does, with every
        publish in flight at once and their acks awaited together.

        One outcome per append, in order: its ack, :class:`LogMoved`, or the error that
        stopped it (JetStream refusing it, or NATS out of reach past the retry budget, in
        which case the event may or may not be stored, as when :meth:`append` raises). The
        publishes left unanswered are sent again together with their own ids until the
        budget is spent, so each lands once.
        """
        sends: list[tuple[str, bytes, dict[str, str]]] = []
        trace = trace_headers()  # one context for the whole call
        for event, msg_id, expect_last in appends:
            headers = {
                **trace,
                "Nats-Msg-Id": msg_id or uuid.uuid4().hex,
                "Nats-Expected-Stream": self.subjects.stream,
            }
            if expect_last is not None:
                headers["Nats-Expected-Last-Subject-Sequence"] = str(expect_last)
                headers["Nats-Expected-Last-Subject-Sequence-Subject"] = self.subjects.history(
                    event.task_id
                )
            subject = self.subjects.event(event.type, event.task_type, event.task_id)
            sends.append((subject, encode_event(event), headers))
        outcomes: dict[int, PubAck | LogMoved | Exception] = {}
        waiting = list(range(len(sends)))
        deadline = time.monotonic() + self._append_budget_s
        delay = _RETRY_FIRST_S
        resent = False
        while True:
            moved = await self._publish_round(sends, waiting, outcomes)
            if moved:
                await self._settle_moved(appends, sends, moved, outcomes, resent=resent)
            waiting = [i for i in waiting if isinstance(outcomes[i], NATS_UNAVAILABLE)]
            if not waiting or time.monotonic() + delay > deadline:
                return [outcomes[i] for i in range(len(sends))]
            log.warning("appends not answered; retrying", count=len(waiting))
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX_S)
            resent = True

    async def _publish_round(
        self,
        sends: list[tuple[str, bytes, dict[str, str]]],
        waiting: list[int],
        outcomes: dict[int, PubAck | LogMoved | Exception],
    ) -> list[tuple[int, int]]:
        """Publish ``waiting`` and await their acks together; record each outcome (NATS
        errors for the unanswered) and return the appends whose task's log moved, with the
        task's last sequence.

        The acks come to an inbox of this round's own rather than through nats-py's
        ``publish_async``, whose futures never resolve when JetStream answers with an error
        (its reply handler raises instead), such as a failed expected-sequence check.
        """
        nc = self.js._nc  # as in _direct_batch: no public accessor
        inbox = nc.new_inbox()
        loop = asyncio.get_running_loop()
        replies: dict[int, asyncio.Future[Msg]] = {i: loop.create_future() for i in waiting}

        async def on_reply(msg: Msg) -> None:
            reply = replies.get(int(msg.subject.rpartition(".")[2]))
            if reply is not None and not reply.done():
                reply.set_result(msg)

        sub = await nc.subscribe(f"{inbox}.*", cb=on_reply)
        try:
            for i in waiting:
                subject, payload, headers = sends[i]
                try:
                    await nc.publish(subject, payload, reply=f"{inbox}.{i}", headers=headers)
                except NATS_UNAVAILABLE as exc:
                    outcomes[i] = exc
                    del replies[i]
            if replies:
                await asyncio.wait(replies.values(), timeout=_REQUEST_TIMEOUT_S)
        finally:
            await sub.unsubscribe()
        moved: list[tuple[int, int]] = []
        for i, reply in replies.items():
            outcome = _ack_of(reply.result()) if reply.done() else TimeoutError()
            if isinstance(outcome, APIError) and (last := _moved_to(outcome)) is not None:
                moved.append((i, last))
            else:
                outcomes[i] = outcome
        return moved

    async def _settle_moved(
        self,
        appends: list[tuple[TaskEvent, str | None, int | None]],
        sends: list[tuple[str, bytes, dict[str, str]]],
        moved: list[tuple[int, int]],
        outcomes: dict[int, PubAck | LogMoved | Exception],
        *,
        resent: bool,
    ) -> None:
        """As in :meth:`append`: a resent append meets its own first copy as "the log moved"."""
        landed: list[PubAck | None] = [None] * len(moved)
        if resent:
            landed = await asyncio.gather(
                *(
                    self._find(appends[i][0].task_id, sends[i][2]["Nats-Msg-Id"], appends[i][2])
                    for i, _ in moved
                )
            )
        for (i, last), ack in zip(moved, landed, strict=True):
            outcomes[i] = ack if ack is not None else LogMoved(last)


def _logged(msg: Msg) -> LoggedEvent:
    headers = msg.headers or {}
    return LoggedEvent(
        seq=int(headers["Nats-Sequence"]),
        event=decode_event(msg.data),
        msg_id=headers.get("Nats-Msg-Id"),
    )


def _moved_to(exc: APIError) -> int | None:
    """The task's actual last sequence, when ``exc`` is a failed expected-sequence check."""
    if exc.err_code != _WRONG_LAST_SEQUENCE:
        return None
    found = _WRONG_LAST_SEQUENCE_TEXT.search(exc.description or "")
    return int(found.group(1)) if found else 0


def _ack_of(reply: Msg) -> PubAck | Exception:
    """A JetStream publish's reply: its ack, or the error it answers with."""
    if (reply.headers or {}).get("Status") == "503":
        return NoRespondersError()  # the stream has no leader right now (an election)
    answer = json.loads(reply.data)
    if "error" not in answer:
        # Not PubAck.from_response, which walks the dataclass's fields per ack: a tenth of
        # the API's CPU for a batch of submits.
        return PubAck(stream=answer["stream"], seq=answer["seq"], duplicate=answer.get("duplicate"))
    return _api_error(answer["error"])


def _api_error(error: dict[str, Any]) -> APIError:
    """JetStream's error answer as nats-py's exception of its class (503: unavailable)."""
    try:
        APIError.from_error(error)  # raises, never returns
    except APIError as exc:
        return exc
    raise AssertionError(f"not an error answer: {error}")
