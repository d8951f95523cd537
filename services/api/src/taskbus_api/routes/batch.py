"""``POST /api/tasks/batch``: up to 1,000 submits in one request (``taskbus_api.batch``)."""

from fastapi import APIRouter

from taskbus_api.access import Operator
from taskbus_api.batch import BatchRequest, BatchResponse, submit_batch
from taskbus_api.commands import Provenance
from taskbus_api.deps import ResourcesDep
from taskbus_api.routes.tasks import Via

router = APIRouter(prefix="/api/tasks", tags=["tasks"])


@router.post("/batch", response_model=BatchResponse)
async def submit_tasks(
    body: BatchRequest, resources: ResourcesDep, caller: Operator, via: Via = "api"
) -> BatchResponse:
    """Submit many tasks; every item is validated on its own, then the valid ones are
    stored together. 200 with one item per task, in order: ``{"status": 201, "task"}`` or
    ``{"status", "detail"}`` as a single submit of that item would have answered."""
    return await submit_batch(resources, body.tasks, Provenance(caller.name, via))
