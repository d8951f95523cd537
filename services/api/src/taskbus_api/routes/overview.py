"""``/api/stats`` and ``/api/workers``: what the dashboard's overview shows."""

from datetime import datetime, timedelta

from fastapi import APIRouter, Depends
from nats.js.errors import NotFoundError
from pydantic import BaseModel
from taskbus.events import utcnow
from taskbus.readmodel.database import Connection
from taskbus.subjects import worker_consumer
from taskbus.tasks import TaskStatus
from taskbus.workers import WorkerStatus, live_workers

from taskbus_api.access import RoleGuard
from taskbus_api.deps import ConnectionDep, Resources, ResourcesDep
from taskbus_api.keys import Role

router = APIRouter(prefix="/api", tags=["overview"], dependencies=[Depends(RoleGuard(Role.READ))])

_THROUGHPUT_MINUTES = 60


class MinuteThroughput(BaseModel):
    minute: datetime
    succeeded: int
    failed: int


class QueueDepth(BaseModel):
    pending: int
    in_flight: int


class Stats(BaseModel):
    by_status: dict[TaskStatus, int]
    by_type: dict[str, dict[TaskStatus, int]]
    throughput: list[MinuteThroughput]
    queues: dict[str, QueueDepth]


class WorkerList(BaseModel):
    items: list[WorkerStatus]


@router.get("/stats", response_model=Stats)
async def stats(resources: ResourcesDep, conn: ConnectionDep) -> Stats:
    """Counts per status and type, completions per minute over the last hour, queue depths.

    Every type of the catalog is listed, and any other that tasks in the read model have.
    """
    known = resources.task_types.names()
    by_type = {name: dict.fromkeys(TaskStatus, 0) for name in known}
    for row in await conn.fetch("SELECT task_type, status, count(*) AS n FROM tasks GROUP BY 1, 2"):
        counts = by_type.setdefault(row["task_type"], dict.fromkeys(TaskStatus, 0))
        counts[TaskStatus(row["status"])] = row["n"]
    by_status = {s: sum(counts[s] for counts in by_type.values()) for s in TaskStatus}
    return Stats(
        by_status=by_status,
        by_type=by_type,
        throughput=await _throughput(conn),
        queues={name: await _queue_depth(resources, name) for name in known},
    )


async def _throughput(conn: Connection) -> list[MinuteThroughput]:
    now = utcnow().replace(second=0, microsecond=0)
    first = now - timedelta(minutes=_THROUGHPUT_MINUTES - 1)
    minutes = {
        first + timedelta(minutes=i): MinuteThroughput(
            minute=first + timedelta(minutes=i), succeeded=0, failed=0
        )
        for i in range(_THROUGHPUT_MINUTES)
    }
    rows = await conn.fetch(
        "SELECT date_trunc('minute', completed_at) AS minute, status, count(*) AS n FROM tasks"
        " WHERE completed_at >= $1 AND status IN ('SUCCESS', 'FAILED') GROUP BY 1, 2",
        first,
    )
    for row in rows:
        bucket = minutes.get(row["minute"])
        if bucket is None:
            continue
        if row["status"] == TaskStatus.SUCCESS:
            bucket.succeeded = row["n"]
        else:
            bucket.failed = row["n"]
    return list(minutes.values())


async def _queue_depth(resources: Resources, task_type: str) -> QueueDepth:
    """Pending: not yet delivered to any worker; in flight: delivered, not yet acked."""
    js = resources.eventlog.js
    try:
        info = await js.consumer_info(
            resources.eventlog.subjects.stream, worker_consumer(task_type)
        )
    except NotFoundError:
        return QueueDepth(pending=0, in_flight=0)
    return QueueDepth(pending=info.num_pending or 0, in_flight=info.num_ack_pending or 0)


@router.get("/workers", response_model=WorkerList)
async def workers(resources: ResourcesDep) -> WorkerList:
    """Workers that heartbeated recently, with what they run and what they have done."""
    live = await live_workers(
        resources.eventlog.js,
        resources.eventlog.subjects,
        replicas=resources.settings.stream_replicas,
    )
    return WorkerList(items=live)
