"""One projector process folding a filled log from scratch, followed commit by commit.

Shared by the fold-rate and catch-up benchmarks. The projector NOTIFYs each position it
commits; listening to that timestamps every commit without polling, so the rate can be taken
between any two of them (process start-up and migrations left out).
"""

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import asyncpg
import httpx
from taskbus_projector.projector import changes_channel

from bench.cpu import CpuMeter
from bench.harness import PROJECTOR, READMODEL_SCHEMA, Servers, process_ids, services
from bench.profiling import Profiler

# The projector's histogram of fold-and-commit time per batch (taskbus.metrics).
BATCH_SECONDS_METRIC = "taskbus_projector_batch_seconds_sum"
# The slowest catch-up allowed before giving up, in events/s (a broken projector must not hang).
_SLOWEST_EVENTS_PER_S = 2000


class Commits:
    """The projector's commits as its NOTIFYs announce them: (local time, position)."""

    def __init__(self, last_seq: int) -> None:
        self.seen: list[tuple[float, int]] = []
        self.caught_up = asyncio.Event()
        self._last_seq = last_seq

    def on_notify(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        position = int(str(payload))
        self.seen.append((time.perf_counter(), position))
        if position >= self._last_seq:
            self.caught_up.set()


@dataclass(frozen=True)
class FoldRun:
    """What one projector run showed: its commits, and where its time and CPU went."""

    spawned: float
    commits: Commits
    cores: dict[str, float]
    batch_seconds: float | None


def run_projector(
    servers: Servers,
    label: str,
    namespace: str,
    database_url: str,
    last_seq: int,
    profiler: Profiler,
) -> FoldRun:
    """Start a projector on the filled log and a fresh database; follow it to ``last_seq``.

    ``label`` names the services' log folder and the profiles.
    """
    with services(servers, label, namespace=namespace, database_url=database_url) as system:
        meter = CpuMeter(lambda: process_ids(servers, system))

        def start_projector() -> AbstractContextManager[None]:
            system.start(PROJECTOR)
            return profiler.recording(label, process_ids(servers, system))

        with meter:
            spawned, commits = asyncio.run(_fold(database_url, last_seq, start_projector))
        batch_seconds = _batch_seconds(system.probe_url(PROJECTOR))
    return FoldRun(spawned, commits, meter.cores, batch_seconds)


def _batch_seconds(probe_url: str) -> float | None:
    """Time the projector spent folding, writing and committing, from its own metrics."""
    try:
        text = httpx.get(f"{probe_url}/metrics", timeout=5, trust_env=False).text
    except httpx.HTTPError:
        return None
    for line in text.splitlines():
        if line.startswith(BATCH_SECONDS_METRIC + " "):
            return round(float(line.split()[1]), 3)
    return None


async def _fold(
    database_url: str,
    last_seq: int,
    start_projector: Callable[[], AbstractContextManager[None]],
) -> tuple[float, Commits]:
    """Start the projector and follow its commits until it reaches ``last_seq``.

    ``start_projector`` returns once the projector runs, with a block to hold open while it
    folds (the profiler's, if any).
    """
    commits = Commits(last_seq)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.add_listener(changes_channel(READMODEL_SCHEMA), commits.on_notify)
        spawned = time.perf_counter()
        # In a thread: the loop must stay free to timestamp notifications as they come.
        with await asyncio.to_thread(start_projector):
            async with asyncio.timeout(max(60.0, last_seq / _SLOWEST_EVENTS_PER_S)):
                await commits.caught_up.wait()
    finally:
        await conn.close()
    return spawned, commits


async def check_read_model(database_url: str, tasks: int) -> None:
    """Every task folded to SUCCESS: a fast fold that got it wrong would measure nothing."""
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            f"SELECT count(*) AS total, count(*) FILTER (WHERE status = 'SUCCESS') AS success"
            f" FROM {READMODEL_SCHEMA}.tasks"
        )
    finally:
        await conn.close()
    assert row is not None
    if row["total"] != tasks or row["success"] != tasks:
        raise AssertionError(f"read model has {dict(row)}, expected {tasks} tasks in SUCCESS")
