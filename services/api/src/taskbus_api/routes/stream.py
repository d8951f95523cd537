"""``/api/stream``: read-model changes as Server-Sent Events, resumable by ``Last-Event-ID``."""

from collections.abc import AsyncIterator
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header
from sse_starlette import EventSourceResponse, ServerSentEvent
from taskbus.tasks import TaskStatus, TaskType

from taskbus_api.deps import Resources, ResourcesDep
from taskbus_api.feed import SlowSubscriber
from taskbus_api.queries import TaskFilter, changed_since
from taskbus_api.schemas import Task

router = APIRouter(tags=["stream"])

_CATCH_UP_PAGE = 1000


@router.get("/api/stream", response_class=EventSourceResponse)
async def stream(
    resources: ResourcesDep,
    task_type: TaskType | None = None,
    status: TaskStatus | None = None,
    task_id: UUID | None = None,
    last_event_id: Annotated[int | None, Header(alias="Last-Event-ID", ge=0, le=2**63 - 1)] = None,
) -> EventSourceResponse:
    """One ``task`` event per read-model change: ``id`` is the log sequence, data the task.

    Without ``Last-Event-ID`` the stream starts with changes from now on; with it, every
    change after that sequence is replayed first, then the live ones follow without a gap.
    """
    flt = TaskFilter(status=status, task_type=task_type, task_id=task_id)
    events = _events(resources, flt, last_event_id)
    return EventSourceResponse(events, ping=resources.settings.sse_ping_s)


async def _events(
    resources: Resources, flt: TaskFilter, last_event_id: int | None
) -> AsyncIterator[ServerSentEvent]:
    feed = resources.feed
    # Subscribe before catching up, so a change committed in between is not missed.
    subscription = feed.subscribe()
    sent = feed.sent_seq if last_event_id is None else last_event_id
    try:
        async with resources.pool.acquire() as conn:
            while batch := await changed_since(conn, sent, flt, limit=_CATCH_UP_PAGE):
                for task in batch:
                    yield _sse(task)
                sent = batch[-1].seq
                if len(batch) < _CATCH_UP_PAGE:
                    break
        async for batch in subscription.batches():
            for task in batch:
                if task.seq > sent and _matches(task, flt):
                    yield _sse(task)
                    sent = task.seq
    except SlowSubscriber:
        # The client reconnects (EventSource does so itself) and resumes from ``sent``.
        return
    finally:
        feed.unsubscribe(subscription)


def _matches(task: Task, flt: TaskFilter) -> bool:
    return (
        (flt.status is None or task.status == flt.status)
        and (flt.task_type is None or task.task_type == flt.task_type)
        and (flt.task_id is None or task.id == flt.task_id)
    )


def _sse(task: Task) -> ServerSentEvent:
    return ServerSentEvent(data=task.model_dump_json(), event="task", id=str(task.seq))
