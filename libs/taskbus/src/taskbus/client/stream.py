"""Following one task's states over the API's Server-Sent Events (``GET /api/stream``).

The stream's event ids are log sequences. The first connection asks from sequence 0, which
replays the task's current state; a dropped connection resumes after the last state seen,
so no change is missed and none is repeated.
"""

import asyncio
import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing
from uuid import UUID

import httpx
from httpx_sse import SSEError, aconnect_sse

from taskbus.client.errors import check
from taskbus.client.models import Task

# The standard library's logging: a library says nothing unless its user configures it.
log = logging.getLogger(__name__)

_RECONNECT_FIRST_S = 0.1
_RECONNECT_MAX_S = 2.0
# The API pings every 15 s: a connection silent for this long is dead.
_SILENCE_S = 45.0


async def follow(http: httpx.AsyncClient, task_id: UUID, *, after: int = 0) -> AsyncGenerator[Task]:
    """Each state of the task with a log sequence past ``after``, as the read model shows it,
    live and without end: the caller stops when it has seen enough."""
    delay = _RECONNECT_FIRST_S
    while True:
        try:
            # Closed here and now, not by the garbage collector, when the caller stops early.
            async with aclosing(_connection(http, task_id, after)) as tasks:
                async for task in tasks:
                    after = task.seq
                    delay = _RECONNECT_FIRST_S
                    yield task
        except (httpx.TransportError, SSEError) as exc:
            # An API restart or a network blip: the next connection resumes after ``after``.
            log.info("stream of task %s interrupted (%r); reconnecting", task_id, exc)
        await asyncio.sleep(delay)
        delay = min(delay * 2, _RECONNECT_MAX_S)


async def _connection(http: httpx.AsyncClient, task_id: UUID, after: int) -> AsyncGenerator[Task]:
    timeout = httpx.Timeout(http.timeout.connect, read=_SILENCE_S)
    async with aconnect_sse(
        http,
        "GET",
        "/api/stream",
        params={"task_id": str(task_id)},
        headers={"Last-Event-ID": str(after)},
        timeout=timeout,
    ) as source:
        response = source.response
        if response.status_code == 503:
            return  # Postgres is away for now: connect again
        if not response.is_success:
            await response.aread()
            check(response)
        async for sse in source.aiter_sse():
            if sse.event == "task":
                task = Task.model_validate_json(sse.data)
                if task.seq > after:
                    yield task
