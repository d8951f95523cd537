"""The API's request and response bodies (DESIGN §4)."""

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator
from taskbus.readmodel.state import TaskState
from taskbus.tasks import TaskStatus, TaskType


class SubmitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_type: TaskType
    parameters: dict[str, Any] = Field(default_factory=dict)
    name: str | None = Field(None, max_length=200)
    max_attempts: int | None = Field(None, ge=1, le=100)
    timeout_s: float | None = Field(None, gt=0, le=7 * 24 * 3600)

    @field_validator("name", "parameters")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # Postgres text and jsonb cannot store NUL: refuse it here rather than store it.
        if _has_nul(value):
            raise ValueError("text must not contain NUL (\\u0000) characters")
        return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class Task(BaseModel):
    id: UUID
    task_type: TaskType
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
    seq: int = Field(description="Log sequence of the task's last change (the SSE event id).")

    @classmethod
    def of(cls, state: TaskState) -> "Task":
        fields = {name: getattr(state, name) for name in cls.model_fields if name != "seq"}
        return cls(**fields, seq=state.last_seq)


class TaskPage(BaseModel):
    items: list[Task]
    next_cursor: str | None


class TaskEventOut(BaseModel):
    seq: int
    type: str
    time: datetime
    data: dict[str, Any]


class TaskEventList(BaseModel):
    items: list[TaskEventOut]


class Health(BaseModel):
    status: str
    nats: bool
    postgres: bool
    stream: bool
    projector_position: int | None
    log_position: int | None
    projector_lag: int | None
