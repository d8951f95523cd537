"""A task as the log tells it: its events, and the state they fold to.

Commands decide from this, and reads fall back to it while the read model is behind.
"""

from uuid import UUID

from taskbus.eventlog import EventLog, LoggedEvent
from taskbus.readmodel.fold import fold_history
from taskbus.readmodel.state import TaskState

from taskbus_api.errors import NotFound
from taskbus_api.schemas import TaskEventOut

# The read model keeps an event's data without the fields its row already has.
_ENVELOPE = frozenset({"type", "task_id", "time"})


async def load(eventlog: EventLog, task_id: UUID, *, at_least: int | None = None) -> TaskState:
    """The task's state folded from its events (up to ``at_least`` at least); 404 when none."""
    state = fold_history(await eventlog.history(task_id, at_least=at_least))
    if state is None:
        raise NotFound(f"no task with id {task_id}")
    return state


def event_out(logged: LoggedEvent) -> TaskEventOut:
    """An event as ``GET /api/tasks/{id}/events`` shows it, from the log as from Postgres."""
    event = logged.event
    return TaskEventOut(
        seq=logged.seq,
        type=event.type,
        time=event.time,
        data=event.model_dump(mode="json", exclude=set(_ENVELOPE)),
    )
