"""Small tasks' lives as a busy system logs them, and a stream filled with them.

Shared by the fold-rate and catch-up benchmarks, which fold the same kind of log at
different sizes: each task is submitted, started, reports progress and succeeds, and each
stage trails the one before by ``lag`` tasks, so a task's events land in different fetched
batches and the projector must load the states it folded before back from Postgres.
"""

import asyncio
import uuid
from collections import deque
from collections.abc import Callable, Iterator

from nats.js.api import PubAck
from taskbus.connections import connect_nats
from taskbus.eventlog import ensure_stream
from taskbus.events import (
    TaskEvent,
    TaskProgress,
    TaskStarted,
    TaskSubmitted,
    TaskSucceeded,
    encode_event,
)
from taskbus.settings import CommonSettings

EVENTS_PER_TASK = 4
# nats-py's own bound on publishes awaiting their ack (publish_async_max_pending).
DEFAULT_IN_FLIGHT = 4000
# What a csv task of ten rows reports, so succeeded events weigh what real ones do.
CSV_RESULT = {
    "rows": 10,
    "columns": {
        name: {"kind": "numeric", "count": 10, "nulls": 0, "sum": 512.5, "mean": 51.25,
               "min": 3.5, "max": 97.0, "std": 29.81}
        for name in ("id", "amount", "quantity", "score")
    }
    | {"city": {"kind": "text", "count": 10, "nulls": 0, "distinct": 6, "distinct_exact": True,
                "top": [{"value": "Lyon", "count": 3}, {"value": "Porto", "count": 2}]}},
}  # fmt: skip

Stage = Callable[[uuid.UUID], TaskEvent]


def _stages() -> tuple[Stage, ...]:
    csv = "csv_processing"
    return (
        lambda t: TaskSubmitted(
            task_id=t, task_type=csv, parameters={"num_rows": 10}, attempt=1, max_attempts=3
        ),
        lambda t: TaskStarted(task_id=t, task_type=csv, attempt=1, worker_id="bench-worker-1"),
        lambda t: TaskProgress(
            task_id=t, task_type=csv, attempt=1, progress=100, message="10 rows"
        ),
        lambda t: TaskSucceeded(task_id=t, task_type=csv, attempt=1, result=CSV_RESULT),
    )


def interleaved_lives(tasks: int, lag: int) -> Iterator[TaskEvent]:
    """Every task's four events; stage ``k`` of task ``i`` comes at step ``i + k * lag``."""
    ids = [uuid.uuid4() for _ in range(tasks)]
    stages = _stages()
    for step in range(tasks + lag * (len(stages) - 1)):
        for k, make in enumerate(stages):
            i = step - k * lag
            if 0 <= i < tasks:
                yield make(ids[i])


def encoded_size(event: TaskEvent, settings: CommonSettings) -> int:
    """Bytes of subject and payload one event puts in the stream (headers and framing aside)."""
    subject = settings.subjects.event(event.type, event.task_type, event.task_id)
    return len(subject) + len(encode_event(event))


async def fill_log(
    nats_url: str,
    namespace: str,
    events: Iterator[TaskEvent],
    in_flight: int = DEFAULT_IN_FLIGHT,
) -> int:
    """Append ``events`` to the namespace's stream, ``in_flight`` unacknowledged at most;
    returns the last sequence.

    Acks are awaited oldest first once the window is full, so memory stays bounded however
    long the log (holding every future until the end took gigabytes at 10 million events).
    """
    nc = await connect_nats(nats_url, name="bench-fill")
    try:
        js = nc.jetstream(publish_async_max_pending=in_flight)
        settings = CommonSettings(nats_url=nats_url, namespace=namespace)
        await ensure_stream(js, settings)
        subjects = settings.subjects
        pending: deque[asyncio.Future[PubAck]] = deque()
        last_seq = 0
        for e in events:
            if len(pending) >= in_flight:
                last_seq = max(last_seq, (await pending.popleft()).seq)
            pending.append(
                await js.publish_async(
                    subjects.event(e.type, e.task_type, e.task_id),
                    encode_event(e),
                    stream=subjects.stream,
                )
            )
        for ack in await asyncio.gather(*pending):
            last_seq = max(last_seq, ack.seq)
        return last_seq
    finally:
        await nc.drain()
