"""An in-process worker against a real nats-server, and what its tests ask of the log.

The worker runs in a namespace of its own on the session's server, or, where a test pauses
the server (SIGSTOP, as a stream leader that stops answering in an election), on one of the
test's own (``private_nats``).
"""

import asyncio
import os
import secrets
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import nats
import pytest
from pydantic import BaseModel
from structlog.testing import capture_logs
from structlog.typing import EventDict, WrappedLogger
from taskbus import TaskApp, subjects
from taskbus.devrun.nats import NatsServer, start_nats
from taskbus.eventlog import EventLog, ensure_stream
from taskbus.events import TaskEvent, TaskFailed, TaskSubmitted, TaskSucceeded
from taskbus.worker import TaskContext, WorkerSettings, run_app

from support.namespaces import drop_namespace

TASK_TYPE = "csv_processing"
HELD = "nats unavailable; attempt held, deciding again soon"
ACKED_REDELIVERY = "attempt already finished in the log; acking redelivery"
# Longer than a publish takes to time out while the server is paused, with room for the
# event log's own retries.
PAUSED_WAIT_S = 60.0

HandlerFn = Callable[[TaskContext, Any], Awaitable[dict[str, Any]]]


class NoParameters(BaseModel):
    pass


async def eventually(condition: Callable[[], Awaitable[bool]], limit_s: float = 30.0) -> None:
    """Return as soon as ``condition()``, a question to the server, holds; fail after
    ``limit_s`` seconds."""
    async with asyncio.timeout(limit_s):
        # The server tells nobody when its state changes, so it is asked again and again.
        while not await condition():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


class LogWatch:
    """The runtime's log lines as they are logged, to wait for one of them."""

    def __init__(self) -> None:
        self.entries: list[EventDict] = []
        self._logged = asyncio.Event()

    def _notify(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        self._logged.set()
        return event_dict

    @contextmanager
    def watching(self) -> Iterator["LogWatch"]:
        with capture_logs(processors=[self._notify]) as self.entries:
            yield self

    def count(self, event: str, task_id: UUID) -> int:
        return sum(
            1 for e in self.entries if e["event"] == event and e.get("task_id") == str(task_id)
        )

    async def wait_for(self, event: str, task_id: UUID) -> None:
        while not self.count(event, task_id):
            self._logged.clear()
            await self._logged.wait()


@pytest.fixture
def logs() -> Iterator[LogWatch]:
    with LogWatch().watching() as watch:
        yield watch


@asynccontextmanager
async def worker(
    nats_url: str,
    handler: HandlerFn,
    *,
    prepare: Callable[[EventLog], Awaitable[None]] | None = None,
    **overrides: Any,
) -> AsyncIterator[EventLog]:
    """A worker of ``handler`` in a namespace of its own, and that namespace's event log.

    ``prepare`` writes to the log before the worker starts, for histories a running worker
    would not let a test write in the order it needs.
    """
    settings = WorkerSettings.model_validate(
        {
            "nats_url": nats_url,
            "namespace": f"a{secrets.token_hex(4)}",
            # A nak lost with a connection the client dropped leaves the message to ack_wait.
            "ack_wait_s": 5,
            **overrides,
        }
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    nc = await nats.connect(nats_url)
    eventlog = EventLog(nc.jetstream(), settings.subjects)
    if prepare is not None:
        await ensure_stream(eventlog.js, settings)
        await prepare(eventlog)
    app = TaskApp("test")
    app.task(TASK_TYPE)(handler)
    running = asyncio.create_task(run_app(app, settings, stop, ready=ready))
    try:
        readied = asyncio.create_task(ready.wait())
        await asyncio.wait({readied, running}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        readied.cancel()
        if running.done():
            running.result()
        assert ready.is_set(), "the worker did not get ready"
        yield eventlog
    finally:
        stop.set()
        try:
            await running
        finally:
            await drop_namespace(nc.jetstream(), settings.subjects)
            await nc.close()


async def submit(
    eventlog: EventLog, *, timeout_s: float | None = None, max_attempts: int = 1
) -> UUID:
    task_id = uuid4()
    await eventlog.append(
        TaskSubmitted(
            task_id=task_id,
            task_type=TASK_TYPE,
            parameters={},
            attempt=1,
            max_attempts=max_attempts,
            timeout_s=timeout_s,
        )
    )
    return task_id


async def events_once_ended(eventlog: EventLog, task_id: UUID) -> list[TaskEvent]:
    """The task's events once its attempt has ended in the log."""
    events: list[TaskEvent] = []

    async def ended() -> bool:
        events[:] = [logged.event for logged in await eventlog.history(task_id)]
        return any(isinstance(e, TaskSucceeded | TaskFailed) for e in events)

    await eventually(ended)
    return events


def of_type(events: list[TaskEvent], kind: type[Any]) -> list[Any]:
    return [event for event in events if isinstance(event, kind)]


async def work_settled(eventlog: EventLog) -> bool:
    """Whether the worker's consumer has no message left unacknowledged."""
    info = await eventlog.js.consumer_info(
        eventlog.subjects.stream, subjects.worker_consumer(TASK_TYPE)
    )
    return (info.num_ack_pending, info.num_pending) == (0, 0)


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[NatsServer]:
    """A nats-server of this test's own, so pausing it disturbs no other test."""
    server = start_nats(tmp_path / "nats")
    try:
        yield server
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
        server.stop()


@contextmanager
def paused(server: NatsServer) -> Iterator[None]:
    """The server stops answering (its connections stay open), then carries on."""
    pid = server.process.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        _wait_until_stopped(pid)
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def _wait_until_stopped(pid: int) -> None:
    """Return once every thread of ``pid`` has stopped.

    kill() returns before the signal has reached them all: a thread still running answered
    about one publish in 15 sent right after it. It blocks the event loop for the few
    milliseconds this takes, which suits: nothing of the test should run before.
    """
    deadline = time.monotonic() + 5
    threads = Path(f"/proc/{pid}/task")
    while not all(_thread_state(stat) in ("t", "T") for stat in threads.glob("*/stat")):
        if time.monotonic() > deadline:
            raise AssertionError(f"nats-server {pid} did not stop")
        time.sleep(0.001)


def _thread_state(stat: Path) -> str:
    try:
        # The state follows the command name, which is in parentheses and may hold spaces.
        return stat.read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:  # the thread ended
        return "T"
