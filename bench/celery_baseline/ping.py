"""Waiting for a Celery worker, shared by the baseline's clients (run in the Celery venv)."""

import time

from celery import Celery


def wait_for_worker(app: Celery, timeout: float) -> None:
    """Return once a worker answers a ping; exit naming the wait otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app.control.ping(timeout=0.5):
            return
    raise SystemExit(f"no Celery worker answered a ping within {timeout} s")
