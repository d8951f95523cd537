"""Task statuses and the shape of a task type's name: the vocabulary every service shares.

Which task types exist is not known here: each worker declares its own (``taskbus.TaskApp``)
and announces them in the catalog (``taskbus.catalog``).
"""

from enum import StrEnum
from typing import Annotated

from pydantic import StringConstraints

TASK_TYPE_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
"""A name is one token of a NATS subject and of a consumer's name: lowercase and ``_``."""

TaskTypeName = Annotated[str, StringConstraints(pattern=TASK_TYPE_PATTERN)]


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
