"""Read-your-writes as a plain client meets it: a command, then at once a read, on any replica.

Nothing here passes ``?wait=`` or waits on a read-model position: each read follows its
command immediately, half of them through a second API replica, as clients behind a load
balancer would. Workers are stopped where a test needs a task to stay put.
"""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support.fixtures import SystemFactory
from support.system import System

pytestmark = pytest.mark.faults

_SLOW = {"task_type": "csv_processing", "parameters": {"num_rows": 10, "processing_time": 30}}
_ROUNDS = 25


@pytest.fixture(scope="module")
def replicated(system_factory: SystemFactory) -> Iterator[tuple[System, httpx.Client]]:
    """A system with two API replicas and no worker, so tasks stay where commands put them."""
    with system_factory(
        "read-your-writes",
        services=("taskbus-api", "taskbus-projector"),
        # A list waits this long for a stopped projector before it says the model is behind.
        extra_env={"API_READ_WAIT_S": "1"},
    ) as system:
        yield system, system.start_api_replica("taskbus-api-2")


def _ok(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_submit_then_read_at_once_on_either_replica(
    replicated: tuple[System, httpx.Client],
) -> None:
    system, other = replicated
    for i in range(_ROUNDS):
        writer, reader = (system.client, other) if i % 2 else (other, system.client)
        task = _ok(writer.post("/api/tasks/submit", json={**_SLOW, "name": f"ryw-{i}"}), 201)

        read = _ok(reader.get(f"/api/tasks/{task['id']}"), 200)
        events = _ok(reader.get(f"/api/tasks/{task['id']}/events"), 200)["items"]
        listed = _ok(reader.get("/api/tasks/", params={"q": f"ryw-{i}"}), 200)["items"]

        assert read["status"] == "PENDING"
        assert read["id"] == task["id"]
        assert [e["type"] for e in events] == ["TaskSubmitted"]
        assert [t["id"] for t in listed] == [task["id"]]


def test_cancel_and_retry_at_once_after_submit(replicated: tuple[System, httpx.Client]) -> None:
    system, other = replicated
    for i in range(_ROUNDS):
        writer, reader = (system.client, other) if i % 2 else (other, system.client)
        task = _ok(writer.post("/api/tasks/submit", json=_SLOW), 201)

        cancelled = _ok(reader.delete(f"/api/tasks/{task['id']}"), 202)
        seen = _ok(writer.get(f"/api/tasks/{task['id']}"), 200)
        assert cancelled["status"] == seen["status"] == "CANCELLED"

        retried = _ok(writer.post(f"/api/tasks/{task['id']}/retry"), 202)
        seen = _ok(reader.get(f"/api/tasks/{task['id']}"), 200)
        assert retried["status"] == seen["status"] == "PENDING"
        assert retried["attempts"] == seen["attempts"] == 2
        listed = _ok(reader.get("/api/tasks/", params={"status": "PENDING", "limit": 200}), 200)
        assert task["id"] in {t["id"] for t in listed["items"]}


def test_commands_refuse_by_the_latest_state(replicated: tuple[System, httpx.Client]) -> None:
    system, other = replicated
    task = _ok(system.client.post("/api/tasks/submit", json=_SLOW), 201)
    _ok(other.delete(f"/api/tasks/{task['id']}"), 202)

    again = system.client.delete(f"/api/tasks/{task['id']}")
    _ok(other.post(f"/api/tasks/{task['id']}/retry"), 202)
    twice = system.client.post(f"/api/tasks/{task['id']}/retry")

    assert again.status_code == 409
    assert "CANCELLED" in again.json()["detail"]
    assert twice.status_code == 409
    assert "PENDING" in twice.json()["detail"]
    events = _ok(other.get(f"/api/tasks/{task['id']}/events"), 200)["items"]
    kinds = [e["type"] for e in events]
    assert kinds == ["TaskSubmitted", "TaskCancelled", "TaskRetried"]


def test_unknown_task_is_404_for_reads_and_commands(
    replicated: tuple[System, httpx.Client],
) -> None:
    _, other = replicated
    missing = "00000000-0000-4000-8000-000000000000"
    for response in (
        other.get(f"/api/tasks/{missing}"),
        other.get(f"/api/tasks/{missing}/events"),
        other.delete(f"/api/tasks/{missing}"),
        other.post(f"/api/tasks/{missing}/retry"),
    ):
        assert response.status_code == 404
        assert missing in response.json()["detail"]


def test_reads_follow_the_log_while_the_projector_is_down(
    replicated: tuple[System, httpx.Client],
) -> None:
    system, other = replicated
    system.stop("taskbus-projector")
    try:
        task = _ok(system.client.post("/api/tasks/submit", json=_SLOW), 201)
        cancelled = _ok(other.delete(f"/api/tasks/{task['id']}"), 202)

        read = _ok(other.get(f"/api/tasks/{task['id']}"), 200)
        events = _ok(system.client.get(f"/api/tasks/{task['id']}/events"), 200)["items"]
        listed = other.get("/api/tasks/")
    finally:
        system.start("taskbus-projector")

    assert read["status"] == "CANCELLED"
    assert read["seq"] == cancelled["seq"]
    assert [e["type"] for e in events] == ["TaskSubmitted", "TaskCancelled"]
    # A list cannot be folded from one task's events: it says the read model is behind.
    assert listed.status_code == 503
    assert "behind the log" in listed.json()["detail"]
    assert _ok(other.get(f"/api/tasks/{task['id']}"), 200)["status"] == "CANCELLED"
