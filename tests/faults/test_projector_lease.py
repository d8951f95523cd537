"""Projector leadership under faults: a leader paused, killed, or cut off from its sessions.

Two projectors run against one read model; the lease row (``projector_lease``) says who
leads and in which epoch. A standby must take over within seconds of the leader's pause or
death, a deposed leader must write nothing and step down without crashing, and the two must
never fight over the stream consumer.
"""

import asyncio
import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
import httpx
import nats
import pytest
from support.fixtures import SystemFactory
from support.system import System
from taskbus.subjects import Subjects

pytestmark = pytest.mark.faults

LEADER, STANDBY = "taskbus-projector", "projector-b"
# The lease's TTL (3 s) plus a standby's poll (0.5 s) and the time to subscribe, with slack.
_TAKEOVER_S = 6.0
_TTL = timedelta(seconds=3)


@pytest.fixture
def pair(system_factory: SystemFactory, request: pytest.FixtureRequest) -> Iterator[System]:
    """The API and two projectors, the first one leading; no workers, so nothing else logs."""
    with system_factory(
        f"projector-lease-{request.node.name}", services=("taskbus-api", "taskbus-projector")
    ) as s:
        _start_standby(s)
        yield s


def _start_standby(s: System) -> None:
    """Start a second projector, which stands by.

    ``System.start`` returns once a projector logs that it follows the log, which a standby
    only does after it took over; so it waits in a thread of its own, and this returns once
    the standby said it stands by.
    """

    def start() -> None:
        with contextlib.suppress(TimeoutError):
            s.start("taskbus-projector", name=STANDBY)

    threading.Thread(target=start, daemon=True).start()
    s.wait_for_log(STANDBY, "another projector leads; standing by")


@dataclass(frozen=True)
class Lease:
    pid: int
    epoch: int


async def _query(s: System, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(s.env["DATABASE_URL"])
    try:
        await conn.execute("SET search_path TO taskbus")
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


def _lease(s: System) -> Lease | None:
    """The lease while it is valid (the holder is ``host:pid``)."""
    rows = asyncio.run(
        _query(s, "SELECT holder, epoch FROM projector_lease WHERE expires_at > now()")
    )
    return Lease(int(rows[0]["holder"].rsplit(":", 1)[1]), rows[0]["epoch"]) if rows else None


def _renewed_after(s: System, at: datetime) -> bool:
    rows = asyncio.run(_query(s, "SELECT expires_at, now() AS now FROM projector_lease"))
    # A renewal sets the expiry to its own now() plus the TTL.
    return bool(rows[0]["expires_at"] - _TTL > at)


def _until(condition: Callable[[], bool], timeout: float = 30) -> float:
    """Seconds until ``condition`` held."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, "condition not met in time"
        time.sleep(0.05)
    return time.monotonic() - started


def _listed(s: System, task_id: str) -> bool:
    """The read model itself has the task (a list is answered from it alone)."""
    response = s.client.get("/api/tasks/", params={"q": task_id[:8]})
    return response.status_code == 200 and any(t["id"] == task_id for t in response.json()["items"])


def _events_folded(s: System, name: str) -> float:
    """How many events the projector ``name`` has committed, by its own metrics."""
    metrics = httpx.get(f"{s.probe_url(name)}/metrics").text
    line = next(
        x for x in metrics.splitlines() if x.startswith("taskbus_projector_events_folded_total ")
    )
    return float(line.split()[1])


def _problem(s: System) -> str:
    return str(s.client.get("/api/health").json()["projector_problem"])


def _audit(s: System) -> tuple[int, int, int]:
    """The log's last sequence, the read model's history rows and its position."""

    async def stream_last() -> int:
        nc = await nats.connect(s.env["NATS_URL"])
        try:
            info = await nc.jetstream().stream_info(Subjects(s.namespace).stream)
            return int(info.state.last_seq)
        finally:
            await nc.close()

    (row,) = asyncio.run(
        _query(
            s,
            "SELECT (SELECT count(*) FROM task_events) AS events,"
            " (SELECT seq FROM projection_position) AS position",
        )
    )
    return asyncio.run(stream_last()), row["events"], row["position"]


def _submit(s: System, count: int) -> list[str]:
    return [s.submit("csv_processing", {"num_rows": 10}, wait=0)["id"] for _ in range(count)]


def _assert_consistent(s: System, task_ids: list[str]) -> None:
    _until(lambda: all(_listed(s, task_id) for task_id in task_ids))
    s.wait_until_projected()
    last, events, position = _audit(s)
    assert events == last, "an event is missing from the read model or was written twice"
    assert position == last


def test_paused_leader_is_replaced_and_fenced(pair: System) -> None:
    """Before: a SIGSTOPped leader froze the read model for as long as it stayed paused while
    the standby waited. After: the standby takes over once the lease expires, and the old
    leader, resumed, commits nothing and steps down."""
    s = pair
    first = _submit(s, 3)
    _assert_consistent(s, first)
    leader, standby = s.processes[LEADER].pid, s.processes[STANDBY].pid
    before = _lease(s)
    assert before is not None
    assert before.pid == leader
    folded_before = _events_folded(s, LEADER)
    after_line = len(s.log_lines(LEADER))

    os.kill(leader, signal.SIGSTOP)
    try:
        paused_at = time.monotonic()
        during = _submit(s, 5)
        takeover_s = _until(lambda: (_lease(s) or before).pid == standby)
        _until(lambda: all(_listed(s, task_id) for task_id in during))
        visible_s = time.monotonic() - paused_at
    finally:
        os.kill(leader, signal.SIGCONT)
    s.wait_for_log(LEADER, "projector steps down", after=after_line)
    s.wait_for_log(LEADER, "another projector leads; standing by", after=after_line)
    later = _submit(s, 3)
    _assert_consistent(s, first + during + later)

    print(f"takeover {takeover_s:.1f} s, tasks visible again {visible_s:.1f} s after the pause")
    assert takeover_s < _TAKEOVER_S
    now = _lease(s)
    assert now == Lease(standby, before.epoch + 1)
    assert _events_folded(s, LEADER) == folded_before, "the deposed leader committed a batch"
    assert s.processes[LEADER].poll() is None, "the deposed leader crashed"


def test_killed_leader_is_replaced_within_seconds(pair: System) -> None:
    """kill -9: nothing releases the lease, so the standby waits out its TTL and takes over."""
    s = pair
    first = _submit(s, 3)
    _assert_consistent(s, first)
    standby = s.processes[STANDBY].pid

    s.kill(LEADER)
    killed_at = time.monotonic()
    during = _submit(s, 5)
    takeover_s = _until(lambda: (_lease(s) or Lease(0, 0)).pid == standby)
    _until(lambda: all(_listed(s, task_id) for task_id in during))
    visible_s = time.monotonic() - killed_at
    _assert_consistent(s, first + during)

    print(f"takeover {takeover_s:.1f} s, tasks visible again {visible_s:.1f} s after the kill")
    assert takeover_s < _TAKEOVER_S


def test_terminated_sessions_leave_one_leader(pair: System) -> None:
    """Before: terminating the session that held the advisory lock let the standby lead
    beside the old leader for ~5 s, each deleting the other's consumer, until the old one
    crashed. After: the leader reconnects and keeps its lease; the standby never leads."""
    s = pair
    before = _lease(s)
    assert before is not None
    assert before.pid == s.processes[LEADER].pid
    application = f"taskbus-projector {before.pid}"
    task_ids: list[str] = []
    terminated = 0
    for _ in range(4):
        task_ids += _submit(s, 5)
        (row,) = asyncio.run(
            _query(
                s,
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n, now() AS at"
                f" FROM pg_stat_activity WHERE application_name = '{application}'",
            )
        )
        terminated += row["n"]
        task_ids += _submit(s, 5)
        # The next round once the leader renewed its lease on a fresh session.
        _until(lambda at=row["at"]: _renewed_after(s, at))
    _assert_consistent(s, task_ids)

    assert terminated >= 4
    assert _lease(s) == before, "the lease changed hands"
    for name in (LEADER, STANDBY):
        lines = "".join(s.log_lines(name))
        assert s.processes[name].poll() is None, f"{name} exited"
        assert "pull interrupted" not in lines, f"{name} lost its consumer"
        assert "Traceback" not in lines
    assert '"projector leads"' not in "".join(s.log_lines(STANDBY))
    assert "steps down" not in "".join(s.log_lines(LEADER))


def test_stalled_projector_makes_health_unavailable(system_factory: SystemFactory) -> None:
    """Before: with the only projector paused, health said ok with the lag growing. After:
    no progress for API_PROJECTOR_STALL_S while behind is a 503 that says so."""
    with system_factory(
        "projector-stalled",
        services=("taskbus-api", "taskbus-projector"),
        extra_env={"API_PROJECTOR_STALL_S": "2"},
    ) as s:
        s.submit("csv_processing", {"num_rows": 10})
        s.wait_until_projected()
        pid = s.processes[LEADER].pid
        os.kill(pid, signal.SIGSTOP)
        try:
            task_id = _submit(s, 1)[0]
            _until(lambda: s.client.get("/api/health").status_code == 503)
            # Then the lease runs out too (its TTL is 3 s), and health says so.
            _until(lambda: "no projector holds the lease" in _problem(s))
            stalled = s.client.get("/api/health").json()
            ready = s.client.get("/readyz").status_code
        finally:
            os.kill(pid, signal.SIGCONT)
        _until(lambda: s.client.get("/api/health").status_code == 200)
        assert _listed(s, task_id)

    assert stalled["status"] == "unavailable"
    assert stalled["postgres"] is stalled["nats"] is True
    assert stalled["projector_lag"] == 1
    assert "made no progress" in stalled["projector_problem"]
    assert ready == 200, "a stuck projector must not take the API out of service"
