"""What read-your-writes costs: commands and the reads right after them, as a plain client.

Only the api and the projector run, so a task stays PENDING and can be cancelled. One task
at a time: submit, read it at once, cancel it, read it at once, list it at once; each step
timed on its own (the reads are answered by the read model once it has the task, by the
task's own events folded from the log while it has not). Then the submit rate with many in
flight, and how fast the API accepts many small tasks as a user's program sends them:
``Client.submit_many`` (``POST /api/tasks/batch``) beside one ``POST /api/tasks/submit`` per
task from ``httpx.AsyncClient``. A read that does not reflect the command before it is
counted as stale.
"""

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bench import http1
from bench.harness import API, PROJECTOR, Servers, new_namespace, services
from bench.pipeline import SMALL_TASK
from bench.report import Result, percentile
from bench.samejob.taskbus_ways import single_submits_httpx, submit_many

WARMUP_ROUNDS = 20
STEPS = ("submit", "read after submit", "cancel", "read after cancel", "list after submit")


@dataclass(frozen=True)
class ConsistencyOptions:
    rounds: int
    submits: int
    concurrency: int
    batch_submits: int
    """Tasks sent with ``submit_many``, and as many single submits from httpx."""


@dataclass
class _Timings:
    ms: dict[str, list[float]] = field(default_factory=lambda: {step: [] for step in STEPS})
    stale: int = 0

    async def timed(self, step: str, call: Callable[[], Awaitable[http1.Response]]) -> object:
        started = time.perf_counter()
        response = await call()
        self.ms[step].append((time.perf_counter() - started) * 1000)
        return response.json() if response.body else None


def run_consistency(servers: Servers, options: ConsistencyOptions) -> list[Result]:
    with services(
        servers,
        "consistency",
        namespace=new_namespace(),
        database_url=servers.new_database(),
        start=(API, PROJECTOR),
    ) as system:
        timings = asyncio.run(_rounds(system.api_url, options.rounds))
        rate = asyncio.run(_submit_rate(system.api_url, options))
        accepted = {
            "Client.submit_many": asyncio.run(
                _accept_rate(submit_many(system.api_url, options.batch_submits))
            ),
            "httpx.AsyncClient, one submit each": asyncio.run(
                _accept_rate(
                    single_submits_httpx(system.api_url, options.batch_submits, options.concurrency)
                )
            ),
        }
    results = [
        Result(
            f"{step}, p50",
            round(statistics.median(samples), 2),
            "ms",
            note=f"p99 {percentile(samples, 99):.1f} ms; {options.rounds} sequential rounds",
            details={"samples_ms": [round(x, 2) for x in samples]},
        )
        for step, samples in timings.ms.items()
    ]
    results.append(
        Result(
            "reads that missed the command before them",
            timings.stale,
            "reads",
            note=f"of {3 * options.rounds} reads made right after a command",
        )
    )
    results.append(
        Result(
            "submits accepted, reads consistent",
            round(rate, 1),
            "submits/s",
            note=f"{options.submits} submits, {options.concurrency} in flight",
        )
    )
    results += [
        Result(
            f"small tasks accepted, {way}",
            round(per_s),
            "tasks/s",
            note=f"{options.batch_submits:,} tasks"
            + ("" if "many" in way else f", {options.concurrency} in flight"),
        )
        for way, per_s in accepted.items()
    ]
    return results


async def _accept_rate(sending: Awaitable[list[str]]) -> float:
    started = time.perf_counter()
    accepted = await sending
    return len(accepted) / (time.perf_counter() - started)


async def _rounds(api_url: str, rounds: int) -> _Timings:
    timings = _Timings()
    async with http1.connect(api_url) as conn:
        for i in range(WARMUP_ROUNDS + rounds):
            measured = _Timings() if i < WARMUP_ROUNDS else timings
            await _round(conn, measured)
    return timings


async def _round(conn: http1.Connection, timings: _Timings) -> None:
    task = await timings.timed("submit", lambda: conn.post("/api/tasks/submit", SMALL_TASK))
    assert isinstance(task, dict)
    path = f"/api/tasks/{task['id']}"
    read = await timings.timed("read after submit", lambda: conn.get(path))
    listed = await timings.timed("list after submit", lambda: conn.get("/api/tasks/"))
    await timings.timed("cancel", lambda: conn.request("DELETE", path))
    after = await timings.timed("read after cancel", lambda: conn.get(path))
    timings.stale += not (isinstance(read, dict) and read.get("status") == "PENDING")
    timings.stale += not (isinstance(after, dict) and after.get("status") == "CANCELLED")
    items = listed.get("items", []) if isinstance(listed, dict) else []
    timings.stale += not any(item["id"] == task["id"] for item in items)


async def _submit_rate(api_url: str, options: ConsistencyOptions) -> float:
    remaining = iter(range(options.submits))

    async def submitter() -> None:
        async with http1.connect(api_url) as conn:
            for _ in remaining:
                response = await conn.post("/api/tasks/submit", SMALL_TASK)
                if response.status != 201:
                    raise RuntimeError(f"submit answered {response.status}: {response.body!r}")

    started = time.perf_counter()
    await asyncio.gather(*(submitter() for _ in range(options.concurrency)))
    return options.submits / (time.perf_counter() - started)
