"""No event can stop the read model, and events from a newer writer are still folded and run.

Events are forged the way a buggy or newer producer would write them, straight to the stream:
JSON that Postgres's jsonb refuses (NaN, Infinity) and a TaskSubmitted with a field this
version does not know.
"""

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import nats
import pytest
from support.fixtures import SystemFactory
from support.system import System
from taskbus.eventlog import ensure_stream
from taskbus.settings import CommonSettings
from taskbus.subjects import Subjects

pytestmark = pytest.mark.faults


async def _publish_raw(system: System, messages: list[tuple[str, bytes]]) -> None:
    nc = await nats.connect(system.env["NATS_URL"])
    try:
        js = nc.jetstream()
        for subject, data in messages:
            await js.publish(subject, data)
    finally:
        await nc.close()


def _event(event_type: str, task_type: str, task_id: uuid.UUID, **fields: Any) -> bytes:
    """An event's JSON as a producer outside taskbus might write it (NaN and all)."""
    body = {
        "type": event_type,
        "task_id": str(task_id),
        "task_type": task_type,
        "time": datetime.now(UTC).isoformat(),
        **fields,
    }
    return json.dumps(body).encode()


async def _fetch(system: System, query: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(system.env["DATABASE_URL"])
    try:
        await conn.execute("SET search_path TO taskbus")
        return list(await conn.fetch(query))
    finally:
        await conn.close()


def _until(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def _listed(system: System, task_id: str) -> bool:
    """Whether the read model itself has the task (a list is answered by it alone)."""
    response = system.client.get("/api/tasks/", params={"q": task_id[:8]})
    return response.status_code == 200 and any(t["id"] == task_id for t in response.json()["items"])


def test_events_postgres_refuses_are_quarantined_and_the_rest_lands(
    system_factory: SystemFactory,
) -> None:
    """Before: the projector retried the batch holding a NaN checkpoint forever (new tasks
    stayed out of the read model, health said ok with the lag growing). After: the refused
    events are set aside, alone, and everything around them lands."""
    with system_factory(
        "projector-poison", services=("taskbus-api", "taskbus-projector", "taskbus-worker-csv")
    ) as s:
        subjects = Subjects(s.namespace)
        # No image worker runs here: the forged task's events are the only ones it gets.
        kind, forged = "image_processing", uuid.uuid4()
        # With the projector stopped, everything below arrives in one batch, so the refused
        # events have to be picked out of it.
        s.stop("taskbus-projector")
        before = s.submit("csv_processing", {"num_rows": 10}, wait=0)
        asyncio.run(
            _publish_raw(
                s,
                [
                    (
                        subjects.event("TaskSubmitted", kind, forged),
                        _event(
                            "TaskSubmitted",
                            kind,
                            forged,
                            parameters={},
                            attempt=1,
                            max_attempts=1,
                        ),
                    ),
                    (
                        subjects.event("TaskStarted", kind, forged),
                        _event("TaskStarted", kind, forged, attempt=1, worker_id="forger"),
                    ),
                    (
                        subjects.event("TaskCheckpoint", kind, forged),
                        _event("TaskCheckpoint", kind, forged, attempt=1, data={"x": float("nan")}),
                    ),
                    (
                        subjects.event("TaskSucceeded", kind, forged),
                        _event(
                            "TaskSucceeded", kind, forged, attempt=1, result={"r": float("inf")}
                        ),
                    ),
                ],
            )
        )
        after = s.submit("csv_processing", {"num_rows": 10}, wait=0)
        s.start("taskbus-projector")

        for task in (before, after):
            assert s.wait_for_status(task["id"], "SUCCESS")["status"] == "SUCCESS"
        _until(lambda: _listed(s, after["id"]))
        s.wait_until_projected()
        health = s.client.get("/api/health")
        quarantined = asyncio.run(
            _fetch(
                s, "SELECT seq, subject, event_type, task_id, error, raw FROM quarantined_events"
            )
        )
        timeline = s.client.get(f"/api/tasks/{forged}/events").json()["items"]
        row = asyncio.run(_fetch(s, f"SELECT status, last_seq FROM tasks WHERE id = '{forged}'"))

    assert health.status_code == 200, health.text
    assert health.json()["quarantined_events"] == 2
    assert health.json()["projector_problem"] is None
    assert sorted(q["event_type"] for q in quarantined) == ["TaskCheckpoint", "TaskSucceeded"]
    assert all(q["task_id"] == forged for q in quarantined)
    assert all("json" in q["error"] for q in quarantined)
    assert any(b"NaN" in q["raw"] for q in quarantined)
    # The forged task got what Postgres could store; its timeline marks what it could not.
    assert [e["type"] for e in timeline] == [
        "TaskSubmitted",
        "TaskStarted",
        "EventQuarantined",
        "EventQuarantined",
    ]
    assert [e["seq"] for e in timeline[2:]] == sorted(q["seq"] for q in quarantined)
    assert timeline[2]["data"]["event_type"] == "TaskCheckpoint"
    assert row[0]["status"] == "RUNNING"
    assert row[0]["last_seq"] == max(q["seq"] for q in quarantined)


def test_newer_schema_event_is_projected_and_run(system: System) -> None:
    """Before: a TaskSubmitted with one field this version does not know was dropped by the
    projector and by the worker (never listed, never run, no failure, lag 0). After: unknown
    fields are ignored; the task runs, and its history keeps the event as written."""
    subjects = Subjects(system.namespace)
    kind, task_id = "csv_processing", uuid.uuid4()
    submitted = _event(
        "TaskSubmitted",
        kind,
        task_id,
        name="from-a-newer-writer",
        parameters={"num_rows": 10},
        attempt=1,
        max_attempts=1,
        priority="high",
    )
    asyncio.run(_publish_raw(system, [(subjects.event("TaskSubmitted", kind, task_id), submitted)]))

    done = system.wait_for_status(str(task_id), "SUCCESS", "FAILED")
    _until(lambda: _listed(system, str(task_id)))
    events = system.client.get(f"/api/tasks/{task_id}/events").json()["items"]

    assert done["status"] == "SUCCESS"
    assert done["name"] == "from-a-newer-writer"
    assert events[0]["type"] == "TaskSubmitted"
    assert events[0]["data"]["priority"] == "high"


async def _replace_stream(system: System) -> None:
    """The log restored from an empty backup: the stream deleted and created again, empty."""
    settings = CommonSettings(namespace=system.namespace)
    nc = await nats.connect(system.env["NATS_URL"])
    try:
        js = nc.jetstream()
        await js.delete_stream(settings.subjects.stream)
        await ensure_stream(js, settings)
    finally:
        await nc.close()


def _problem(system: System) -> str | None:
    problem: str | None = system.client.get("/api/health").json()["projector_problem"]
    return problem


def test_a_replaced_log_is_refused_with_the_reason(system_factory: SystemFactory) -> None:
    """Before: a read model ahead of its log (the log restored from an older copy) would
    silently skip every event up to its position. After: the projector refuses, logs why, and
    health is unavailable with the reason, also once the new log has grown past the position
    (its event there is another task's)."""
    with system_factory("projector-past-end", services=("taskbus-api", "taskbus-projector")) as s:
        for _ in range(5):
            s.submit("csv_processing", {"num_rows": 10})
        s.wait_until_projected()
        s.stop("taskbus-projector")
        asyncio.run(_replace_stream(s))
        s.submit("csv_processing", {"num_rows": 10}, wait=0)
        s.start("taskbus-projector")
        s.wait_for_log("taskbus-projector", "refusing to project", "past the log's last sequence")
        _until(lambda: "past the log's last sequence" in (_problem(s) or ""))
        past_end = s.client.get("/api/health")
        for _ in range(5):
            s.submit("csv_processing", {"num_rows": 10}, wait=0)
        s.wait_for_log("taskbus-projector", "refusing to project", "the log was replaced")
        _until(lambda: "is not the one the read model folded" in (_problem(s) or ""))
        replaced = s.client.get("/api/health")
        (count,) = asyncio.run(_fetch(s, "SELECT count(*) AS n FROM tasks"))
        running = s.processes["taskbus-projector"].poll() is None

    assert past_end.status_code == 503
    assert past_end.json()["status"] == "unavailable"
    assert "--rebuild" in past_end.json()["projector_problem"]
    assert replaced.status_code == 503
    assert replaced.json()["projector_position"] == 5
    assert count["n"] == 5, "an event of the new log was folded onto the old read model"
    assert running
