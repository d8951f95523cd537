"""Postgres frozen or killed under load: commands go on, reads fail fast and clearly, all recovers.

The read model is a projection: while Postgres is away the log still takes every command
(submit, cancel, retry decide from it), reads answer 503 within about a second instead of
hanging, health names Postgres, and once it is back every accepted task is folded exactly
once. This module runs its own Postgres, so freezing it disturbs no other test.
"""

import contextlib
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from support.fixtures import ARTIFACTS
from support.system import System, running_system
from taskbus.devrun.postgres import PostgresServer, start_postgres
from taskbus.devrun.smtp import MailTrap

pytestmark = pytest.mark.faults

_SMALL = {"task_type": "csv_processing", "parameters": {"num_rows": 10}}
_SLOW = {"task_type": "csv_processing", "parameters": {"num_rows": 10, "processing_time": 30}}
# A 503 must come within about a second: the API's Postgres timeout (1 s) plus slack.
_FAIL_FAST_S = 2.0


class Postgres:
    """This module's own Postgres, which tests freeze, kill and start again."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.server: PostgresServer = start_postgres(folder / "data", fsync=False)

    def signal(self, sig: signal.Signals) -> None:
        # Each backend leads a process group of its own (for query cancels), so signal the
        # postmaster and every child it forked.
        postmaster = psutil.Process(self.server.process.pid)
        for process in [postmaster, *postmaster.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.server.process.wait()

    def restart(self) -> None:
        port = self.server.port
        self.server = start_postgres(self.folder / "data", port=port, fsync=False)
        # Services hold the old address: the same port or nothing.
        assert self.server.port == port


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    pg = Postgres(tmp_path_factory.mktemp("postgres"))
    try:
        yield pg
    finally:
        pg.signal(signal.SIGCONT)
        pg.server.stop()


@pytest.fixture(scope="module")
def outage_system(postgres: Postgres, nats_url: str, smtp_server: MailTrap) -> Iterator[System]:
    with running_system(
        nats_url=nats_url,
        database_url=postgres.server.dsn(),
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        log_dir=ARTIFACTS / "postgres-outage",
        services=("taskbus-api", "taskbus-projector", "taskbus-worker-csv"),
    ) as system:
        yield system


def _timed(call: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def _submit_many(system: System, count: int, body: dict[str, Any]) -> list[tuple[int, float, str]]:
    """``count`` submits at once: each one's status, seconds taken and task id."""

    def one(_: int) -> tuple[int, float, str]:
        response, took = _timed(lambda: system.client.post("/api/tasks/submit", json=body))
        return response.status_code, took, response.json().get("id", "")

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


def _until(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def _healthy(system: System) -> bool:
    try:
        return system.client.get("/api/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _status(system: System, task_id: str) -> str | None:
    response = system.client.get(f"/api/tasks/{task_id}", timeout=5)
    return str(response.json()["status"]) if response.status_code == 200 else None


def _assert_folded_once(system: System, task_ids: list[str], final: str = "SUCCESS") -> None:
    """Every task reaches ``final`` (a plain client polls), with one terminal event each, and
    the read model itself has them (a list is answered by the read model alone)."""
    _until(lambda: all(_status(system, task_id) == final for task_id in task_ids))
    _until(lambda: set(task_ids) <= _listed(system, final))
    for task_id in task_ids:
        events = system.client.get(f"/api/tasks/{task_id}/events").json()["items"]
        kinds = [event["type"] for event in events]
        assert kinds.count("TaskSubmitted") == 1, kinds
        assert kinds.count("TaskSucceeded" if final == "SUCCESS" else "TaskCancelled") == 1
        assert len({event["seq"] for event in events}) == len(events)


def _listed(system: System, status: str) -> set[str]:
    listed = system.client.get("/api/tasks/", params={"status": status, "limit": 200})
    return {task["id"] for task in listed.json()["items"]} if listed.status_code == 200 else set()


def _assert_reads_fail_fast(system: System, task_id: str) -> None:
    for path in ("/api/tasks/", f"/api/tasks/{task_id}", f"/api/tasks/{task_id}/events"):
        response, took = _timed(lambda path=path: system.client.get(path))
        assert response.status_code == 503, (path, response.text)
        assert "Postgres" in response.json()["detail"]
        assert took < _FAIL_FAST_S, (path, took)
    health, took = _timed(lambda: system.client.get("/api/health"))
    assert health.status_code == 503
    assert health.json()["postgres"] is False
    assert health.json()["nats"] is True
    assert took < _FAIL_FAST_S + 1


def test_frozen_postgres_blocks_no_command(outage_system: System, postgres: Postgres) -> None:
    system = outage_system
    before = [task_id for status, _, task_id in _submit_many(system, 10, _SMALL)]
    _assert_folded_once(system, before)
    postgres.signal(signal.SIGSTOP)
    try:
        accepted = _submit_many(system, 20, _SMALL)
        slow = system.client.post("/api/tasks/submit", json=_SLOW).json()
        cancel, cancel_took = _timed(lambda: system.client.delete(f"/api/tasks/{slow['id']}"))
        _assert_reads_fail_fast(system, before[0])
    finally:
        postgres.signal(signal.SIGCONT)

    assert [status for status, _, _ in accepted] == [201] * 20
    assert max(took for _, took, _ in accepted) < 1.0
    assert cancel.status_code == 202
    assert cancel.json()["status"] == "CANCELLED"
    assert cancel_took < 1.0
    _until(lambda: _healthy(system))
    _assert_folded_once(system, [task_id for _, _, task_id in accepted])
    _assert_folded_once(system, [slow["id"]], final="CANCELLED")


def test_killed_postgres_comes_back_with_nothing_lost(
    outage_system: System, postgres: Postgres
) -> None:
    system = outage_system
    _until(lambda: _healthy(system))
    first = [task_id for _, _, task_id in _submit_many(system, 10, _SMALL)]
    postgres.kill()
    try:
        accepted = _submit_many(system, 20, _SMALL)
        _assert_reads_fail_fast(system, first[0])
    finally:
        postgres.restart()

    assert [status for status, _, _ in accepted] == [201] * 20
    _until(lambda: _healthy(system))
    _assert_folded_once(system, first + [task_id for _, _, task_id in accepted])
    # Every service rode it out: none exited.
    assert all(process.poll() is None for process in system.processes.values())
