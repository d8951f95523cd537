"""The API's SSE stream as benchmarks watch it: which tasks reached a status, and when."""

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import aconnect_sse

Task = dict[str, Any]


@dataclass(frozen=True)
class Arrival:
    """A task's state as the stream delivered it, with the local clocks at that moment."""

    task: Task
    monotonic: float
    """``time.perf_counter()`` on arrival, to compare with when the client acted."""
    wall: float
    """``time.time()`` on arrival, to compare with the timestamps inside the task."""


class StatusFeed:
    """Every task reaching ``status`` on the stream, by task id (the first arrival kept)."""

    def __init__(self) -> None:
        self.arrivals: dict[str, Arrival] = {}
        self._changed = asyncio.Condition()
        self._ended = False

    async def wait_for(self, task_ids: Collection[str]) -> None:
        """Return once every one of ``task_ids`` has arrived (bound it with a timeout)."""
        wanted = set(task_ids)
        async with self._changed:
            await self._changed.wait_for(lambda: self._ended or self.arrivals.keys() >= wanted)
        if not self.arrivals.keys() >= wanted:
            raise ConnectionError("the SSE stream ended before every task arrived")

    async def _record(self, task: Task) -> None:
        arrival = Arrival(task, time.perf_counter(), time.time())
        async with self._changed:
            self.arrivals.setdefault(task["id"], arrival)
            self._changed.notify_all()

    async def _follow(self, client: httpx.AsyncClient, params: dict[str, str], after: int) -> None:
        headers = {"Last-Event-ID": str(after)}
        try:
            async with aconnect_sse(
                client, "GET", "/api/stream", params=params, headers=headers
            ) as sse:
                sse.response.raise_for_status()
                async for event in sse.aiter_sse():
                    if event.event == "task":
                        await self._record(json.loads(event.data))
        finally:
            # Wakes a waiter, which would otherwise wait out its timeout for nothing.
            self._ended = True
            async with self._changed:
                self._changed.notify_all()


async def projector_position(client: httpx.AsyncClient) -> int:
    """The log position the read model has reached, from ``/api/health``."""
    response = await client.get("/api/health")
    response.raise_for_status()
    return int(response.json()["projector_position"] or 0)


@asynccontextmanager
async def status_feed(api_url: str, *, status: str, task_type: str) -> AsyncIterator[StatusFeed]:
    """Follow the stream for tasks of ``task_type`` reaching ``status`` from now on.

    The stream resumes after the read model's current position, so nothing that changes
    once this returns can be missed, however late the connection is accepted.
    """
    feed = StatusFeed()
    # No read timeout: the stream is quiet between tasks (the server pings every 15 s).
    timeout = httpx.Timeout(10.0, read=None)
    async with httpx.AsyncClient(base_url=api_url, timeout=timeout, trust_env=False) as client:
        after = await projector_position(client)
        params = {"status": status, "task_type": task_type}
        follower = asyncio.create_task(feed._follow(client, params, after))
        try:
            yield feed
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
