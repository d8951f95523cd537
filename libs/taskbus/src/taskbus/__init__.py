"""taskbus: background tasks as an event log.

The top-level names are the Python client's; ``taskbus.TaskFailed`` and
``taskbus.TaskCancelled`` are its exceptions (the log's events of those names live in
``taskbus.events``).
"""

from taskbus.client import (
    ApiError,
    BatchRefused,
    Client,
    ClientError,
    Task,
    TaskCancelled,
    TaskFailed,
    TaskHandle,
)

__all__ = [
    "ApiError",
    "BatchRefused",
    "Client",
    "ClientError",
    "Task",
    "TaskCancelled",
    "TaskFailed",
    "TaskHandle",
]
