"""``/api/task-types``: the catalog, as the workers announced it, with who serves each type."""

from collections import Counter
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from taskbus.catalog import FileField
from taskbus.workers import live_workers, workers_bucket

from taskbus_api.access import Reader
from taskbus_api.deps import ResourcesDep

router = APIRouter(prefix="/api", tags=["task types"])


class TaskTypeOut(BaseModel):
    name: str
    app: str
    description: str
    parameters_schema: dict[str, Any]
    result_schema: dict[str, Any] | None
    max_attempts: int
    timeout_s: float | None
    file_fields: list[FileField]
    version: str
    workers: int
    """Live worker processes serving the type; 0: its tasks wait PENDING for one."""


class TaskTypeList(BaseModel):
    items: list[TaskTypeOut]


@router.get("/task-types", response_model=TaskTypeList)
async def task_types(resources: ResourcesDep, _: Reader) -> TaskTypeList:
    """Every task type a worker has announced, whether or not one serves it now."""
    kv = await workers_bucket(
        resources.eventlog.js,
        resources.eventlog.subjects,
        replicas=resources.settings.stream_replicas,
    )
    serving = Counter(status.task_type for status in await live_workers(kv))
    return TaskTypeList(
        items=[
            TaskTypeOut(**info.model_dump(), workers=serving[info.name])
            for info in resources.task_types
        ]
    )
