"""Leader kills under load, and what they cost: the drill of the failover test and benchmark.

A :class:`SteadyLoad` submits small csv tasks over HTTP at a steady pace while
:func:`kill_stream_leader` SIGKILLs the node leading the TASKS stream and restarts it once
another node took over; :func:`audit` then asks the API what became of every accepted task.
"""

import threading
import time
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

import httpx
from infra import ClusterNodes

from support.system import System

CSV_TASK = {"task_type": "csv_processing", "parameters": {"num_rows": 10}}
TERMINAL = {"SUCCESS", "FAILED", "CANCELLED"}


@dataclass
class Submissions:
    """What the submits got: task ids for a 201, counts of anything else by its outcome."""

    accepted: list[str] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)


class SteadyLoad:
    """Submits a csv task every ``interval`` seconds from a thread, until the block ends."""

    def __init__(self, api_url: str, *, interval: float = 0.04) -> None:
        self.submissions = Submissions()
        self._client = httpx.Client(base_url=api_url, timeout=30)
        self._interval = interval
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="steady-load", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._client.close()

    def wait_for_accepted(self, more: int, *, timeout: float = 30.0) -> None:
        """Return once ``more`` further submits were accepted (the log takes writes again)."""
        with self._changed:
            target = len(self.submissions.accepted) + more
            if not self._changed.wait_for(
                lambda: len(self.submissions.accepted) >= target, timeout
            ):
                raise TimeoutError(
                    f"fewer than {more} submits accepted in {timeout:.0f} s; "
                    f"refused: {dict(self.submissions.refused)}"
                )

    def _run(self) -> None:
        # The pace is the load's, not a wait for something: the stop event only cuts it short.
        while not self._stop.wait(self._interval):
            outcome = self._submit()
            with self._changed:
                if outcome.startswith("task "):
                    self.submissions.accepted.append(outcome.removeprefix("task "))
                else:
                    self.submissions.refused[outcome] += 1
                self._changed.notify_all()

    def _submit(self) -> str:
        try:
            response = self._client.post("/api/tasks/submit", json=CSV_TASK)
        except httpx.HTTPError as exc:
            # No answer: the task may or may not be in the log; the audit does not count it.
            return f"no answer ({type(exc).__name__})"
        if response.status_code == 201:
            return f"task {response.json()['id']}"
        return f"HTTP {response.status_code}"


@dataclass(frozen=True)
class Failover:
    """One leader kill: which node died, and seconds from the kill until five more submits
    were accepted and until the node had rejoined with every replica of the stream current."""

    killed: str
    accepting_after_s: float
    rejoined_after_s: float


def kill_stream_leader(cluster: ClusterNodes, stream: str, load: SteadyLoad) -> Failover:
    """SIGKILL the stream's leader, wait until submits succeed again, restart it, and return
    once it caught up."""
    load.wait_for_accepted(5)
    leader = cluster.wait_for_stream_leader(stream)
    killed = time.monotonic()
    cluster.kill(leader)
    load.wait_for_accepted(5)
    accepting = time.monotonic()
    cluster.restart(leader)
    cluster.wait_until_stream_is_current(stream)
    return Failover(
        killed=cluster.server(leader).node.server_name or str(leader),
        accepting_after_s=accepting - killed,
        rejoined_after_s=time.monotonic() - killed,
    )


@dataclass
class Audit:
    """What became of the accepted tasks, as the API reports them."""

    accepted: int
    lost: list[str]
    """Accepted, yet unknown to the read model once it caught up with the log."""
    unfinished: dict[str, str]
    """Task id to its status, for tasks that did not end in SUCCESS."""
    duplicated: dict[str, int]
    """Task id to its count of TaskSucceeded events, where that is more than one."""


def audit(system: System, accepted: list[str], *, timeout: float = 60.0) -> Audit:
    """Wait (up to ``timeout``) for every accepted task to end, then report on each."""
    statuses = _final_statuses(system, accepted, timeout)
    lost = [task_id for task_id, status in statuses.items() if status is None]
    unfinished = {
        task_id: status
        for task_id, status in statuses.items()
        if status is not None and status != "SUCCESS"
    }
    successes = {task_id: _count_succeeded(system, task_id) for task_id in accepted}
    duplicated = {task_id: n for task_id, n in successes.items() if n > 1}
    return Audit(len(accepted), lost, unfinished, duplicated)


def _final_statuses(system: System, task_ids: list[str], timeout: float) -> dict[str, str | None]:
    """Each task's status (None: unknown) once it ended, or as it stands after ``timeout``."""
    deadline = time.monotonic() + timeout
    # Every accepted task is in the log: once the read model caught up, a 404 means lost.
    system.wait_until_projected(timeout=timeout)
    statuses = {task_id: _status(system, task_id) for task_id in task_ids}
    for task_id, status in statuses.items():
        if status is not None and status not in TERMINAL:
            remaining = max(deadline - time.monotonic(), 0.1)
            with suppress(TimeoutError):
                ended = system.wait_for_status(task_id, *TERMINAL, timeout=remaining)
                statuses[task_id] = ended["status"]
    return statuses


def _status(system: System, task_id: str) -> str | None:
    response = system.client.get(f"/api/tasks/{task_id}")
    if response.status_code == 404:
        return None
    response.raise_for_status()
    status: str = response.json()["status"]
    return status


def _count_succeeded(system: System, task_id: str) -> int:
    response = system.client.get(f"/api/tasks/{task_id}/events")
    if response.status_code == 404:
        return 0
    response.raise_for_status()
    return sum(event["type"] == "TaskSucceeded" for event in response.json()["items"])
