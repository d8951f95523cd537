"""Processes die mid-work (kill -9); nothing accepted is lost and nothing is applied twice."""

import asyncio
import json
from uuid import UUID

import asyncpg
import nats
from support.fixtures import SystemFactory
from support.system import System
from taskbus.events import TaskEventAdapter
from taskbus.readmodel.fold import fold
from taskbus.readmodel.state import TaskState
from taskbus.subjects import Subjects


def _event_types(system: System, task_id: str) -> list[str]:
    return [e["type"] for e in system.client.get(f"/api/tasks/{task_id}/events").json()["items"]]


def test_killed_worker_loses_nothing_the_task_is_redelivered(system_factory: SystemFactory) -> None:
    with system_factory("worker-kill") as s:
        task = s.submit("csv_processing", {"num_rows": 5000, "processing_time": 3})
        s.wait_for_status(task["id"], "RUNNING")

        s.kill("taskbus-worker-csv")
        s.start("taskbus-worker-csv")
        done = s.wait_for_status(task["id"], "SUCCESS", "FAILED")
        types = _event_types(s, task["id"])

    assert done["status"] == "SUCCESS"
    assert done["attempts"] == 1
    assert types.count("TaskStarted") == 2, "the same attempt ran again after redelivery"
    assert types.count("TaskSucceeded") == 1


def test_killed_projector_applies_no_event_twice(system_factory: SystemFactory) -> None:
    with system_factory("projector-kill") as s:
        tasks = [s.submit("csv_processing", {"num_rows": 10}) for _ in range(60)]
        s.kill("taskbus-projector")
        # Accepted while no projector runs: they must all appear once it is back.
        tasks += [s.submit("csv_processing", {"num_rows": 10}, wait=0) for _ in range(60)]
        s.start("taskbus-projector")
        for task in tasks:
            s.wait_for_status(task["id"], "SUCCESS")
        s.wait_until_projected()
        stream_messages, task_events, position, mismatches = asyncio.run(_audit(s))

    assert task_events == stream_messages
    assert position == stream_messages
    assert mismatches == []


async def _audit(system: System) -> tuple[int, int, int, list[UUID]]:
    """Compare the read model with the log: counts, position, and a re-fold of every task."""
    subjects = Subjects(system.namespace)
    nc = await nats.connect(system.env["NATS_URL"])
    try:
        info = await nc.jetstream().stream_info(subjects.stream)
    finally:
        await nc.close()
    conn = await asyncpg.connect(system.env["DATABASE_URL"])
    try:
        await conn.execute("SET search_path TO taskbus")
        events = await conn.fetch(
            "SELECT seq, type, task_id, time, data FROM task_events ORDER BY seq"
        )
        position = await conn.fetchval("SELECT seq FROM projection_position")
        rows = {
            r["id"]: r for r in await conn.fetch("SELECT id, status, attempts, last_seq FROM tasks")
        }
    finally:
        await conn.close()
    states: dict[UUID, TaskState | None] = {}
    for row in events:
        event = TaskEventAdapter.validate_python(
            {
                **json.loads(row["data"]),
                "type": row["type"],
                "task_id": row["task_id"],
                "time": row["time"],
            }
        )
        states[row["task_id"]] = fold(states.get(row["task_id"]), event, row["seq"])
    mismatches = [
        task_id
        for task_id, state in states.items()
        if state is None
        or (state.status.value, state.attempts, state.last_seq)
        != (rows[task_id]["status"], rows[task_id]["attempts"], rows[task_id]["last_seq"])
    ]
    return info.state.messages, len(events), position, mismatches
