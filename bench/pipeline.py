"""Small csv tasks through the whole pipeline: api → log → worker → projector → SSE.

Latency is measured first, on the idle system, one task at a time; throughput after it,
on the same services, with many submits in flight. A task is done when its SUCCESS arrives
on an SSE stream opened before its submit: it is then visible in the read model.
"""

import asyncio
import itertools
import statistics
import time
from dataclasses import dataclass
from datetime import datetime

from bench import http1
from bench.cpu import CpuMeter
from bench.feed import Arrival, status_feed
from bench.harness import CSV_PIPELINE, Servers, new_namespace, process_ids, services
from bench.profiling import Profiler
from bench.report import Result, Target, percentile

SMALL_TASK = {"task_type": "csv_processing", "parameters": {"num_rows": 10}}
WARMUP_TASKS = 20
LATENCY_TIMEOUT_S = 10.0
LATENCY_TARGETS = {50: Target("<=", 25), 99: Target("<=", 100)}
# The Celery + Redis reference figure: the bar when no baseline was measured in this run.
CELERY_REFERENCE_TASKS_S = 383.0


@dataclass(frozen=True)
class PipelineOptions:
    latency_samples: int
    tasks: int
    concurrency: int


def run_pipeline(
    servers: Servers,
    options: PipelineOptions,
    baseline_tasks_s: float | None,
    profiler: Profiler,
) -> list[Result]:
    """Start api, projector and csv worker, then measure latency, then throughput."""
    target = Target(">=", CELERY_REFERENCE_TASKS_S, "Celery + Redis reference")
    if baseline_tasks_s is not None:
        target = Target(">=", round(baseline_tasks_s, 1), "Celery + Redis, this run")
    with services(
        servers,
        "pipeline",
        namespace=new_namespace(),
        database_url=servers.new_database(),
        start=CSV_PIPELINE,
    ) as system:
        pids = process_ids(servers, system)
        results = asyncio.run(latency(system.api_url, options.latency_samples))
        meter = CpuMeter(lambda: pids)
        with profiler.recording("throughput", pids):
            results += asyncio.run(throughput(system.api_url, options, target, meter))
    return results


async def submit(conn: http1.Connection) -> str:
    """Submit one small csv task; its id, once JetStream has stored the event (201)."""
    response = await conn.post("/api/tasks/submit", SMALL_TASK)
    if response.status != 201:
        raise RuntimeError(f"submit answered {response.status}: {response.body!r}")
    return str(response.json()["id"])


async def latency(api_url: str, samples: int) -> list[Result]:
    """Submit → SUCCESS on SSE, one task at a time, after a few unmeasured warm-up tasks."""
    latencies: list[float] = []
    stages: list[dict[str, float]] = []
    async with (
        status_feed(api_url, status="SUCCESS", task_type="csv_processing") as feed,
        http1.connect(api_url) as conn,
    ):
        for i in range(WARMUP_TASKS + samples):
            wall, started = time.time(), time.perf_counter()
            task_id = await submit(conn)
            async with asyncio.timeout(LATENCY_TIMEOUT_S):
                await feed.wait_for([task_id])
            if i >= WARMUP_TASKS:
                arrival = feed.arrivals[task_id]
                latencies.append((arrival.monotonic - started) * 1000)
                stages.append(_stages(wall, arrival))
    breakdown = {name: round(statistics.median(s[name] for s in stages), 2) for name in stages[0]}
    details = {"samples_ms": [round(x, 2) for x in latencies], "median_stages_ms": breakdown}
    return [
        Result(
            f"submit → SUCCESS on SSE, p{pct}",
            round(percentile(latencies, pct), 2),
            "ms",
            target,
            note=f"{samples} sequential tasks; p90 {percentile(latencies, 90):.1f} ms",
            details=details if pct == 50 else {},
        )
        for pct, target in LATENCY_TARGETS.items()
    ]


def _stages(submitted_wall: float, arrival: Arrival) -> dict[str, float]:
    """Where one task's time went, from the timestamps the services wrote into it (ms)."""
    task = arrival.task
    created, started, completed = (
        datetime.fromisoformat(task[key]).timestamp()
        for key in ("created_at", "started_at", "completed_at")
    )
    return {
        "submit → created (api)": (created - submitted_wall) * 1000,
        "created → started (queue, worker pickup)": (started - created) * 1000,
        "started → completed (handler)": (completed - started) * 1000,
        "completed → seen on SSE (projector, feed)": (arrival.wall - completed) * 1000,
    }


async def throughput(
    api_url: str, options: PipelineOptions, target: Target, meter: CpuMeter
) -> list[Result]:
    """``tasks`` submits, ``concurrency`` at a time; time until every SUCCESS is seen."""
    tasks, concurrency = options.tasks, options.concurrency
    submitted: set[str] = set()
    numbers = itertools.count()

    async def submitter() -> None:
        async with http1.connect(api_url) as conn:
            while next(numbers) < tasks:
                submitted.add(await submit(conn))

    async with status_feed(api_url, status="SUCCESS", task_type="csv_processing") as feed:
        with meter:
            started = time.perf_counter()
            await asyncio.gather(*(submitter() for _ in range(concurrency)))
            submit_s = time.perf_counter() - started
            # Generous: a slow run should report its figure, not a timeout.
            async with asyncio.timeout(max(120.0, tasks / 5)):
                await feed.wait_for(submitted)
        done_s = max(feed.arrivals[task_id].monotonic for task_id in submitted) - started
    return [
        Result(
            f"end-to-end throughput, {tasks} csv tasks",
            round(tasks / done_s, 1),
            "tasks/s",
            target,
            note=f"submit → all SUCCESS in read model, {done_s:.2f} s; {target.source}",
            details={
                "seconds": round(done_s, 3),
                "concurrency": concurrency,
                "cpu_cores": meter.cores,
            },
        ),
        Result(
            "submit rate (201 = stored in JetStream)",
            round(tasks / submit_s, 1),
            "tasks/s",
            note=f"{concurrency} requests in flight, while the tasks run",
            details={"seconds": round(submit_s, 3)},
        ),
    ]
