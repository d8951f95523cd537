"""List page latency over a large read model: ``GET /api/tasks/`` with each filter.

The read model is bulk-loaded (``readmodel_fill``) into a fresh database, then only the
API runs against it. Each case is one request shape, timed at the conn, one request at
a time, after a few unmeasured ones. The cursor case follows ``next_cursor`` from the first
page of FAILED tasks down to page ``PAGES_DEEP`` and times pages 2 onwards.
"""

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from bench import http1
from bench.harness import API, READMODEL_SCHEMA, Servers, new_namespace, services
from bench.readmodel_fill import CUSTOMERS, fill_read_model
from bench.report import Result, Target, percentile

TARGET = Target("<=", 10)
WARMUP_REQUESTS = 10
PAGE_SIZE = "50"
PAGES_DEEP = 10
CASES: dict[str, dict[str, str]] = {
    "newest first, no filter": {},
    "status=FAILED": {"status": "FAILED"},
    "task_type=image_processing": {"task_type": "image_processing"},
    "q=<a customer> (0.2 % match)": {"q": CUSTOMERS[137]},
    "q=newsletter (7 % match)": {"q": "newsletter"},
}


@dataclass(frozen=True)
class ListOptions:
    tasks: int
    samples: int


def run_list_pages(servers: Servers, options: ListOptions) -> list[Result]:
    """Load the read model, start the API on it, time every case."""
    database_url = servers.new_database()
    loading = time.perf_counter()
    asyncio.run(fill_read_model(database_url, READMODEL_SCHEMA, options.tasks))
    load_s = time.perf_counter() - loading
    with services(
        servers, "list", namespace=new_namespace(), database_url=database_url, start=(API,)
    ) as system:
        timings = asyncio.run(_measure(system.api_url, options.samples))
    return [
        Result(
            f"list page, {options.tasks:,} tasks: {case}, p50",
            round(percentile(samples, 50), 2),
            "ms",
            TARGET,
            note=f"p99 {percentile(samples, 99):.1f} ms over {len(samples)}",
            details={"p99_ms": round(percentile(samples, 99), 2), "load_seconds": round(load_s)},
        )
        for case, samples in timings.items()
    ]


async def _measure(api_url: str, samples: int) -> dict[str, list[float]]:
    async with http1.connect(api_url) as conn:
        timings = {case: await _same_page(conn, params, samples) for case, params in CASES.items()}
        timings[f"status=FAILED, pages 2-{PAGES_DEEP}"] = await _deep_pages(conn, samples)
    return timings


async def _same_page(conn: http1.Connection, params: dict[str, str], samples: int) -> list[float]:
    query = {**params, "limit": PAGE_SIZE}
    for _ in range(WARMUP_REQUESTS):
        await _get_page(conn, query)
    return [(await _get_page(conn, query))[0] for _ in range(samples)]


async def _deep_pages(conn: http1.Connection, samples: int) -> list[float]:
    query = {"status": "FAILED", "limit": PAGE_SIZE}
    timings: list[float] = []
    while len(timings) < samples + WARMUP_REQUESTS:
        _, page = await _get_page(conn, query)
        for _ in range(PAGES_DEEP - 1):
            elapsed, page = await _get_page(conn, {**query, "cursor": page["next_cursor"]})
            timings.append(elapsed)
    return timings[WARMUP_REQUESTS : WARMUP_REQUESTS + samples]


async def _get_page(conn: http1.Connection, query: dict[str, str]) -> tuple[float, Any]:
    """One list request: how long it took (ms) and the page, which must not be empty."""
    started = time.perf_counter()
    response = await conn.get("/api/tasks/", query)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise RuntimeError(f"{query} answered {response.status}: {response.body!r}")
    page = response.json()
    if not page["items"] or page["next_cursor"] is None:
        raise AssertionError(f"{query} returned a short page: the read model is too small")
    return elapsed, page
