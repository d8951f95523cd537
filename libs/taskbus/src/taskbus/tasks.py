"""Task types and statuses: the vocabulary every service shares."""

from enum import StrEnum


class TaskType(StrEnum):
    CSV_PROCESSING = "csv_processing"
    EMAIL_SENDING = "email_sending"
    IMAGE_PROCESSING = "image_processing"


class TaskStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @property
    def can_cancel(self) -> bool:
        return self in (TaskStatus.PENDING, TaskStatus.RUNNING)

    @property
    def can_retry(self) -> bool:
        return self in (TaskStatus.FAILED, TaskStatus.CANCELLED)


TERMINAL_STATUSES = frozenset({TaskStatus.SUCCESS, TaskStatus.FAILED, TaskStatus.CANCELLED})

DEFAULT_MAX_ATTEMPTS: dict[TaskType, int] = {
    TaskType.CSV_PROCESSING: 3,
    TaskType.EMAIL_SENDING: 5,
    TaskType.IMAGE_PROCESSING: 3,
}
