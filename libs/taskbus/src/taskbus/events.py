"""The event contracts: every fact about a task, as a frozen model in the log.

Events are decoded once, at the edge, through :data:`TaskEventAdapter` into one of the
models of the :data:`TaskEvent` union; nothing downstream handles raw JSON.

The models are tolerant readers (docs/design.md, "Event schemas"): a field this version does
not know, written by a newer one during a rolling upgrade, is ignored, so the event is still
folded and still run. What clients may send is checked by the API's own request models,
which forbid unknown fields; these models only describe what the log holds.
"""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from taskbus.tasks import TaskTypeName

FailureReason = Literal["error", "timeout", "max_deliver"]


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    task_id: UUID
    task_type: TaskTypeName
    time: AwareDatetime = Field(default_factory=utcnow)


class _WorkEvent(_Event):
    """An event that asks a worker of ``task_type`` to run an attempt of the task."""

    parameters: dict[str, Any]
    attempt: int = Field(ge=1)
    max_attempts: int = Field(ge=1)
    timeout_s: float | None = Field(default=None, gt=0)


class _Command(BaseModel):
    """Who asked for a command event and why. Optional: events written before these fields,
    and retries a worker schedules, have none (docs/design.md, "Event schemas")."""

    actor: str | None = None
    """The API key's name, or "anonymous" where the API has no keys."""
    via: str | None = None
    """Where it came from: api, ui, cli, schedule or bulk. Text rather than a Literal, so a
    newer writer's new source does not make the whole event undecodable to older readers."""
    reason: str | None = None


class TaskSubmitted(_WorkEvent, _Command):
    type: Literal["TaskSubmitted"] = "TaskSubmitted"
    name: str | None = None


class TaskRetried(_WorkEvent, _Command):
    """A new attempt: asked for by a user, or scheduled by a worker after a retryable failure."""

    type: Literal["TaskRetried"] = "TaskRetried"
    not_before: AwareDatetime | None = None


class TaskCancelled(_Event, _Command):
    type: Literal["TaskCancelled"] = "TaskCancelled"


class TaskStarted(_Event):
    type: Literal["TaskStarted"] = "TaskStarted"
    attempt: int = Field(ge=1)
    worker_id: str


class TaskProgress(_Event):
    type: Literal["TaskProgress"] = "TaskProgress"
    attempt: int = Field(ge=1)
    progress: float = Field(ge=0, le=100)
    message: str | None = None


class TaskCheckpoint(_Event):
    """Handler-recorded progress a redelivered attempt resumes from."""

    type: Literal["TaskCheckpoint"] = "TaskCheckpoint"
    attempt: int = Field(ge=1)
    data: dict[str, Any]


class _Ended(_Event):
    attempt: int = Field(ge=1)
    started_at: AwareDatetime | None = None
    """When the attempt's handler started, on an end that came before the attempt's
    TaskStarted was due and so stands in for it (docs/design.md, "Event schemas")."""


class TaskSucceeded(_Ended):
    type: Literal["TaskSucceeded"] = "TaskSucceeded"
    result: dict[str, Any]


class TaskFailed(_Ended):
    type: Literal["TaskFailed"] = "TaskFailed"
    error: str
    reason: FailureReason = "error"
    will_retry: bool = False
    retry_at: AwareDatetime | None = None


TaskEvent = Annotated[
    TaskSubmitted
    | TaskRetried
    | TaskCancelled
    | TaskStarted
    | TaskProgress
    | TaskCheckpoint
    | TaskSucceeded
    | TaskFailed,
    Field(discriminator="type"),
]

TaskEventAdapter: TypeAdapter[TaskEvent] = TypeAdapter(TaskEvent)


def decode_event(data: bytes) -> TaskEvent:
    """Parse one message body from the log into its event model."""
    return TaskEventAdapter.validate_json(data)


def encode_event(event: TaskEvent) -> bytes:
    return event.model_dump_json().encode()
