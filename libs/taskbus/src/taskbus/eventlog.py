"""The task event log: the JetStream stream, publishing to it and reading one task's history."""

from dataclasses import dataclass
from uuid import UUID

import structlog
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from taskbus import subjects
from taskbus.events import TaskEvent, decode_event, encode_event
from taskbus.settings import CommonSettings

log = structlog.get_logger(__name__)


def stream_config(settings: CommonSettings) -> StreamConfig:
    """The log is the source of truth: file storage, nothing ages out."""
    return StreamConfig(
        name=subjects.STREAM,
        description="taskbus task events (the source of truth)",
        subjects=[subjects.ALL_EVENTS],
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
        await js.stream_info(subjects.STREAM)
    except NotFoundError:
        await js.add_stream(config)
        log.info("stream created", stream=subjects.STREAM)
    else:
        await js.update_stream(config)


async def publish_event(
    js: JetStreamContext, event: TaskEvent, *, msg_id: str | None = None
) -> int:
    """Append ``event`` to the log and return its sequence once JetStream has stored it.

    ``msg_id`` makes the append idempotent within the stream's duplicate window.
    """
    headers = {"Nats-Msg-Id": msg_id} if msg_id else None
    subject = subjects.event_subject(event.type, event.task_type, event.task_id)
    ack = await js.publish(subject, encode_event(event), stream=subjects.STREAM, headers=headers)
    return ack.seq


async def last_seq_on(js: JetStreamContext, subject: str) -> int | None:
    """The sequence of the last event stored on ``subject``, or None when there is none."""
    try:
        msg = await js.get_last_msg(subjects.STREAM, subject, direct=True)
    except NotFoundError:
        return None
    return msg.seq


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    seq: int
    event: TaskEvent


async def read_history(js: JetStreamContext, task_id: UUID) -> list[LoggedEvent]:
    """Every event of one task, in log order (an ordered, ephemeral consumer)."""
    sub = await js.subscribe(subjects.task_history_subject(task_id), ordered_consumer=True)
    history: list[LoggedEvent] = []
    try:
        while True:
            msg = await sub.next_msg(timeout=5)
            history.append(LoggedEvent(msg.metadata.sequence.stream, decode_event(msg.data)))
            if msg.metadata.num_pending == 0:
                return history
    finally:
        await sub.unsubscribe()
