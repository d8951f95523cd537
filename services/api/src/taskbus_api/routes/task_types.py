"""``/api/task-types``: the catalog, as the workers announced it, with who serves each type."""

from collections import Counter

from fastapi import APIRouter
from pydantic import BaseModel
from taskbus.catalog import CatalogEntry
from taskbus.workers import live_workers

from taskbus_api.access import Reader
from taskbus_api.deps import ResourcesDep

router = APIRouter(prefix="/api", tags=["task types"])


class TaskTypeList(BaseModel):
    items: list[CatalogEntry]


@router.get("/task-types", response_model=TaskTypeList)
async def task_types(resources: ResourcesDep, _: Reader) -> TaskTypeList:
    """Every task type a worker has announced, whether or not one serves it now."""
    live = await live_workers(
        resources.eventlog.js,
        resources.eventlog.subjects,
        replicas=resources.settings.stream_replicas,
    )
    serving = Counter(status.task_type for status in live)
    return TaskTypeList(
        items=[
            CatalogEntry(**info.model_dump(), workers=serving[info.name])
            for info in resources.task_types
        ]
    )
