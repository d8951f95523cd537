"""Each command event records who asked, from where and why; ``GET /api/audit`` lists them."""

import secrets
from collections.abc import Iterator

import pytest
from support.fixtures import SystemFactory
from support.system import System
from taskbus_api.keys import digest_of

OPS_KEY = secrets.token_urlsafe(32)
AUDITOR_KEY = secrets.token_urlsafe(32)
# Paced, so that it is still running when it is cancelled.
SLOW_CSV = {"task_type": "csv_processing", "parameters": {"num_rows": 50, "processing_time": 60}}


@pytest.fixture(scope="module")
def audited(system_factory: SystemFactory) -> Iterator[System]:
    keys = f"ops-eu:operate:{digest_of(OPS_KEY).hex()},auditor:read:{digest_of(AUDITOR_KEY).hex()}"
    services = ("taskbus-api", "taskbus-projector")
    with system_factory("audit", services=services, extra_env={"TASKBUS_API_KEYS": keys}) as held:
        yield held


def test_commands_record_actor_via_and_reason_in_the_timeline_and_the_audit(
    audited: System,
) -> None:
    ops = {"X-API-Key": OPS_KEY}
    submitted = audited.client.post(
        "/api/tasks/submit", json=SLOW_CSV, headers={**ops, "X-Taskbus-Via": "cli"}
    )
    task_id = submitted.json()["id"]
    cancelled = audited.client.request(
        "DELETE",
        f"/api/tasks/{task_id}",
        json={"reason": "wrong input"},
        headers={**ops, "X-Taskbus-Via": "cli"},
    )
    retried = audited.client.post(f"/api/tasks/{task_id}/retry", headers=ops)
    events = audited.client.get(f"/api/tasks/{task_id}/events", headers=ops).json()["items"]
    audit = audited.client.get(
        "/api/audit", params={"actor": "ops-eu"}, headers={"X-API-Key": AUDITOR_KEY}
    )

    assert (submitted.status_code, cancelled.status_code, retried.status_code) == (201, 202, 202)
    commands = {e["type"]: e["data"] for e in events if e["data"].get("actor")}
    submit = commands["TaskSubmitted"]
    assert (submit["actor"], submit["via"], submit["reason"]) == ("ops-eu", "cli", None)
    assert commands["TaskCancelled"] == {
        "actor": "ops-eu",
        "via": "cli",
        "reason": "wrong input",
        "task_type": "csv_processing",
    }
    assert (commands["TaskRetried"]["actor"], commands["TaskRetried"]["via"]) == ("ops-eu", "api")
    assert audit.status_code == 200, audit.text
    mine = [item for item in audit.json()["items"] if item["task_id"] == task_id]
    assert [(i["command"], i["actor"], i["via"], i["reason"]) for i in mine] == [
        ("retry", "ops-eu", "api", None),
        ("cancel", "ops-eu", "cli", "wrong input"),
        ("submit", "ops-eu", "cli", None),
    ]
    assert [i["seq"] for i in mine] == sorted((i["seq"] for i in mine), reverse=True)


def test_the_audit_pages_and_filters_by_actor(audited: System) -> None:
    ops = {"X-API-Key": OPS_KEY}
    for _ in range(3):
        response = audited.client.post("/api/tasks/submit", json=SLOW_CSV, headers=ops)
        assert response.status_code == 201
    first = audited.client.get("/api/audit", params={"limit": 2}, headers=ops).json()
    second = audited.client.get(
        "/api/audit", params={"limit": 2, "cursor": first["next_cursor"]}, headers=ops
    ).json()
    nobody = audited.client.get("/api/audit", params={"actor": "auditor"}, headers=ops).json()

    assert len(first["items"]) == 2
    assert first["next_cursor"] is not None
    assert max(i["seq"] for i in second["items"]) < min(i["seq"] for i in first["items"])
    assert nobody == {"items": [], "next_cursor": None}


def test_bad_provenance_is_refused(audited: System) -> None:
    ops = {"X-API-Key": OPS_KEY}
    task = audited.client.post("/api/tasks/submit", json=SLOW_CSV, headers=ops).json()

    unknown_via = audited.client.post(
        "/api/tasks/submit", json=SLOW_CSV, headers={**ops, "X-Taskbus-Via": "pager"}
    )
    long_reason = audited.client.request(
        "DELETE", f"/api/tasks/{task['id']}", json={"reason": "x" * 501}, headers=ops
    )

    assert unknown_via.status_code == 422
    assert long_reason.status_code == 422


def test_without_keys_the_actor_is_anonymous(system: System) -> None:
    task = system.submit("csv_processing", {"num_rows": 5}, wait=0)
    events = system.client.get(f"/api/tasks/{task['id']}/events").json()["items"]

    assert (events[0]["data"]["actor"], events[0]["data"]["via"]) == ("anonymous", "api")
