"""Reads that reflect every command acknowledged before them, through any API replica.

A read learns from the log's leader how far the log has got (for one task, its last
event; for a list, the log's tail) and answers from the read model once that includes it.
A task read never waits: while the projector is behind, it folds the task's own events
from the log instead. A list waits, bounded, for the projector (docs/design.md,
"Consistency").
"""

from uuid import UUID

from taskbus_api import queries
from taskbus_api.deps import Resources
from taskbus_api.errors import NotFound, Unavailable
from taskbus_api.schemas import Task, TaskEventOut
from taskbus_api.tasklog import event_out, load


async def task(resources: Resources, task_id: UUID) -> Task:
    position = await _position_of(resources, task_id)
    async with resources.readmodel.connection() as conn:
        projected = await queries.get_task(conn, task_id)
    if projected is not None and projected.seq >= position:
        return projected
    return Task.of(await load(resources.eventlog, task_id, at_least=position))


async def task_events(
    resources: Resources, task_id: UUID, *, after: int, limit: int
) -> tuple[list[TaskEventOut], int | None]:
    """A page of the task's history: up to ``limit`` events after ``after``, and the ``after``
    of the next page (None when none follows yet). Both sources page alike."""
    position = await _position_of(resources, task_id)
    async with resources.readmodel.connection() as conn:
        events, projected = await queries.task_events(conn, task_id, after=after, limit=limit)
    if projected < position:
        history = await resources.eventlog.history(task_id, after=after, at_least=position)
        events = [event_out(logged) for logged in history[: limit + 1]]
    if len(events) > limit:
        return events[:limit], events[limit - 1].seq
    return events, None


async def caught_up(resources: Resources) -> None:
    """Return once the read model includes everything logged before this call.

    When the announced position is behind, Postgres is asked first: that tells a lost
    announcement from a real lag, and an unreachable Postgres fails fast instead of
    waiting out the projector.
    """
    tail = await resources.eventlog.tail()
    feed = resources.feed
    if feed.position >= tail:
        return
    async with resources.readmodel.connection() as conn:
        if await queries.projected_position(conn) >= tail:
            return
    if not await feed.wait_for(tail, resources.settings.read_wait_s):
        raise Unavailable(
            f"the read model is {tail - feed.position} events behind the log; retry shortly"
        )


async def _position_of(resources: Resources, task_id: UUID) -> int:
    position = await resources.eventlog.task_position(task_id)
    if position == 0:
        raise NotFound(f"no task with id {task_id}")
    return position
