"""What a handler sees of the runtime: its task, progress, checkpoints, inputs and artifacts."""

import asyncio
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar
from uuid import UUID

import structlog

from taskbus.errors import Fail
from taskbus.eventlog import EventLog
from taskbus.events import TaskCheckpoint, TaskProgress
from taskbus.files import FileInfo, FileNotFound, FileReader, FileStore
from taskbus.worker.claim import Claim
from taskbus.worker.start import AttemptStart

P = ParamSpec("P")
R = TypeVar("R")

_PROGRESS_STEP = 10.0
_MESSAGE_MAX_CHARS = 500


class TaskContext:
    """One attempt of one task, as its handler works on it.

    Progress is throttled here so handlers may report as often as they like: an event is
    emitted when progress has moved ``_PROGRESS_STEP`` points or ``interval_s`` has passed.
    Every event goes through the delivery's :class:`Claim`: once another writer (a cancel,
    a newer delivery) has written to the task, the next one raises ``ClaimLost`` into the
    handler, which should let it propagate. Progress reported before the attempt's
    TaskStarted is due (:mod:`taskbus.worker.start`) is held, and written after it then.
    """

    def __init__(
        self,
        eventlog: EventLog,
        claim: Claim,
        start: AttemptStart,
        *,
        task_id: UUID,
        task_type: str,
        attempt: int,
        resume: dict[str, Any] | None,
        interval_s: float,
        checkpoint_max_bytes: int,
    ) -> None:
        self._claim = claim
        self._start = start
        self._held: TaskProgress | None = None
        self.files = FileStore(eventlog.js, eventlog.subjects.files_bucket)
        self.task_id = task_id
        self.task_type = task_type
        self.attempt = attempt
        self.resume = resume
        """The data of this attempt's last checkpoint when it was redelivered, else None."""
        self.log = structlog.get_logger("taskbus.task").bind(
            task_id=str(task_id), task_type=task_type, attempt=attempt
        )
        self._interval_s = interval_s
        self._checkpoint_max_bytes = checkpoint_max_bytes
        self._reported = 0.0
        self._reported_at = time.monotonic()

    async def progress(self, percent: float, message: str | None = None) -> None:
        """Report progress (0-100); never goes backwards, emitted at most about once a second."""
        percent = max(self._reported, min(100.0, percent))
        now = time.monotonic()
        moved = percent - self._reported
        if moved <= 0 or (moved < _PROGRESS_STEP and now - self._reported_at < self._interval_s):
            return
        self._reported, self._reported_at = percent, now
        event = TaskProgress(
            task_id=self.task_id,
            task_type=self.task_type,
            attempt=self.attempt,
            progress=round(percent, 2),
            message=message[:_MESSAGE_MAX_CHARS] if message else message,
        )
        if self._start.due:
            self._held = event
            return
        await self._claim.append(event)

    async def announce_start(self) -> None:
        """Write the attempt's TaskStarted, then the progress held back until it."""
        await self._start.write()
        # No await between the start and taking what is held: a progress() from here on
        # is written directly, so the held one can never follow a newer one.
        held, self._held = self._held, None
        if held is not None:
            await self._claim.append(held)

    async def checkpoint(self, data: dict[str, Any]) -> None:
        """Record how far this attempt got; a redelivery of it starts with ``resume`` = data.

        Keep it small (counts and positions, not lists that grow with the work): every
        redelivery decodes it, and one over ``WORKER_CHECKPOINT_MAX_BYTES`` fails the task.
        """
        event = TaskCheckpoint(
            task_id=self.task_id, task_type=self.task_type, attempt=self.attempt, data=data
        )
        size = len(event.model_dump_json())
        if size > self._checkpoint_max_bytes:
            raise Fail(
                f"a checkpoint of {size} bytes is over the limit of "
                f"{self._checkpoint_max_bytes} bytes"
            )
        await self.announce_start()
        await self._claim.append(event)
        self.resume = data

    async def ensure_current(self) -> None:
        """Raise ``ClaimLost`` unless this delivery still holds the task; one request.

        Call it right before a side effect that must not happen twice (a mail sent): a
        cancelled task, or a delivery that stalled while a newer one took over, stops here.
        """
        await self._claim.verify()

    def side_effect_key(self, name: str) -> str:
        """A key naming one side effect of this attempt, the same in every delivery of it.

        For receivers that deduplicate (a mail's Message-ID, an HTTP Idempotency-Key).
        """
        return f"{self.task_id}.{self.attempt}.{name}"

    async def open_input(self, file_id: str) -> FileReader:
        """An uploaded input, to stream with ``async for``; a missing one fails the task."""
        try:
            return await self.files.open(file_id)
        except FileNotFound as exc:
            raise Fail(f"input {exc}") from exc

    async def store_artifact(
        self, data: bytes, *, name: str, content_type: str, file_id: str | None = None
    ) -> FileInfo:
        """Keep ``data`` as a file users can download (``GET /api/files/{file_id}``)."""
        return await self.files.put(data, name=name, content_type=content_type, file_id=file_id)

    async def run_sync(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run blocking or CPU-heavy code off the event loop, so heartbeats keep flowing."""
        return await asyncio.to_thread(fn, *args, **kwargs)
