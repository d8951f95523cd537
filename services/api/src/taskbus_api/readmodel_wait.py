"""``?wait=``: answer a command once the read model shows its outcome, bounded."""

from taskbus.readmodel.state import TaskState

from taskbus_api import queries
from taskbus_api.deps import Resources
from taskbus_api.schemas import Task


async def settle(resources: Resources, outcome: TaskState, wait: float) -> Task:
    """The task as the read model shows it once it includes the command, else ``outcome``.

    No connection is held while waiting: the wait is on the projector's announcements.
    """
    timeout = min(wait, resources.settings.max_wait_s)
    if timeout > 0 and await resources.feed.wait_for(outcome.last_seq, timeout):
        async with resources.readmodel.connection() as conn:
            projected = await queries.get_task(conn, outcome.id)
        if projected is not None:
            return projected
    return Task.of(outcome)
