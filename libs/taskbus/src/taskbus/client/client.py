"""The API client: submit, read, cancel and retry tasks, and follow them live."""

import asyncio
import os
from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any, Self
from uuid import UUID

import httpx

from taskbus.client.errors import ApiError, BatchRefused, api_error, check
from taskbus.client.handle import TaskHandle
from taskbus.client.models import Task, TaskPage, TaskTypeInfo
from taskbus.client.stream import follow

DEFAULT_API_URL = "http://127.0.0.1:8000"
BATCH_SIZE = 1000
"""The most tasks ``POST /api/tasks/batch`` takes in one request."""
_BATCHES_IN_FLIGHT = 4
_current: "ContextVar[Client | None]" = ContextVar("taskbus_client", default=None)


def current_client() -> "Client":
    """The client of the innermost ``async with Client()`` around the caller."""
    client = _current.get()
    if client is None:
        raise RuntimeError(
            "no taskbus client: submit inside `async with taskbus.Client(...)`, or pass client="
        )
    return client


class Client:
    """An async client of one taskbus API; use it as ``async with Client() as client``.

    ``api_url`` and ``api_key`` default to ``TASKBUS_API_URL`` (else
    ``http://127.0.0.1:8000``) and ``TASKBUS_API_KEY``. ``via`` says where commands come
    from, for the audit trail (``X-Taskbus-Via``).
    """

    def __init__(
        self,
        api_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        via: str | None = None,
    ) -> None:
        headers = {}
        api_key = api_key or os.environ.get("TASKBUS_API_KEY") or None
        if api_key:
            headers["X-API-Key"] = api_key
        if via:
            headers["X-Taskbus-Via"] = via
        self.api_url = api_url or os.environ.get("TASKBUS_API_URL") or DEFAULT_API_URL
        self._http = httpx.AsyncClient(base_url=self.api_url, headers=headers, timeout=timeout)
        self._entered: list[Token[Client | None]] = []

    async def __aenter__(self) -> Self:
        # The client a declared type's ``submit`` uses when given none (taskbus.TaskDef).
        self._entered.append(_current.set(self))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        _current.reset(self._entered.pop())
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- commands ----------------------------------------------------------------------------

    async def submit(
        self,
        task_type: str,
        parameters: Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
        idempotency_key: str | None = None,
        max_attempts: int | None = None,
        timeout_s: float | None = None,
    ) -> TaskHandle:
        """Submit a task; returns once the API stored it. A key that already named a task
        answers with that task, whatever happened to it since."""
        body = _submit_body(task_type, parameters, name, max_attempts, timeout_s)
        headers = {} if idempotency_key is None else {"Idempotency-Key": idempotency_key}
        response = await self._http.post("/api/tasks/submit", json=body, headers=headers)
        check(response)
        return TaskHandle(self, Task.model_validate_json(response.content))

    async def submit_many(
        self,
        task_type: str,
        parameters: Iterable[Mapping[str, Any]],
        *,
        name: str | None = None,
        idempotency_keys: Sequence[str] | None = None,
    ) -> list[TaskHandle]:
        """Submit many tasks of one type, up to 1,000 per request, several requests at once.

        The handles come in the order of ``parameters``. If the API refused any task (the
        others are submitted regardless), raises :class:`BatchRefused` listing each task's
        handle or error.
        """
        bodies = [_submit_body(task_type, p, name, None, None) for p in parameters]
        if idempotency_keys is not None:
            if len(idempotency_keys) != len(bodies):
                raise ValueError("give one idempotency key per task")
            for body, key in zip(bodies, idempotency_keys, strict=True):
                body["idempotency_key"] = key
        slots = asyncio.Semaphore(_BATCHES_IN_FLIGHT)

        async def send(batch: list[dict[str, Any]]) -> list[TaskHandle | ApiError]:
            async with slots:
                return await self._submit_batch(batch)

        chunks = [bodies[i : i + BATCH_SIZE] for i in range(0, len(bodies), BATCH_SIZE)]
        results = [r for chunk in await asyncio.gather(*map(send, chunks)) for r in chunk]
        if any(isinstance(result, ApiError) for result in results):
            raise BatchRefused(results)
        return [result for result in results if isinstance(result, TaskHandle)]

    async def _submit_batch(self, bodies: list[dict[str, Any]]) -> list[TaskHandle | ApiError]:
        response = await self._http.post("/api/tasks/batch", json={"tasks": bodies})
        check(response)
        results: list[TaskHandle | ApiError] = []
        for item in response.json()["items"]:
            if item["status"] == 201:
                results.append(TaskHandle(self, Task.model_validate(item["task"])))
            else:
                results.append(api_error(item["status"], item["detail"]))
        return results

    async def cancel(self, task_id: UUID | str, *, reason: str | None = None) -> Task:
        """Cancel a PENDING or RUNNING task (:class:`Conflict` once it has ended)."""
        response = await self._http.request("DELETE", f"/api/tasks/{task_id}", json=_note(reason))
        check(response)
        return Task.model_validate_json(response.content)

    async def retry(self, task_id: UUID | str, *, reason: str | None = None) -> Task:
        """Retry a FAILED or CANCELLED task as its next attempt (:class:`Conflict` otherwise)."""
        response = await self._http.post(f"/api/tasks/{task_id}/retry", json=_note(reason))
        check(response)
        return Task.model_validate_json(response.content)

    # -- reads -------------------------------------------------------------------------------

    def handle(self, task_id: UUID | str) -> TaskHandle:
        """A handle on a task submitted earlier, known by its id."""
        return TaskHandle(self, UUID(str(task_id)))

    async def get(self, task_id: UUID | str) -> Task:
        response = await self._http.get(f"/api/tasks/{task_id}")
        check(response)
        return Task.model_validate_json(response.content)

    async def list_tasks(
        self,
        *,
        status: str | None = None,
        task_type: str | None = None,
        q: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> TaskPage:
        """A page of tasks, newest first; pass ``next_cursor`` back as ``cursor``."""
        params = {"status": status, "task_type": task_type, "q": q, "cursor": cursor}
        query = {key: value for key, value in params.items() if value is not None}
        response = await self._http.get("/api/tasks/", params={**query, "limit": limit})
        check(response)
        return TaskPage.model_validate_json(response.content)

    async def task_types(self) -> list[TaskTypeInfo] | None:
        """The catalog of task types; None from an API that has none (no such endpoint)."""
        response = await self._http.get("/api/task-types")
        if response.status_code == 404:
            return None
        check(response)
        body = response.json()
        items = body["items"] if isinstance(body, dict) else body
        return [TaskTypeInfo.model_validate(item) for item in items]

    async def read_json_file(self, file_id: str) -> dict[str, Any]:
        """A stored JSON file, such as a result too large for the log."""
        response = await self._http.get(f"/api/files/{file_id}")
        check(response)
        body: dict[str, Any] = response.json()
        return body

    def watch(self, task_id: UUID | str, *, after: int = 0) -> AsyncGenerator[Task]:
        """The task's states with a log sequence past ``after`` (0: its current state first),
        live from the SSE stream, without end."""
        return follow(self._http, UUID(str(task_id)), after=after)


def _submit_body(
    task_type: str,
    parameters: Mapping[str, Any] | None,
    name: str | None,
    max_attempts: int | None,
    timeout_s: float | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"task_type": task_type, "parameters": dict(parameters or {})}
    optional = {"name": name, "max_attempts": max_attempts, "timeout_s": timeout_s}
    body.update({key: value for key, value in optional.items() if value is not None})
    return body


def _note(reason: str | None) -> dict[str, str] | None:
    return None if reason is None else {"reason": reason}
