"""``/api/tasks``: submit, list, read, cancel, retry and history (DESIGN §4)."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Query, status
from taskbus.readmodel.fold import fold
from taskbus.tasks import TaskStatus, TaskType

from taskbus_api import commands, queries
from taskbus_api.deps import ConnectionDep, Resources, ResourcesDep
from taskbus_api.errors import NotFound
from taskbus_api.readmodel_wait import settle
from taskbus_api.routes.files import check_file_inputs
from taskbus_api.schemas import SubmitRequest, Task, TaskEventList, TaskPage

router = APIRouter(prefix="/api/tasks", tags=["tasks"])

WaitQuery = Annotated[
    float,
    Query(
        ge=0,
        le=60,
        description="Seconds to wait for the read model to reflect the command before answering.",
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$"),
]


async def _task_or_404(conn: ConnectionDep, task_id: UUID) -> Task:
    task = await queries.get_task(conn, task_id)
    if task is None:
        raise NotFound(f"no task with id {task_id}")
    return task


@router.post("/submit", status_code=status.HTTP_201_CREATED, response_model=Task)
async def submit_task(
    body: SubmitRequest,
    resources: ResourcesDep,
    conn: ConnectionDep,
    idempotency_key: IdempotencyKey = None,
    wait: WaitQuery = 0,
) -> Task:
    """Submit a task; 201 once the event is stored. The same ``Idempotency-Key`` → same task."""
    await check_file_inputs(resources.files, body.task_type, body.parameters)
    event, ack = await commands.submit(resources.eventlog, body, idempotency_key)
    # A replayed key returns the task as first submitted, once the read model has it.
    task = await settle(resources, conn, event.task_id, ack.seq, 5.0 if ack.duplicate else wait)
    if task is not None:
        return task
    # Not in the read model yet: the task is what the projector's fold will make of it.
    created = fold(None, event, ack.seq)
    assert created is not None
    return Task.of(created)


@router.get("/", response_model=TaskPage)
async def list_tasks(
    conn: ConnectionDep,
    status: TaskStatus | None = None,
    task_type: TaskType | None = None,
    q: Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,19}$")] = None,
) -> TaskPage:
    """Tasks newest first, filtered; pass ``next_cursor`` back as ``cursor`` for the next page."""
    flt = queries.TaskFilter(status=status, task_type=task_type, q=q)
    before = None if cursor is None else int(cursor)
    items, next_seq = await queries.list_tasks(conn, flt, limit=limit, before_seq=before)
    return TaskPage(items=items, next_cursor=None if next_seq is None else str(next_seq))


@router.get("/{task_id}", response_model=Task)
async def get_task(task_id: UUID, conn: ConnectionDep) -> Task:
    return await _task_or_404(conn, task_id)


@router.delete("/{task_id}", response_model=Task, status_code=status.HTTP_202_ACCEPTED)
async def cancel_task(
    task_id: UUID, resources: ResourcesDep, conn: ConnectionDep, wait: WaitQuery = 0
) -> Task:
    """Cancel a PENDING or RUNNING task (409 once terminal); 202 with the task as it stands."""
    task = await _task_or_404(conn, task_id)
    seq = await commands.cancel(resources.eventlog, task)
    return await _after_command(resources, conn, task, seq, wait)


@router.post("/{task_id}/retry", response_model=Task, status_code=status.HTTP_202_ACCEPTED)
async def retry_task(
    task_id: UUID, resources: ResourcesDep, conn: ConnectionDep, wait: WaitQuery = 0
) -> Task:
    """Retry a FAILED or CANCELLED task as its next attempt (409 otherwise)."""
    task = await _task_or_404(conn, task_id)
    seq = await commands.retry(resources.eventlog, task)
    return await _after_command(resources, conn, task, seq, wait)


@router.get("/{task_id}/events", response_model=TaskEventList)
async def get_task_events(task_id: UUID, conn: ConnectionDep) -> TaskEventList:
    """The task's history, every event in log order."""
    await _task_or_404(conn, task_id)
    return TaskEventList(items=await queries.task_events(conn, task_id))


async def _after_command(
    resources: Resources, conn: ConnectionDep, task: Task, seq: int, wait: float
) -> Task:
    return await settle(resources, conn, task.id, seq, wait) or task
