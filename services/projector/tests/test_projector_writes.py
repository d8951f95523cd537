"""The projector against the session's NATS and Postgres: what it sets aside, what it fences."""

import asyncio
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from nats.aio.client import Client as NATS
from taskbus.eventlog import ensure_stream
from taskbus.readmodel.schema import migrate
from taskbus_projector.leadership import projector_pool
from taskbus_projector.lease import LeaseLost, try_acquire
from taskbus_projector.projector import Projector
from taskbus_projector.settings import ProjectorSettings

SCHEMA = "taskbus"
KIND = "csv_processing"


@dataclass
class Setup:
    nc: NATS
    settings: ProjectorSettings
    pool: asyncpg.Pool

    def projector(self) -> Projector:
        return Projector(self.nc, self.pool, self.settings, schema=SCHEMA)

    async def publish(self, event_type: str, task_id: uuid.UUID, **fields: Any) -> None:
        """An event as a producer outside taskbus might write it: NaN, huge numbers and all."""
        body = {
            "type": event_type,
            "task_id": str(task_id),
            "task_type": KIND,
            "time": datetime.now(UTC).isoformat(),
            **fields,
        }
        subject = self.settings.subjects.event(event_type, KIND, task_id)
        await self.nc.jetstream().publish(subject, json.dumps(body).encode())


@pytest.fixture
async def setup(nats_client: NATS, fresh_database_url: str) -> AsyncIterator[Setup]:
    """A stream of its own and an empty read model."""
    settings = ProjectorSettings(
        database_url=fresh_database_url,
        namespace=f"p{secrets.token_hex(4)}",
        fetch_timeout_s=0.2,
    )
    js = nats_client.jetstream()
    await ensure_stream(js, settings)
    pool = await projector_pool(settings, SCHEMA, max_size=4)
    async with pool.acquire() as conn:
        await migrate(conn, SCHEMA)
    yield Setup(nats_client, settings, pool)
    await pool.close()
    await js.delete_stream(settings.subjects.stream)


def _submitted(**extra: Any) -> dict[str, Any]:
    return {"parameters": {}, "attempt": 1, "max_attempts": 1, **extra}


async def test_refused_events_are_picked_out_of_a_batch_and_the_rest_lands(setup: Setup) -> None:
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await setup.publish("TaskSubmitted", a, **_submitted())  # 1
    await setup.publish("TaskCheckpoint", a, attempt=1, data={"x": float("nan")})  # 2: jsonb
    await setup.publish("TaskSubmitted", b, **_submitted())  # 3
    await setup.publish("TaskStarted", a, attempt=1, worker_id="w")  # 4
    await setup.publish("TaskSucceeded", b, attempt=1, result={"r": float("inf")})  # 5: jsonb
    await setup.publish("TaskSubmitted", c, **_submitted())  # 6
    await setup.publish("TaskCancelled", c)  # 7
    # An attempt number no int column holds: asyncpg refuses to encode it.
    await setup.publish("TaskRetried", c, **_submitted(attempt=2**40))  # 8
    await setup.publish("TaskStarted", b, attempt=1, worker_id="w")  # 9

    projector = setup.projector()
    await projector.run(asyncio.Event(), until_caught_up=True)
    quarantined = await setup.pool.fetch("SELECT seq, event_type FROM quarantined_events")
    tasks = {r["id"]: r for r in await setup.pool.fetch("SELECT * FROM tasks")}
    history = await setup.pool.fetch("SELECT seq, type FROM task_events ORDER BY seq")

    assert projector.position == 9
    assert await setup.pool.fetchval("SELECT seq FROM projection_position") == 9
    assert sorted((q["seq"], q["event_type"]) for q in quarantined) == [
        (2, "TaskCheckpoint"),
        (5, "TaskSucceeded"),
        (8, "TaskRetried"),
    ]
    assert (tasks[a]["status"], tasks[a]["last_seq"]) == ("RUNNING", 4)
    assert (tasks[b]["status"], tasks[b]["result"], tasks[b]["last_seq"]) == ("RUNNING", None, 9)
    assert (tasks[c]["status"], tasks[c]["attempts"], tasks[c]["last_seq"]) == ("CANCELLED", 1, 8)
    assert [r["seq"] for r in history] == list(range(1, 10))
    assert [r["seq"] for r in history if r["type"] == "EventQuarantined"] == [2, 5, 8]


async def test_undecodable_and_unknown_field_events(setup: Setup) -> None:
    known, garbage = uuid.uuid4(), uuid.uuid4()
    await setup.publish("TaskSubmitted", known, **_submitted(priority="high"))
    subject = setup.settings.subjects.event("TaskStarted", KIND, garbage)
    await setup.nc.jetstream().publish(subject, b"\xff not json")

    await setup.projector().run(asyncio.Event(), until_caught_up=True)
    (rejected,) = await setup.pool.fetch("SELECT * FROM quarantined_events")
    status = await setup.pool.fetchval("SELECT status FROM tasks WHERE id = $1", known)

    assert status == "PENDING"
    assert (rejected["seq"], rejected["task_id"], rejected["subject"]) == (2, garbage, subject)
    assert rejected["raw"] == b"\xff not json"
    assert rejected["event_type"] is None


async def test_a_deposed_leader_writes_nothing(setup: Setup) -> None:
    ttl = setup.settings.lease_ttl_s
    old = await try_acquire(setup.pool, SCHEMA, "tasks", "old", ttl)
    assert old is not None
    await setup.pool.execute("UPDATE projector_lease SET expires_at = now()")
    assert await try_acquire(setup.pool, SCHEMA, "tasks", "new", ttl) is not None
    await setup.publish("TaskSubmitted", uuid.uuid4(), **_submitted())

    with pytest.raises(LeaseLost):
        await setup.projector().run(asyncio.Event(), fence=old)

    assert await setup.pool.fetchval("SELECT count(*) FROM tasks") == 0
    assert await setup.pool.fetchval("SELECT count(*) FROM projection_position") == 0
    assert old.lost.is_set()


async def test_an_event_on_another_tasks_subject_does_not_look_like_a_replaced_log(
    setup: Setup,
) -> None:
    """The check that the log is the one folded compares the task the read model recorded at
    its position with the log's event there: a forged subject must not halt a restart."""
    own, other = uuid.uuid4(), uuid.uuid4()
    await setup.publish("TaskSubmitted", own, **_submitted())
    body = json.dumps({"type": "TaskCancelled", "task_id": str(own), "task_type": KIND})
    subject = setup.settings.subjects.event("TaskCancelled", KIND, other)
    await setup.nc.jetstream().publish(subject, body.encode())
    await setup.projector().run(asyncio.Event(), until_caught_up=True)

    restarted = setup.projector()
    await asyncio.wait_for(restarted.run(asyncio.Event(), until_caught_up=True), 10)

    assert restarted.position == 2


async def test_a_submit_of_a_task_that_has_a_row_is_folded_onto_that_row(setup: Setup) -> None:
    """A TaskSubmitted whose task the projector has no state of is presumed new and not
    looked up; the write finds the row and the batch is folded again from it."""
    task = uuid.uuid4()
    await setup.publish("TaskSubmitted", task, **_submitted())  # 1
    await setup.publish("TaskStarted", task, attempt=1, worker_id="w")  # 2
    await setup.publish("TaskSucceeded", task, attempt=1, result={"n": 1})  # 3
    await setup.projector().run(asyncio.Event(), until_caught_up=True)
    other = uuid.uuid4()
    await setup.publish("TaskSubmitted", other, **_submitted())  # 4
    await setup.publish("TaskSubmitted", task, **_submitted(name="again"))  # 5: not new
    await setup.publish("TaskStarted", other, attempt=1, worker_id="w")  # 6

    projector = setup.projector()
    await projector.run(asyncio.Event(), until_caught_up=True)
    rows = {r["id"]: r for r in await setup.pool.fetch("SELECT * FROM tasks")}
    history = await setup.pool.fetch("SELECT seq FROM task_events ORDER BY seq")

    assert projector.position == 6
    assert (rows[task]["status"], rows[task]["name"], rows[task]["created_seq"]) == (
        "SUCCESS",
        None,
        1,
    )
    assert json.loads(rows[task]["result"]) == {"n": 1}
    assert rows[task]["last_seq"] == 5
    assert (rows[other]["status"], rows[other]["last_seq"]) == ("RUNNING", 6)
    assert [r["seq"] for r in history] == list(range(1, 7))


async def test_batches_look_tasks_up_by_key_though_planned_on_an_empty_table(
    setup: Setup, fresh_database_url: str
) -> None:
    """The projector's sessions plan each statement once, when the read model may still be
    empty; a plan that scanned the whole table then would scan it for every batch for good."""
    tasks = [uuid.uuid4() for _ in range(20)]
    for task in tasks:
        await setup.publish("TaskSubmitted", task, **_submitted())
    for task in tasks:
        await setup.publish("TaskStarted", task, attempt=1, worker_id="w")
    settings = setup.settings.model_copy(update={"batch_size": 4})
    pool = await projector_pool(settings, SCHEMA, max_size=2)
    try:
        projector = Projector(setup.nc, pool, settings, schema=SCHEMA)
        await projector.run(asyncio.Event(), until_caught_up=True)
    finally:
        await pool.close()  # its sessions end, and their statistics with them
    conn = await asyncpg.connect(fresh_database_url)
    try:
        scans = await conn.fetchval(
            "SELECT seq_scan FROM pg_stat_user_tables WHERE relid = 'taskbus.tasks'::regclass"
        )
        running = await conn.fetchval("SELECT count(*) FROM taskbus.tasks WHERE status = 'RUNNING'")
    finally:
        await conn.close()

    assert projector.position == 40
    assert running == 20
    assert scans == 0
