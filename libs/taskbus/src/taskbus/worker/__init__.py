"""The worker runtime: a task type becomes one handler function and a small service."""

from taskbus.worker.attempt import Handler
from taskbus.worker.context import TaskContext
from taskbus.worker.runtime import WorkerSpec, run_worker
from taskbus.worker.settings import WorkerSettings

__all__ = ["Handler", "TaskContext", "WorkerSettings", "WorkerSpec", "run_worker"]
