"""The API's request and response bodies (the README's HTTP contract)."""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Query
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from taskbus.parameters import MAX_FIELDS, check_shape, refuse_nul
from taskbus.readmodel.state import TaskState
from taskbus.tasks import TaskStatus, TaskTypeName

SearchQuery = Annotated[
    str | None,
    Query(
        max_length=200,
        pattern=r"^[^\x00]*$",
        description="A name substring, or an id prefix of 4 or more hex characters.",
    ),
]
"""``q`` of the list and of the stream: both filter with the same predicate."""


class SubmitRequest(BaseModel):
    """A submit's body. ``parameters`` come out of it shaped (bounded nesting and fields, no
    NUL); their type's JSON Schema checks them next (``task_types``), then the file check."""

    model_config = ConfigDict(extra="forbid")

    task_type: TaskTypeName
    parameters: dict[str, Any] = Field(default_factory=dict, validate_default=True)
    name: str | None = Field(None, max_length=200)
    max_attempts: int | None = Field(None, ge=1, le=100)
    timeout_s: float | None = Field(None, gt=0, le=7 * 24 * 3600)

    @model_validator(mode="before")
    @classmethod
    def _few_fields(cls, data: Any) -> Any:
        # Each unknown field would be an error of its own (see check_shape).
        if isinstance(data, dict) and len(data) > MAX_FIELDS:
            raise ValueError(f"the body has more than {MAX_FIELDS} fields")
        return data

    @field_validator("parameters")
    @classmethod
    def _bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        check_shape(value)
        return value

    @field_validator("name")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        if value is not None:
            refuse_nul(value)
        return value


CommandVia = Literal["api", "ui", "cli", "schedule", "bulk"]
"""Where a command comes from, as its client says in ``X-Taskbus-Via`` (``api`` unless)."""

MAX_REASON = 500


class CommandNote(BaseModel):
    """The optional body of a cancel or a retry."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=MAX_REASON, description="Kept in the event.")

    @field_validator("reason")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        if value is not None:
            refuse_nul(value)
        return value


class Task(BaseModel):
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
    next_cursor: str | None = Field(
        description="Pass as ``after`` for the next page; null: no more events yet."
    )


class Health(BaseModel):
    status: str
    nats: bool
    postgres: bool
    stream: bool
    projector_position: int | None
    log_position: int | None
    projector_lag: int | None
    projector_problem: str | None = Field(
        description="Why the read model is stuck (the status is then unavailable), or null."
    )
    quarantined_events: int | None = Field(
        description="Events the projector set aside (undecodable or refused by Postgres)."
    )


class AuditEntry(BaseModel):
    seq: int = Field(description="The command event's log sequence.")
    time: datetime
    task_id: UUID
    task_type: str
    command: str = Field(description="submit, cancel or retry.")
    actor: str = Field(description='The key\'s name, or "anonymous".')
    via: str | None
    reason: str | None


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next_cursor: str | None
