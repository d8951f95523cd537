"""The Celery application of the baseline: one task that does nothing.

Broker and result backend are given on the command line (``celery -b … --result-backend …``
for the worker, ``measure.py --redis-url …`` for the client), so nothing here reads the
environment.
"""

from typing import Any

from celery import Celery

app = Celery("taskbus_baseline")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
)


def _noop() -> None:
    """Nothing: the baseline measures the machinery around a task, not the task."""


noop: Any = app.task(name="baseline.noop")(_noop)
