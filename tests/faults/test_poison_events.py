"""Events the projector cannot store as they are must not stop the read model."""

import asyncio
import uuid

import nats
from support.system import System
from taskbus.eventlog import EventLog
from taskbus.events import TaskFailed, TaskStarted
from taskbus.subjects import Subjects


async def _append_raw(system: System, task_id: uuid.UUID) -> None:
    """A producer outside the API: garbage on a task subject, and an error holding NUL."""
    subjects = Subjects(system.namespace)
    nc = await nats.connect(system.env["NATS_URL"])
    try:
        js = nc.jetstream()
        log = EventLog(js, subjects)
        kind = "csv_processing"
        await js.publish(subjects.event("TaskStarted", kind, task_id), b"\xff not json")
        await log.append(TaskStarted(task_id=task_id, task_type=kind, attempt=1, worker_id="x"))
        await log.append(
            TaskFailed(task_id=task_id, task_type=kind, attempt=1, error="bad byte \x00 here")
        )
    finally:
        await nc.close()


def test_undecodable_and_nul_bearing_events_do_not_stop_the_projector(system: System) -> None:
    victim = system.submit("csv_processing", {"num_rows": 10, "processing_time": 30})
    system.client.delete(f"/api/tasks/{victim['id']}", params={"wait": 10})

    asyncio.run(_append_raw(system, uuid.UUID(victim["id"])))
    after = system.submit("csv_processing", {"num_rows": 10})

    assert system.wait_for_status(after["id"], "SUCCESS")["status"] == "SUCCESS"
    events = system.client.get(f"/api/tasks/{victim['id']}/events").json()["items"]
    failure = next(
        e for e in events if e["type"] == "TaskFailed" and "bad byte" in e["data"]["error"]
    )
    assert "\x00" not in failure["data"]["error"]
    assert system.get(victim["id"])["status"] == "CANCELLED"
