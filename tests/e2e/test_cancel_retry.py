"""Cancel and retry: what each status allows, and what the workers then do."""

import uuid

from support.fixtures import SystemFactory
from support.system import System

SLOW_CSV = {"num_rows": 1000, "processing_time": 60}


def test_cancel_pending_task_never_starts(system_factory: SystemFactory) -> None:
    with system_factory("cancel-pending", services=("taskbus-api", "taskbus-projector")) as s:
        task = s.submit("csv_processing", {"num_rows": 10})
        assert s.get(task["id"])["status"] == "PENDING"

        response = s.client.delete(f"/api/tasks/{task['id']}", params={"wait": 10})
        assert response.status_code == 202
        assert response.json()["status"] == "CANCELLED"

        # Only now does a worker appear; it must skip the cancelled task, not run it.
        later = s.submit("csv_processing", {"num_rows": 10})
        s.start("taskbus-worker-csv")
        s.wait_for_status(later["id"], "SUCCESS")

        events = s.client.get(f"/api/tasks/{task['id']}/events").json()["items"]
        assert [e["type"] for e in events] == ["TaskSubmitted", "TaskCancelled"]
        assert s.get(task["id"])["status"] == "CANCELLED"


def test_cancel_running_task_stops_it(system: System) -> None:
    task = system.submit("csv_processing", SLOW_CSV)
    system.wait_for_status(task["id"], "RUNNING")

    response = system.client.delete(f"/api/tasks/{task['id']}", params={"wait": 10})

    assert response.status_code == 202
    assert response.json()["status"] == "CANCELLED"
    types = [
        e["type"] for e in system.client.get(f"/api/tasks/{task['id']}/events").json()["items"]
    ]
    assert "TaskSucceeded" not in types
    # The worker really stops the handler (it does not run on to the end of its 60 s).
    system.wait_for_log("taskbus-worker-csv", task["id"], "attempt stopped: task cancelled")


def test_cancel_unknown_task_is_404(system: System) -> None:
    assert system.client.delete(f"/api/tasks/{uuid.uuid4()}").status_code == 404


def test_cannot_cancel_completed_task(system: System) -> None:
    task = system.submit("csv_processing", {"num_rows": 10})
    system.wait_for_status(task["id"], "SUCCESS")

    response = system.client.delete(f"/api/tasks/{task['id']}")

    assert response.status_code == 409
    assert "SUCCESS" in response.json()["detail"]
    assert system.get(task["id"])["status"] == "SUCCESS"


def test_retry_failed_task_runs_a_new_attempt(system: System) -> None:
    task = system.submit_failing(max_attempts=1)
    failed = system.wait_for_status(task["id"], "FAILED")
    assert failed["error"]

    response = system.client.post(f"/api/tasks/{task['id']}/retry", params={"wait": 10})

    assert response.status_code == 202
    assert response.json()["attempts"] == 2
    again = system.wait_until(task["id"], lambda t: t["attempts"] == 2 and t["status"] == "FAILED")
    assert again["error"]
    assert again["max_attempts"] == 2


def test_retry_cancelled_task_then_it_succeeds(system: System) -> None:
    task = system.submit("csv_processing", SLOW_CSV)
    system.client.delete(f"/api/tasks/{task['id']}", params={"wait": 10})
    system.wait_for_status(task["id"], "CANCELLED")

    response = system.client.post(f"/api/tasks/{task['id']}/retry", params={"wait": 10})

    assert response.status_code == 202
    retried = response.json()
    assert retried["status"] in {"PENDING", "RUNNING"}
    assert retried["attempts"] == 2
    running = system.wait_until(
        task["id"], lambda t: t["attempts"] == 2 and t["status"] == "RUNNING"
    )
    system.client.delete(f"/api/tasks/{running['id']}", params={"wait": 10})


def test_cannot_retry_successful_task(system: System) -> None:
    task = system.submit("csv_processing", {"num_rows": 10})
    system.wait_for_status(task["id"], "SUCCESS")

    response = system.client.post(f"/api/tasks/{task['id']}/retry")

    assert response.status_code == 409
    assert "FAILED or CANCELLED" in response.json()["detail"]


def test_retry_unknown_task_is_404(system: System) -> None:
    assert system.client.post(f"/api/tasks/{uuid.uuid4()}/retry").status_code == 404
