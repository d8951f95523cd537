"""The task event log: the JetStream stream, appending to it and reading one task's history."""

from dataclasses import dataclass
from uuid import UUID

import structlog
from nats.js import JetStreamContext
from nats.js.api import PubAck, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from taskbus.events import TaskEvent, decode_event, encode_event
from taskbus.settings import CommonSettings
from taskbus.subjects import Subjects
from taskbus.tracing import trace_headers

log = structlog.get_logger(__name__)


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
    """Create the stream, or bring an existing one to the configured shape."""
    config = stream_config(settings)
    try:
        await js.stream_info(settings.subjects.stream)
    except NotFoundError:
        await js.add_stream(config)
        log.info("stream created", stream=config.name)
    else:
        await js.update_stream(config)


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    seq: int
    event: TaskEvent


class EventLog:
    """Appends to and reads from the stream of one taskbus namespace."""

    def __init__(self, js: JetStreamContext, subjects: Subjects) -> None:
        self.js = js
        self.subjects = subjects

    async def append(self, event: TaskEvent, *, msg_id: str | None = None) -> PubAck:
        """Append ``event``; returns once JetStream has stored it, with its sequence.

        ``msg_id`` makes the append idempotent within the stream's duplicate window: a
        repeat is not stored again and its ack says ``duplicate`` with the first sequence.
        """
        headers = trace_headers()
        if msg_id:
            headers["Nats-Msg-Id"] = msg_id
        subject = self.subjects.event(event.type, event.task_type, event.task_id)
        ack = await self.js.publish(
            subject, encode_event(event), stream=self.subjects.stream, headers=headers or None
        )
        return ack

    async def last_seq_on(self, subject: str) -> int | None:
        """The sequence of the last event stored on ``subject``, or None when there is none."""
        try:
            msg = await self.js.get_last_msg(self.subjects.stream, subject, direct=True)
        except NotFoundError:
            return None
        return msg.seq

    async def event_at(self, seq: int) -> TaskEvent:
        raw = await self.js.get_msg(self.subjects.stream, seq)
        if raw.data is None:
            raise NotFoundError
        return decode_event(raw.data)

    async def history(self, task_id: UUID) -> list[LoggedEvent]:
        """Every event of one task, in log order (an ordered, ephemeral consumer)."""
        sub = await self.js.subscribe(self.subjects.history(task_id), ordered_consumer=True)
        events: list[LoggedEvent] = []
        try:
            while True:
                msg = await sub.next_msg(timeout=5)
                events.append(LoggedEvent(msg.metadata.sequence.stream, decode_event(msg.data)))
                if msg.metadata.num_pending == 0:
                    return events
        finally:
            await sub.unsubscribe()
