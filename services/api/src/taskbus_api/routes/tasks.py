"""``/api/tasks``: submit, list, read, cancel, retry and history.

Commands decide from the log and never touch Postgres; reads reflect every command
acknowledged before them (``reads``), so no client needs ``?wait=``.
"""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Header, Query, Request, status
from taskbus.tasks import TaskStatus, TaskTypeName

from taskbus_api import commands, queries, reads
from taskbus_api.access import Operator, Principal, Reader
from taskbus_api.deps import ResourcesDep, resources_of
from taskbus_api.readmodel_wait import settle
from taskbus_api.routes.files import check_file_inputs
from taskbus_api.schemas import (
    CommandNote,
    CommandVia,
    SearchQuery,
    SubmitRequest,
    Task,
    TaskEventList,
    TaskPage,
)

router = APIRouter(prefix="/api/tasks", tags=["tasks"])

# Log sequences are Postgres bigints.
_MAX_SEQ = 2**63 - 1

WaitQuery = Annotated[
    float,
    Query(
        ge=0,
        le=60,
        description="Seconds to wait for the read model to show the command before answering "
        "(reads reflect it either way).",
    ),
]
Via = Annotated[
    CommandVia,
    Header(alias="X-Taskbus-Via", description="Where the command comes from, for the audit trail."),
]
Note = Annotated[CommandNote | None, Body(description="An optional reason, kept in the event.")]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$"),
]


@router.post("/submit", status_code=status.HTTP_201_CREATED, response_model=Task)
async def submit_task(
    body: SubmitRequest,
    # Not ResourcesDep: the hottest route, and each dependency costs FastAPI a solve per call.
    request: Request,
    caller: Operator,
    idempotency_key: IdempotencyKey = None,
    via: Via = "api",
    wait: WaitQuery = 0,
) -> Task:
    """Submit a task; 201 once the event is stored. A known ``Idempotency-Key`` answers with
    the task it first submitted, whatever has happened to it since."""
    resources = resources_of(request)
    task_type = resources.task_types.check(body.task_type, body.parameters)
    await check_file_inputs(resources.files, task_type, body.parameters)
    by = commands.Provenance(caller.name, via)
    outcome = await commands.submit(resources.eventlog, body, task_type, idempotency_key, by)
    return await settle(resources, outcome, wait)


@router.get("/", response_model=TaskPage)
async def list_tasks(
    resources: ResourcesDep,
    _: Reader,
    status: TaskStatus | None = None,
    task_type: TaskTypeName | None = None,
    q: SearchQuery = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[int | None, Query(ge=0, le=_MAX_SEQ)] = None,
) -> TaskPage:
    """Tasks newest first, filtered; pass ``next_cursor`` back as ``cursor`` for the next page."""
    flt = queries.TaskFilter(status=status, task_type=task_type, q=q)
    await reads.caught_up(resources)
    async with resources.readmodel.connection() as conn:
        items, next_seq = await queries.list_tasks(conn, flt, limit=limit, before_seq=cursor)
    return TaskPage(items=items, next_cursor=None if next_seq is None else str(next_seq))


@router.get("/{task_id}", response_model=Task)
async def get_task(task_id: UUID, resources: ResourcesDep, _: Reader) -> Task:
    return await reads.task(resources, task_id)


@router.delete("/{task_id}", response_model=Task, status_code=status.HTTP_202_ACCEPTED)
async def cancel_task(
    task_id: UUID,
    resources: ResourcesDep,
    caller: Operator,
    note: Note = None,
    via: Via = "api",
    wait: WaitQuery = 0,
) -> Task:
    """Cancel a PENDING or RUNNING task (409 once terminal); 202 with the task cancelled."""
    outcome = await commands.cancel(resources.eventlog, task_id, _provenance(caller, via, note))
    return await settle(resources, outcome, wait)


@router.post("/{task_id}/retry", response_model=Task, status_code=status.HTTP_202_ACCEPTED)
async def retry_task(
    task_id: UUID,
    resources: ResourcesDep,
    caller: Operator,
    note: Note = None,
    via: Via = "api",
    wait: WaitQuery = 0,
) -> Task:
    """Retry a FAILED or CANCELLED task as its next attempt (409 otherwise)."""
    outcome = await commands.retry(resources.eventlog, task_id, _provenance(caller, via, note))
    return await settle(resources, outcome, wait)


@router.get("/{task_id}/events", response_model=TaskEventList)
async def get_task_events(
    task_id: UUID,
    resources: ResourcesDep,
    _: Reader,
    after: Annotated[int, Query(ge=0, le=_MAX_SEQ, description="A log sequence.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> TaskEventList:
    """The task's history in log order, a page of events after ``after``; pass
    ``next_cursor`` back as ``after`` for the next page."""
    items, next_after = await reads.task_events(resources, task_id, after=after, limit=limit)
    return TaskEventList(items=items, next_cursor=None if next_after is None else str(next_after))


def _provenance(caller: Principal, via: str, note: CommandNote | None) -> commands.Provenance:
    return commands.Provenance(caller.name, via, None if note is None else note.reason)
