"""What the client raises: the API's refusals, and tasks that ended other than in success.

``TaskFailed`` and ``TaskCancelled`` here are exceptions for callers awaiting a result; the
log's events of the same names are ``taskbus.events.TaskFailed`` and ``TaskCancelled``.
"""

from typing import Any

import httpx

from taskbus.client.models import Task


class ClientError(Exception):
    """Root of the errors the client raises."""


class ApiError(ClientError):
    """The API answered with an error: ``status`` and its ``detail`` (text, or for a 422 the
    list of errors, each naming its field in ``loc``)."""

    def __init__(self, status: int, detail: Any) -> None:
        self.status = status
        self.detail = detail
        super().__init__(f"HTTP {status}: {describe(detail)}")


class InvalidRequest(ApiError):
    """422: a field of the request is wrong (``detail`` names it)."""


class NotFound(ApiError):
    """404: no such task."""


class Conflict(ApiError):
    """409: the task's state does not allow it (cancelling a finished task, say)."""


class AccessDenied(ApiError):
    """401 or 403: a missing or wrong API key, or one without the role needed."""


class Unavailable(ApiError):
    """503: NATS or Postgres is out of reach; trying again shortly may succeed."""


_BY_STATUS: dict[int, type[ApiError]] = {
    401: AccessDenied,
    403: AccessDenied,
    404: NotFound,
    409: Conflict,
    422: InvalidRequest,
    503: Unavailable,
}


def api_error(status: int, detail: Any) -> ApiError:
    return _BY_STATUS.get(status, ApiError)(status, detail)


def check(response: httpx.Response) -> None:
    """Raise the API's error if ``response`` is one (its body read already)."""
    if response.is_success:
        return
    try:
        body = response.json()
    except ValueError:
        body = response.text
    raise api_error(
        response.status_code, body.get("detail", body) if isinstance(body, dict) else body
    )


def describe(detail: Any) -> str:
    """A 422's list of errors as one line (``parameters.num_rows: Input should be ...``)."""
    if not isinstance(detail, list):
        return str(detail)
    parts = []
    for error in detail:
        if isinstance(error, dict):
            # "body" only says the error is in the request's body, which every one is.
            loc = [str(part) for part in error.get("loc", []) if part != "body"]
            parts.append(f"{'.'.join(loc) or 'body'}: {error.get('msg', error)}")
        else:
            parts.append(str(error))
    return "; ".join(parts)


class TaskEnded(ClientError):
    """The task ended without a result; ``task`` is its final state."""

    def __init__(self, task: Task, message: str) -> None:
        self.task = task
        super().__init__(message)


class TaskFailed(TaskEnded):
    """The task ended FAILED (its attempts spent, or a failure retrying cannot help)."""

    def __init__(self, task: Task) -> None:
        super().__init__(task, f"task {task.id} failed: {task.error}")


class TaskCancelled(TaskEnded):
    """The task was cancelled."""

    def __init__(self, task: Task) -> None:
        super().__init__(task, f"task {task.id} was cancelled")


class BatchRefused(ClientError):
    """Some tasks of a ``submit_many`` were refused; the others were submitted.

    ``results`` has one entry per task given, in order: its handle, or the error a single
    submit of it would have raised.
    """

    def __init__(self, results: "list[Any]") -> None:
        self.results = results
        refused = [(i, r) for i, r in enumerate(results) if isinstance(r, ApiError)]
        first = ", ".join(f"#{i}: {error}" for i, error in refused[:3])
        super().__init__(f"{len(refused)} of {len(results)} tasks refused ({first})")
