"""Tasks and task types as the API shows them (README, "The HTTP API")."""

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from taskbus.catalog import CatalogEntry

Status = Literal["PENDING", "RUNNING", "SUCCESS", "FAILED", "CANCELLED"]
TERMINAL: frozenset[Status] = frozenset({"SUCCESS", "FAILED", "CANCELLED"})


class _FromApi(BaseModel):
    # A newer API may add fields; an older client still reads the rest.
    model_config = ConfigDict(extra="ignore", frozen=True)


class Task(_FromApi):
    id: UUID
    task_type: str
    name: str | None
    status: Status
    progress: float
    progress_message: str | None
    parameters: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    max_attempts: int
    timeout_s: float | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    updated_at: datetime
    seq: int
    """The log sequence of the task's last change: a later state has a larger one."""

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL


class TaskPage(_FromApi):
    items: list[Task]
    next_cursor: str | None


TaskTypeInfo = CatalogEntry
"""A task type of the catalog (``GET /api/task-types``), as the API's own model states it."""
