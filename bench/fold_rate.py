"""Projector fold rate: a log filled beforehand, folded by a projector process from scratch.

The log holds the four events of a small task's life (submitted, started, progress,
succeeded) for ``events / 4`` tasks, interleaved as a busy system writes them: each stage
trails the one before by ``lag`` tasks, so a task's events land in different fetched
batches and the projector must load the states it folded before back from Postgres.
The rate is taken between the projector's first and last commit (it NOTIFYs each one),
so process start-up and migrations are left out; the note gives the rate with them.
"""

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass

import asyncpg
import httpx
from taskbus.connections import connect_nats
from taskbus.eventlog import ensure_stream
from taskbus.events import (
    TaskEvent,
    TaskProgress,
    TaskStarted,
    TaskSubmitted,
    TaskSucceeded,
    encode_event,
)
from taskbus.settings import CommonSettings
from taskbus_projector.projector import changes_channel

from bench.cpu import CpuMeter
from bench.harness import (
    PROJECTOR,
    READMODEL_SCHEMA,
    Servers,
    new_namespace,
    process_ids,
    services,
)
from bench.profiling import Profiler
from bench.report import Result, Target

TARGET = Target(">=", 20_000)
# The projector's histogram of fold-and-commit time per batch (taskbus.metrics).
BATCH_SECONDS_METRIC = "taskbus_projector_batch_seconds_sum"
EVENTS_PER_TASK = 4
# What a csv task of ten rows reports, so succeeded events weigh what real ones do.
CSV_RESULT = {
    "rows": 10,
    "columns": {
        name: {"kind": "numeric", "count": 10, "nulls": 0, "sum": 512.5, "mean": 51.25,
               "min": 3.5, "max": 97.0, "std": 29.81}
        for name in ("id", "amount", "quantity", "score")
    }
    | {"city": {"kind": "text", "count": 10, "nulls": 0, "distinct": 6, "distinct_exact": True,
                "top": [{"value": "Lyon", "count": 3}, {"value": "Porto", "count": 2}]}},
}  # fmt: skip

Stage = Callable[[uuid.UUID], TaskEvent]


@dataclass(frozen=True)
class FoldOptions:
    events: int
    lag: int


def _stages() -> tuple[Stage, ...]:
    csv = "csv_processing"
    return (
        lambda t: TaskSubmitted(
            task_id=t, task_type=csv, parameters={"num_rows": 10}, attempt=1, max_attempts=3
        ),
        lambda t: TaskStarted(task_id=t, task_type=csv, attempt=1, worker_id="bench-worker-1"),
        lambda t: TaskProgress(
            task_id=t, task_type=csv, attempt=1, progress=100, message="10 rows"
        ),
        lambda t: TaskSucceeded(task_id=t, task_type=csv, attempt=1, result=CSV_RESULT),
    )


def interleaved_lives(tasks: int, lag: int) -> Iterator[TaskEvent]:
    """Every task's four events; stage ``k`` of task ``i`` comes at step ``i + k * lag``."""
    ids = [uuid.uuid4() for _ in range(tasks)]
    stages = _stages()
    for step in range(tasks + lag * (len(stages) - 1)):
        for k, make in enumerate(stages):
            i = step - k * lag
            if 0 <= i < tasks:
                yield make(ids[i])


async def fill_log(nats_url: str, namespace: str, events: Iterator[TaskEvent]) -> int:
    """Append ``events`` to the namespace's stream (acks awaited in bulk); the last sequence."""
    nc = await connect_nats(nats_url, name="bench-fill")
    try:
        js = nc.jetstream()
        settings = CommonSettings(nats_url=nats_url, namespace=namespace)
        await ensure_stream(js, settings)
        subjects = settings.subjects
        acks = [
            await js.publish_async(
                subjects.event(e.type, e.task_type, e.task_id),
                encode_event(e),
                stream=subjects.stream,
            )
            for e in events
        ]
        return max(ack.seq for ack in await asyncio.gather(*acks))
    finally:
        await nc.drain()


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
    commits: "Commits"
    cores: dict[str, float]
    batch_seconds: float | None


def run_fold_rate(servers: Servers, options: FoldOptions, profiler: Profiler) -> list[Result]:
    namespace = new_namespace()
    tasks = options.events // EVENTS_PER_TASK
    filled = time.perf_counter()
    last_seq = asyncio.run(
        fill_log(servers.nats_url, namespace, interleaved_lives(tasks, options.lag))
    )
    fill_s = time.perf_counter() - filled
    database_url = servers.new_database()
    run = _run_projector(servers, namespace, database_url, last_seq, profiler)
    asyncio.run(_check_read_model(database_url, tasks))
    (first_at, first_position), (last_at, _) = run.commits.seen[0], run.commits.seen[-1]
    rate = (last_seq - first_position) / (last_at - first_at)
    from_start = last_at - run.spawned
    note = f"{len(run.commits.seen)} commits; {last_seq / from_start:,.0f}/s counting start-up"
    if run.batch_seconds is not None:
        note += f"; fold+write+commit {run.batch_seconds:.1f} s of {from_start:.1f} s"
    details = {
        "events": last_seq,
        "tasks": tasks,
        "lag_tasks": options.lag,
        "commits": len(run.commits.seen),
        "fill_events_per_s": round(last_seq / fill_s),
        "seconds_first_to_last_commit": round(last_at - first_at, 3),
        "seconds_from_process_start": round(from_start, 3),
        "seconds_folding_and_committing": run.batch_seconds,
        "cpu_cores": run.cores,
    }
    return [
        Result(
            f"projector fold rate, {last_seq:,} events",
            round(rate),
            "events/s",
            TARGET,
            note=note,
            details=details,
        )
    ]


def _run_projector(
    servers: Servers, namespace: str, database_url: str, last_seq: int, profiler: Profiler
) -> FoldRun:
    """Start a projector on the filled log and a fresh database; follow it to ``last_seq``."""
    with services(servers, "fold", namespace=namespace, database_url=database_url) as system:
        meter = CpuMeter(lambda: process_ids(servers, system))

        def start_projector() -> AbstractContextManager[None]:
            system.start(PROJECTOR)
            return profiler.recording("fold", process_ids(servers, system))

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
            async with asyncio.timeout(max(60.0, last_seq / 2000)):
                await commits.caught_up.wait()
    finally:
        await conn.close()
    return spawned, commits


async def _check_read_model(database_url: str, tasks: int) -> None:
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
