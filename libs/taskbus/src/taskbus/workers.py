"""Live workers: each announces itself in a JetStream key-value bucket whose entries expire.

A worker that stops heartbeating (crashed, partitioned) disappears from the bucket by
itself after ``TTL_S``; a worker that shuts down cleanly removes its entry at once.
"""

import re
from datetime import datetime
from uuid import UUID

import structlog
from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError, KeyNotFoundError
from nats.js.kv import KeyValue
from pydantic import BaseModel, ConfigDict, ValidationError

from taskbus.subjects import Subjects
from taskbus.tasks import TaskTypeName

log = structlog.get_logger(__name__)

HEARTBEAT_S = 5.0
TTL_S = 3 * HEARTBEAT_S
_KEY_UNSAFE = re.compile(r"[^-/_=.a-zA-Z0-9]")


class WorkerStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    worker_id: str
    task_type: TaskTypeName
    current_tasks: list[UUID]
    processed: int
    failed: int
    started_at: datetime
    last_heartbeat: datetime

    @property
    def key(self) -> str:
        # One process may serve several types of an app, each with its own entry.
        return _KEY_UNSAFE.sub("_", f"{self.task_type}.{self.worker_id}")


async def workers_bucket(js: JetStreamContext, subjects: Subjects, *, replicas: int) -> KeyValue:
    try:
        return await js.key_value(subjects.workers_bucket)
    except BucketNotFoundError:
        return await js.create_key_value(
            bucket=subjects.workers_bucket, ttl=TTL_S, history=1, replicas=replicas
        )


async def live_workers(
    js: JetStreamContext, subjects: Subjects, *, replicas: int
) -> list[WorkerStatus]:
    """Every worker that heartbeated within the last ``TTL_S`` seconds.

    The keys come from the bucket's stream (its subjects), not from ``KeyValue.keys()``,
    which watches the bucket and on a busy server could take the watch's end for the end of
    the entries before any arrived: no worker listed while three were heartbeating.
    """
    kv = await workers_bucket(js, subjects, replicas=replicas)
    prefix = f"$KV.{subjects.workers_bucket}."
    info = await js.stream_info(f"KV_{subjects.workers_bucket}", subjects_filter=f"{prefix}>")
    statuses: list[WorkerStatus] = []
    for subject in info.state.subjects or {}:
        key = subject.removeprefix(prefix)
        try:
            entry = await kv.get(key)
            if entry.value:
                statuses.append(WorkerStatus.model_validate_json(entry.value))
        except KeyNotFoundError:
            continue  # expired, or removed by a worker that stopped (a tombstone)
        except ValidationError as exc:
            log.warning("ignoring malformed worker heartbeat", key=key, error=str(exc))
    return sorted(statuses, key=lambda s: (s.task_type, s.worker_id))
