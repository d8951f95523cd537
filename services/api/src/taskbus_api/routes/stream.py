"""``/api/stream``: read-model changes as Server-Sent Events, resumable by ``Last-Event-ID``.

No Postgres connection is held while an event is written: the client decides how fast that
goes. A client that stops reading is dropped after ``API_SSE_SEND_TIMEOUT_S``.
"""

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any
from uuid import UUID

import structlog
from fastapi import APIRouter, Header, Request
from sse_starlette import EventSourceResponse
from sse_starlette.sse import SendTimeoutError
from starlette.types import Receive, Scope, Send
from taskbus.tasks import TaskStatus, TaskTypeName

from taskbus_api.access import Reader, access_of
from taskbus_api.deps import Resources, ResourcesDep
from taskbus_api.errors import Unavailable
from taskbus_api.feed import SlowSubscriber, sse_events
from taskbus_api.queries import Change, TaskFilter, changed_since
from taskbus_api.schemas import SearchQuery

log = structlog.get_logger(__name__)

router = APIRouter(tags=["stream"])

_CATCH_UP_PAGE = 1000


class _EventStream(EventSourceResponse):
    """Ends quietly when the client stops reading, instead of with a traceback, and frees
    the caller's stream slot however it ends."""

    def __init__(self, *args: Any, release: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except SendTimeoutError:
            # sse-starlette has closed the events already (their cleanup ran, the
            # subscription is gone); what is left is a socket nobody reads.
            log.info("dropped an SSE client that stopped reading")
        finally:
            self._release()


@router.get("/api/stream", response_class=EventSourceResponse)
async def stream(
    request: Request,
    resources: ResourcesDep,
    caller: Reader,
    task_type: TaskTypeName | None = None,
    status: TaskStatus | None = None,
    task_id: UUID | None = None,
    q: SearchQuery = None,
    last_event_id: Annotated[int | None, Header(alias="Last-Event-ID", ge=0, le=2**63 - 1)] = None,
) -> EventSourceResponse:
    """A ``task`` event per read-model change of a matching task: ``id`` is the log sequence,
    data the task. The filters are those of ``GET /api/tasks/``, with the same answers.

    With a ``status`` filter, a change that takes a task out of it is a ``left`` event, data
    ``{"id", "seq"}``: a client showing the task drops it. (Other filters hold for a task's
    lifetime.) A ``left`` may also come for a task the client never had; it ignores that.

    Without ``Last-Event-ID`` the stream starts with changes from now on; with it, every
    change after that sequence is replayed first, then the live ones follow without a gap.
    """
    flt = TaskFilter(status=status, task_type=task_type, q=q, task_id=task_id)
    release = access_of(request).limits.open_stream(caller.limit_key())
    events = _events(resources, flt, last_event_id)
    return _EventStream(
        events,
        ping=resources.settings.sse_ping_s,
        send_timeout=resources.settings.sse_send_timeout_s,
        release=release,
    )


async def _events(
    resources: Resources, flt: TaskFilter, last_event_id: int | None
) -> AsyncIterator[bytes]:
    feed = resources.feed
    # Subscribe before catching up, so a change committed in between is not missed.
    subscription = feed.subscribe(flt)
    sent = feed.sent_seq if last_event_id is None else last_event_id
    try:
        async for page in _catch_up(resources, flt, sent):
            yield sse_events(page)
            sent = page[-1].version.seq
        async for batch in subscription.batches():
            if batch.changes[0].version.seq > sent:
                yield batch.sse
            else:  # the catch-up went past some of it
                fresh = [change for change in batch.changes if change.version.seq > sent]
                if not fresh:
                    continue
                yield sse_events(fresh)
            sent = batch.changes[-1].version.seq
    except (SlowSubscriber, Unavailable):
        # The client reconnects (EventSource does so itself) and resumes from ``sent``.
        return
    finally:
        feed.unsubscribe(subscription)


async def _catch_up(
    resources: Resources, flt: TaskFilter, after_seq: int
) -> AsyncIterator[list[Change]]:
    """The changes after ``after_seq``, a page per short-lived connection (none empty)."""
    while True:
        async with resources.readmodel.connection() as conn:
            page = await changed_since(conn, after_seq, flt, limit=_CATCH_UP_PAGE)
        if page:
            yield page
        if len(page) < _CATCH_UP_PAGE:
            return
        after_seq = page[-1].version.seq
