"""The worker runtime: serves the task types an app declares (``taskbus.TaskApp``)."""

from taskbus.worker.context import TaskContext
from taskbus.worker.runtime import run_app
from taskbus.worker.settings import WorkerSettings

__all__ = ["TaskContext", "WorkerSettings", "run_app"]
