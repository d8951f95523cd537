"""Every stream, subject, consumer and bucket name, and the functions that build them.

Subjects are ``tasks.<task_type>.<kind>.<task_id>``: a worker filters on its type's work
kinds, a worker listens for its type's cancellations, and one task's history is
``tasks.*.*.<task_id>``. A non-empty namespace prefixes every name, so several taskbus
installations (or test runs) can share one NATS server without seeing each other.
No subject string is spelled anywhere else.
"""

from dataclasses import dataclass
from uuid import UUID

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


def worker_consumer(task_type: str) -> str:
    """The durable consumer every replica of a worker type shares."""
    return f"worker-{task_type.replace('_', '-')}"


@dataclass(frozen=True, slots=True)
class Subjects:
    namespace: str = ""

    @property
    def _root(self) -> str:
        return f"{self.namespace}.tasks" if self.namespace else "tasks"

    @property
    def stream(self) -> str:
        return f"{self.namespace.upper()}_TASKS" if self.namespace else "TASKS"

    @property
    def all_events(self) -> str:
        return f"{self._root}.>"

    @property
    def files_bucket(self) -> str:
        return self._bucket("taskbus-files")

    @property
    def workers_bucket(self) -> str:
        return self._bucket("taskbus-workers")

    @property
    def catalog_bucket(self) -> str:
        return self._bucket("taskbus-catalog")

    def _bucket(self, name: str) -> str:
        return f"{self.namespace}-{name}" if self.namespace else name

    def event(self, event_type: str, task_type: str, task_id: UUID) -> str:
        return f"{self._root}.{task_type}.{_KIND_BY_EVENT[event_type]}.{task_id}"

    def work(self, task_type: str) -> list[str]:
        """What a worker of ``task_type`` consumes: new submissions and retries."""
        return [f"{self._root}.{task_type}.{kind}.*" for kind in WORK_KINDS]

    def cancel(self, task_type: str, task_id: UUID | None = None) -> str:
        """One task's cancellation, or (without an id) every cancellation of a type."""
        return f"{self._root}.{task_type}.cancelled.{task_id or '*'}"

    def history(self, task_id: UUID) -> str:
        return f"{self._root}.*.*.{task_id}"


PROJECTOR_CONSUMER = "projector"


def task_id_of(subject: str) -> UUID:
    return UUID(subject.rsplit(".", 1)[1])


def retry_msg_id(task_id: UUID, attempt: int) -> str:
    """One attempt number is scheduled once, whoever (user or worker) asks for it."""
    return f"retry:{task_id}:{attempt}"


def submit_msg_id(idempotency_key: str) -> str:
    return f"submit:{idempotency_key}"


def started_msg_id(task_id: UUID, attempt: int, delivery: int) -> str:
    """One delivery of an attempt starts once, however often its runtime tries again."""
    return f"started:{task_id}:{attempt}:{delivery}"


def ended_msg_id(task_id: UUID, attempt: int) -> str:
    """An attempt ends once: its TaskSucceeded or TaskFailed, from whichever delivery."""
    return f"ended:{task_id}:{attempt}"
