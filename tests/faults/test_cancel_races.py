"""Cancels sent at every moment around a task's start, as a plain HTTP client sends them.

Whatever the moment, a cancel the API accepted wins: the task ends CANCELLED and its
history has no worker event after the TaskCancelled (no start, progress, checkpoint or end).
"""

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from support.system import System

WORKER_EVENTS = {"TaskStarted", "TaskProgress", "TaskCheckpoint", "TaskSucceeded", "TaskFailed"}
OFFSETS_S = [i * 0.003 for i in range(30)]


def _submit_then_cancel(system: System, after_s: float) -> tuple[str, int]:
    response = system.client.post(
        "/api/tasks/submit",
        # Paced to outlast the latest cancel even on a busy machine: a task that ends first
        # (409) shows nothing of the race.
        json={
            "task_type": "csv_processing",
            "parameters": {"num_rows": 50, "processing_time": 0.15},
        },
    )
    assert response.status_code == 201, response.text
    task_id: str = response.json()["id"]
    time.sleep(after_s)
    return task_id, system.client.delete(f"/api/tasks/{task_id}").status_code


def _events(system: System, task_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = system.client.get(f"/api/tasks/{task_id}/events").json()["items"]
    return items


def test_an_accepted_cancel_wins_at_every_moment_of_a_start(system: System) -> None:
    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(lambda s: _submit_then_cancel(system, s), OFFSETS_S))

    statuses: dict[str, int] = {}
    for task_id, code in outcomes:
        assert code in (202, 409), code
        done = system.wait_for_status(task_id, "SUCCESS", "CANCELLED", "FAILED")
        statuses[task_id] = code
        kinds = [event["type"] for event in _events(system, task_id)]
        if code == 202:
            assert done["status"] == "CANCELLED", done
            after_cancel = kinds[kinds.index("TaskCancelled") + 1 :]
            assert not WORKER_EVENTS & set(after_cancel), (task_id, kinds)
        else:
            assert done["status"] == "SUCCESS", done
            assert "TaskCancelled" not in kinds
    # The offsets reach past the start: the race was run, not avoided.
    assert 202 in statuses.values()
