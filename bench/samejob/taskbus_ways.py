"""taskbus's side: the job submitted three ways to api, projector and worker-csv.

Each way is timed from its first submit until the last task's SUCCESS arrived on the SSE
stream ``/api/stream?status=SUCCESS``, opened before it: how a user learns that many tasks
are done (one ``handle.result()`` stream per task would pass the API's cap on streams).
"""

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass

import httpx
import taskbus

from bench import http1
from bench.cpu import CpuMeter
from bench.feed import status_feed
from bench.harness import CSV_PIPELINE, Servers, new_namespace, process_ids, services
from bench.pipeline import SMALL_TASK, submit
from bench.profiling import Profiler
from bench.samejob.measured import Measured

TASK_TYPE = str(SMALL_TASK["task_type"])
PARAMETERS = {"num_rows": 10}
# Enough for every service to have imported and connected everything a task touches.
WARMUP_TASKS = 50

SubmitAll = Callable[[str, int], Awaitable[list[str]]]
"""Submits ``tasks`` small csv tasks to the API at a URL; their ids."""


@dataclass(frozen=True)
class Way:
    key: str
    label: str
    submit_all: SubmitAll


def ways(concurrency: int) -> list[Way]:
    """(a) and (b) are the issue's headline; (c) is the load generator of the other rows."""
    return [
        Way("a", "Client.submit_many", submit_many),
        Way(
            "b",
            f"httpx.AsyncClient, {concurrency} in flight",
            lambda url, tasks: single_submits_httpx(url, tasks, concurrency),
        ),
        Way(
            "c",
            f"keep-alive client (http1.py), {concurrency} in flight",
            lambda url, tasks: single_submits_keepalive(url, tasks, concurrency),
        ),
    ]


async def submit_many(api_url: str, tasks: int) -> list[str]:
    """``taskbus.Client.submit_many``: 1,000 tasks a request, a few requests at once."""
    async with taskbus.Client(api_url) as client:
        handles = await client.submit_many(TASK_TYPE, [PARAMETERS] * tasks)
    return [str(handle.id) for handle in handles]


async def single_submits_httpx(api_url: str, tasks: int, concurrency: int) -> list[str]:
    """One ``POST /api/tasks/submit`` per task from a plain, default ``httpx.AsyncClient``."""
    async with httpx.AsyncClient(base_url=api_url) as http:

        async def submit_one() -> str:
            response = await http.post("/api/tasks/submit", json=SMALL_TASK)
            if response.status_code != 201:
                raise RuntimeError(f"submit answered {response.status_code}: {response.text}")
            return str(response.json()["id"])

        return await _in_flight(tasks, concurrency, submit_one)


async def single_submits_keepalive(api_url: str, tasks: int, concurrency: int) -> list[str]:
    """The same through ``http1.py``, one keep-alive connection per request in flight."""
    async with AsyncExitStack() as stack:
        idle: asyncio.Queue[http1.Connection] = asyncio.Queue()
        for _ in range(concurrency):
            idle.put_nowait(await stack.enter_async_context(http1.connect(api_url)))

        async def submit_one() -> str:
            conn = await idle.get()
            try:
                return await submit(conn)
            finally:
                idle.put_nowait(conn)

        return await _in_flight(tasks, concurrency, submit_one)


async def _in_flight(
    tasks: int, concurrency: int, submit_one: Callable[[], Awaitable[str]]
) -> list[str]:
    """``submit_one`` ``tasks`` times, ``concurrency`` calls at a time; the ids."""
    ids: list[str] = []
    numbers = itertools.count()

    async def submitter() -> None:
        while next(numbers) < tasks:
            ids.append(await submit_one())

    await asyncio.gather(*(submitter() for _ in range(concurrency)))
    return ids


async def _measure(api_url: str, submit_all: SubmitAll, tasks: int, meter: CpuMeter) -> Measured:
    async with status_feed(api_url, status="SUCCESS", task_type=TASK_TYPE) as feed:
        with meter:
            started = time.perf_counter()
            ids = await submit_all(api_url, tasks)
            submit_s = time.perf_counter() - started
            if len(set(ids)) != tasks:
                raise RuntimeError(f"{tasks} submits gave {len(set(ids))} distinct tasks")
            # Generous: a slow run should report its figure, not a timeout.
            async with asyncio.timeout(max(120.0, tasks / 5)):
                await feed.wait_for(ids)
        done_s = max(feed.arrivals[task_id].monotonic for task_id in ids) - started
    return Measured(tasks, done_s, submit_s, meter.seconds)


def run_taskbus(
    servers: Servers, tasks: int, concurrency: int, profiler: Profiler
) -> dict[str, Measured]:
    """Start the csv pipeline, warm it up, then measure each way in turn on it."""
    with services(
        servers,
        "samejob",
        namespace=new_namespace(),
        database_url=servers.new_database(),
        start=CSV_PIPELINE,
    ) as system:
        pids = process_ids(servers, system)

        async def every_way() -> dict[str, Measured]:
            warmup = ways(concurrency)[-1].submit_all
            await _measure(system.api_url, warmup, WARMUP_TASKS, CpuMeter(lambda: pids))
            measured = {}
            for way in ways(concurrency):
                with profiler.recording(f"samejob-{way.key}", pids):
                    meter = CpuMeter(lambda: pids)
                    measured[way.key] = await _measure(system.api_url, way.submit_all, tasks, meter)
            return measured

        return asyncio.run(every_way())
