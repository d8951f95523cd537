"""Running tasks for real: transitions, progress, each type's result, failures, health."""

from support.system import System
from taskbus.devrun.smtp import MailTrap


def _event_types(system: System, task_id: str) -> list[str]:
    items = system.client.get(f"/api/tasks/{task_id}/events").json()["items"]
    return [e["type"] for e in items]


def test_history_keeps_each_event_as_logged_less_its_envelope(system: System) -> None:
    task = system.submit("csv_processing", {"num_rows": 10})
    done = system.wait_for_status(task["id"], "SUCCESS")

    items = system.client.get(f"/api/tasks/{task['id']}/events").json()["items"]

    assert all({"type", "task_id", "time"}.isdisjoint(item["data"]) for item in items)
    assert items[0]["type"] == "TaskSubmitted"
    assert items[0]["data"]["parameters"] == done["parameters"]
    assert items[-1]["data"]["result"] == done["result"]


def test_status_transitions_pending_running_success(system: System) -> None:
    task = system.submit("csv_processing", {"num_rows": 2000, "processing_time": 1})

    seen: list[str] = []
    for state in system.watch(task["id"]):
        if not seen or seen[-1] != state["status"]:
            seen.append(state["status"])
        if state["status"] == "SUCCESS":
            break

    assert seen[0] in {"PENDING", "RUNNING"}
    assert seen[-2:] == ["RUNNING", "SUCCESS"]
    types = _event_types(system, task["id"])
    assert types[:2] == ["TaskSubmitted", "TaskStarted"]
    assert types[-1] == "TaskSucceeded"
    done = system.get(task["id"])
    assert done["started_at"] <= done["completed_at"]
    assert done["progress"] == 100


def test_progress_is_tracked_and_monotonic(system: System) -> None:
    task = system.submit("csv_processing", {"num_rows": 5000, "processing_time": 2})

    progress = [
        state["progress"]
        for state in _until_success(system, task["id"])
        if state["status"] == "RUNNING"
    ]

    assert any(0 < p < 100 for p in progress), progress
    assert progress == sorted(progress)
    reported = [
        e["data"]["progress"]
        for e in system.client.get(f"/api/tasks/{task['id']}/events").json()["items"]
        if e["type"] == "TaskProgress"
    ]
    assert len(reported) >= 5
    assert reported == sorted(reported)


def _until_success(system: System, task_id: str) -> list[dict[str, object]]:
    states = []
    for state in system.watch(task_id):
        states.append(state)
        if state["status"] in {"SUCCESS", "FAILED"}:
            break
    return states


def test_csv_processing_computes_real_statistics(system: System) -> None:
    task = system.submit("csv_processing", {"num_rows": 500, "seed": 7})

    done = system.wait_for_status(task["id"], "SUCCESS", "FAILED")

    assert done["status"] == "SUCCESS", done["error"]
    result = done["result"]
    assert result["rows"] == 500
    numeric = [c for c in result["columns"].values() if c["kind"] == "numeric"]
    assert numeric
    for column in numeric:
        assert column["count"] + column["nulls"] == 500
        assert column["min"] <= column["mean"] <= column["max"]
        assert column["std"] >= 0
        assert abs(column["sum"] - column["mean"] * column["count"]) < 1e-6 * max(
            1, abs(column["sum"])
        )


def test_email_sending_delivers_over_smtp(system: System, smtp_server: MailTrap) -> None:
    recipients = [{"email": "ada@example.com", "name": "Ada"}, "bob@example.com"]
    task = system.submit(
        "email_sending",
        {"recipients": recipients, "subject": "Hello {name}", "body": "Dear {name} <{email}>"},
    )

    done = system.wait_for_status(task["id"], "SUCCESS", "FAILED")

    assert done["status"] == "SUCCESS", done["error"]
    assert done["result"]["sent"] == 2
    assert done["result"]["failed"] == 0
    ids = {r["message_id"] for r in done["result"]["recipients"]}
    delivered = [m.message for m in smtp_server.messages if m.message["Message-ID"] in ids]
    assert len(delivered) == 2
    ada = next(m for m in delivered if "ada@example.com" in m["To"])
    assert any("bob@example.com" in m["To"] for m in delivered)
    assert ada["Subject"] == "Hello Ada"
    assert "Dear Ada <ada@example.com>" in ada.get_content()


def test_image_processing_resizes_into_the_box(system: System) -> None:
    task = system.submit(
        "image_processing",
        {"num_images": 3, "target_width": 120, "target_height": 80, "format": "PNG"},
    )

    done = system.wait_for_status(task["id"], "SUCCESS", "FAILED")

    assert done["status"] == "SUCCESS", done["error"]
    images = done["result"]["images"]
    assert len(images) == 3
    for image in images:
        assert 0 < image["width"] <= 120
        assert 0 < image["height"] <= 80
        assert image["bytes"] > 0


def test_failure_is_recorded_with_its_error(system: System) -> None:
    task = system.submit_failing(max_attempts=1)

    failed = system.wait_for_status(task["id"], "FAILED")

    assert failed["error"]
    assert failed["completed_at"] is not None
    events = system.client.get(f"/api/tasks/{task['id']}/events").json()["items"]
    failure = next(e for e in events if e["type"] == "TaskFailed")
    assert failure["data"]["attempt"] == 1
    assert failure["data"]["will_retry"] is False
    assert failure["data"]["error"] == failed["error"]


def test_timeout_ends_the_attempt_failed(system: System) -> None:
    task = system.submit(
        "csv_processing", {"num_rows": 1000, "processing_time": 30}, timeout_s=0.5, max_attempts=1
    )

    failed = system.wait_for_status(task["id"], "FAILED")

    events = system.client.get(f"/api/tasks/{task['id']}/events").json()["items"]
    assert next(e for e in events if e["type"] == "TaskFailed")["data"]["reason"] == "timeout"
    assert "timed out" in failed["error"]


def test_health_reports_dependencies(system: System) -> None:
    response = system.client.get("/api/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["nats"] is body["postgres"] is body["stream"] is True
    assert body["projector_lag"] >= 0
