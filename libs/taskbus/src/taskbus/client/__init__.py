"""The Python client of the taskbus API (README, "Python client")."""

from taskbus.client.client import DEFAULT_API_URL, Client, current_client
from taskbus.client.errors import (
    AccessDenied,
    ApiError,
    BatchRefused,
    ClientError,
    Conflict,
    InvalidRequest,
    NotFound,
    TaskCancelled,
    TaskEnded,
    TaskFailed,
    Unavailable,
)
from taskbus.client.handle import TaskHandle
from taskbus.client.models import Task, TaskPage, TaskTypeInfo

__all__ = [
    "DEFAULT_API_URL",
    "AccessDenied",
    "ApiError",
    "BatchRefused",
    "Client",
    "ClientError",
    "Conflict",
    "InvalidRequest",
    "NotFound",
    "Task",
    "TaskCancelled",
    "TaskEnded",
    "TaskFailed",
    "TaskHandle",
    "TaskPage",
    "TaskTypeInfo",
    "Unavailable",
    "current_client",
]
