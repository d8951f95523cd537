"""A handle on one submitted task: await its result, follow it, cancel or retry it."""

import asyncio
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, Generic, cast
from uuid import UUID

from pydantic import BaseModel
from typing_extensions import TypeVar

from taskbus.client.errors import TaskCancelled, TaskFailed
from taskbus.client.models import Task

if TYPE_CHECKING:
    from taskbus.client.client import Client

R = TypeVar("R", bound=BaseModel | dict[str, Any], default=dict[str, Any])


class TaskHandle(Generic[R]):
    """``task`` is the latest state this handle has seen (None for a handle made from an id
    alone, until it has seen one).

    ``result_model`` is the task type's result model, as a handle from a declared type's
    ``submit`` has it: ``result()`` then returns that model rather than a dict.
    """

    def __init__(
        self,
        client: "Client",
        task: Task | UUID,
        *,
        result_model: type[BaseModel] | None = None,
    ) -> None:
        self._client = client
        self._result_model = result_model
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
    async def result(self, timeout: float | None = None) -> R:  # noqa: ASYNC109
        """Wait for the task to end and return its result, read from its file when the worker
        stored it as one (larger than ``WORKER_RESULT_MAX_BYTES``).

        Raises :class:`TaskFailed` or :class:`TaskCancelled` (carrying the final task) when it
        ends otherwise, and ``TimeoutError`` when it has not ended within ``timeout`` seconds.
        """
        try:
            async with asyncio.timeout(timeout), aclosing(self.events()) as states:
                async for task in states:
                    if task.status == "SUCCESS":
                        return await self._read_result(task.result or {})
                    if task.status == "FAILED":
                        raise TaskFailed(task)
                    if task.status == "CANCELLED":
                        raise TaskCancelled(task)
        except TimeoutError:
            raise TimeoutError(f"task {self.id} did not end within {timeout} s") from None
        raise AssertionError("a task's events end only with its end")

    async def _read_result(self, logged: dict[str, Any]) -> R:
        stored = logged.get("result_file") if logged.keys() == {"result_file"} else None
        full = logged if stored is None else await self._client.read_json_file(stored["file_id"])
        if self._result_model is None:
            return cast(R, full)
        # The type's own model is what R is: TaskDef.submit ties the two.
        return cast(R, self._result_model.model_validate(full))

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
