"""Events set aside: what does not decode, and what Postgres refuses to store.

The stream denies deletes, so such an event stays in the log for good; retrying it would stop
the read model for good. It is recorded instead (``quarantined_events``, with a bounded copy of
the message) and the projector moves past it (docs/design.md, "The projector").
"""

import json
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg
from taskbus.events import TaskEvent
from taskbus.subjects import task_id_of

RAW_PREFIX_BYTES = 64 * 1024
_ERROR_CHARS = 2000
_TYPE_CHARS = 100

# SQLSTATE classes in which Postgres refuses the data itself, so that asking again is
# refused again: data exceptions (22: invalid JSON such as NaN, out of range; asyncpg reports
# what it cannot encode as 22000 too), integrity violations (23), program limits (54: a row
# too large). Anything else (a lost connection, a full disk, a lock timeout) is not the event's
# fault and is retried.
_REFUSALS = frozenset({"22", "23", "54"})


def refused(exc: asyncpg.PostgresError) -> bool:
    """Whether Postgres (or asyncpg encoding for it) rejected the data being written."""
    return str(exc.sqlstate or "")[:2] in _REFUSALS


@dataclass(frozen=True, slots=True)
class Quarantined:
    seq: int
    subject: str
    event_type: str | None
    task_id: UUID | None
    error: str
    raw: bytes
    """The message's first :data:`RAW_PREFIX_BYTES` bytes."""
    raw_size: int
    time: datetime
    """When the log stored the message."""


def undecodable(seq: int, subject: str, data: bytes, time: datetime, error: str) -> Quarantined:
    """A message that is no event this version knows: named from its subject and what parses."""
    return Quarantined(
        seq=seq,
        subject=subject,
        event_type=_claimed_type(data),
        task_id=subject_task_id(subject),
        error=error[:_ERROR_CHARS],
        raw=data[:RAW_PREFIX_BYTES],
        raw_size=len(data),
        time=time,
    )


def unstorable(
    seq: int, subject: str, event: TaskEvent, raw: str, refusal: asyncpg.PostgresError
) -> Quarantined:
    """A decoded event that Postgres refused, alone in its transaction."""
    data = raw.encode()
    return Quarantined(
        seq=seq,
        subject=subject,
        event_type=event.type,
        task_id=event.task_id,
        error=f"{type(refusal).__name__}: {refusal}"[:_ERROR_CHARS],
        raw=data[:RAW_PREFIX_BYTES],
        raw_size=len(data),
        time=event.time,
    )


def _claimed_type(data: bytes) -> str | None:
    try:
        parsed = json.loads(data)
    except ValueError:
        return None
    claimed = parsed.get("type") if isinstance(parsed, dict) else None
    return claimed[:_TYPE_CHARS] if isinstance(claimed, str) else None


def subject_task_id(subject: str) -> UUID | None:
    """The task id a subject names, or None for one that names none (a forged message's)."""
    try:
        return task_id_of(subject)
    except (ValueError, IndexError):
        return None
