"""Read-your-writes on request: wait until the projector has folded a command's event."""

from uuid import UUID

from taskbus.readmodel.database import Connection

from taskbus_api import queries
from taskbus_api.deps import Resources
from taskbus_api.schemas import Task


async def settle(
    resources: Resources, conn: Connection, task_id: UUID, seq: int, wait: float
) -> Task | None:
    """The task as the read model shows it once it includes ``seq``; None if not within ``wait``.

    With ``wait`` 0 the read model is not consulted at all.
    """
    if wait <= 0:
        return None
    timeout = min(wait, resources.settings.max_wait_s)
    if not await resources.feed.wait_for(seq, timeout):
        return None
    return await queries.get_task(conn, task_id)
