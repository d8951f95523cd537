"""The read model's row for one task: what the fold produces and the tasks table holds."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from taskbus.tasks import TaskStatus, TaskTypeName


@dataclass(frozen=True, slots=True)
class TaskState:
    id: UUID
    task_type: TaskTypeName
    name: str | None
    status: TaskStatus
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
    created_seq: int
    last_seq: int
