"""``/api/audit``: who submitted, cancelled and retried what, and when, newest first.

Read from the read model's history (each command event records its actor, ``via`` and
reason), so it reflects every command acknowledged before it, as the task list does.
"""

from typing import Annotated

from fastapi import APIRouter, Query

from taskbus_api import queries, reads
from taskbus_api.access import Reader
from taskbus_api.deps import ResourcesDep
from taskbus_api.schemas import AuditPage

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get("", response_model=AuditPage)
async def audit(
    resources: ResourcesDep,
    _: Reader,
    actor: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z0-9._-]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
) -> AuditPage:
    """Command events, optionally of one ``actor`` (a key name, or ``anonymous``); pass
    ``next_cursor`` back as ``cursor`` for older ones."""
    await reads.caught_up(resources)
    async with resources.readmodel.connection() as conn:
        items, next_seq = await queries.audit(conn, actor=actor, limit=limit, before_seq=cursor)
    return AuditPage(items=items, next_cursor=None if next_seq is None else str(next_seq))
