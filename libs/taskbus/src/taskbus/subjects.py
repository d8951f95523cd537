"""Every stream, subject, consumer and bucket name, and the functions that build them.

Subjects are ``tasks.<task_type>.<kind>.<task_id>``: a worker filters on its type's work
kinds, a worker listens for its type's cancellations, and one task's history is
``tasks.*.*.<task_id>``. No subject string is spelled anywhere else.
"""

from uuid import UUID

from taskbus.tasks import TaskType

STREAM = "TASKS"
ALL_EVENTS = "tasks.>"
PROJECTOR_CONSUMER = "projector"
FILES_BUCKET = "taskbus-files"
WORKERS_BUCKET = "taskbus-workers"

WORK_KINDS = ("submitted", "retried")

_KIND_BY_EVENT = {
    "TaskSubmitted": "submitted",
    "TaskRetried": "retried",
    "TaskCancelled": "cancelled",
    "TaskStarted": "started",
    "TaskProgress": "progress",
    "TaskCheckpoint": "checkpoint",
    "TaskSucceeded": "succeeded",
    "TaskFailed": "failed",
}


def event_subject(event_type: str, task_type: TaskType, task_id: UUID) -> str:
    return f"tasks.{task_type.value}.{_KIND_BY_EVENT[event_type]}.{task_id}"


def work_subjects(task_type: TaskType) -> list[str]:
    """What a worker of ``task_type`` consumes: new submissions and retries."""
    return [f"tasks.{task_type.value}.{kind}.*" for kind in WORK_KINDS]


def cancel_subject(task_type: TaskType, task_id: UUID | None = None) -> str:
    """One task's cancellation, or (without an id) every cancellation of a type."""
    return f"tasks.{task_type.value}.cancelled.{task_id or '*'}"


def checkpoint_subject(task_type: TaskType, task_id: UUID) -> str:
    return f"tasks.{task_type.value}.checkpoint.{task_id}"


def task_history_subject(task_id: UUID) -> str:
    return f"tasks.*.*.{task_id}"


def worker_consumer(task_type: TaskType) -> str:
    """The durable consumer every replica of a worker type shares."""
    return f"worker-{task_type.value.replace('_', '-')}"


def max_deliveries_advisory(task_type: TaskType) -> str:
    """Where JetStream announces a work message that ran out of deliveries."""
    return f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{STREAM}.{worker_consumer(task_type)}"


def task_id_of(subject: str) -> UUID:
    return UUID(subject.rsplit(".", 1)[1])


def retry_msg_id(task_id: UUID, attempt: int) -> str:
    """One attempt number is scheduled once, whoever (user or worker) asks for it."""
    return f"retry:{task_id}:{attempt}"


def submit_msg_id(idempotency_key: str) -> str:
    return f"submit:{idempotency_key}"
