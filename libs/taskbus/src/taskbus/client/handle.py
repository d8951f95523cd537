"""A handle on one submitted task: await its result, follow it, cancel or retry it."""

import asyncio
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import TYPE_CHECKING, Any
from uuid import UUID

from taskbus.client.errors import TaskCancelled, TaskFailed
from taskbus.client.models import Task

if TYPE_CHECKING:
    from taskbus.client.client import Client


class TaskHandle:
    """``task`` is the latest state this handle has seen (None for a handle made from an id
    alone, until it has seen one)."""

    def __init__(self, client: "Client", task: Task | UUID) -> None:
        self._client = client
        if isinstance(task, Task):
            self.id = task.id
            self.task: Task | None = task
        else:
            self.id = task
            self.task = None

    def __repr__(self) -> str:
        status = "?" if self.task is None else self.task.status
        return f"<TaskHandle {self.id} {status}>"

    async def events(self) -> AsyncGenerator[Task]:
        """The task's states from now on, live from the SSE stream, ending with its end
        (SUCCESS, FAILED or CANCELLED). The first is its current state.

        States older than the one this handle last saw (as a command answered it) are
        skipped: the read model may not show that command yet.
        """
        known = 0 if self.task is None else self.task.seq
        async with aclosing(self._client.watch(self.id)) as states:
            async for task in states:
                if task.seq < known:
                    continue
                self.task = task
                yield task
                if task.finished:
                    return

    # A timeout argument, as with concurrent.futures: awaiting a task's result is its purpose.
    async def result(self, timeout: float | None = None) -> dict[str, Any]:  # noqa: ASYNC109
        """Wait for the task to end and return its result.

        Raises :class:`TaskFailed` or :class:`TaskCancelled` (carrying the final task) when it
        ends otherwise, and ``TimeoutError`` when it has not ended within ``timeout`` seconds.
        """
        try:
            async with asyncio.timeout(timeout), aclosing(self.events()) as states:
                async for task in states:
                    if task.status == "SUCCESS":
                        return task.result or {}
                    if task.status == "FAILED":
                        raise TaskFailed(task)
                    if task.status == "CANCELLED":
                        raise TaskCancelled(task)
        except TimeoutError:
            raise TimeoutError(f"task {self.id} did not end within {timeout} s") from None
        raise AssertionError("a task's events end only with its end")

    async def refresh(self) -> Task:
        """The task's state now (reads reflect every command answered before)."""
        self.task = await self._client.get(self.id)
        return self.task

    async def cancel(self, *, reason: str | None = None) -> Task:
        self.task = await self._client.cancel(self.id, reason=reason)
        return self.task

    async def retry(self, *, reason: str | None = None) -> Task:
        """Retry the task as its next attempt; ``result()`` then awaits that attempt."""
        self.task = await self._client.retry(self.id, reason=reason)
        return self.task
