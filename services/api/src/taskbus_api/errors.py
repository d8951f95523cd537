"""API errors and their one HTTP shape: ``{"detail": ...}`` with the right status.

Every error a client can provoke is answered here, small and encodable whatever it sent: a
422 lists at most ``MAX_ERRORS`` errors (one per character of a megabyte string would be a
100 MB body) and echoes only short inputs, with lone surrogates (valid in JSON, not in UTF-8)
escaped.
"""

import math
from collections.abc import Mapping
from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from nats.errors import Error as NatsError
from starlette.exceptions import HTTPException
from taskbus.errors import TaskbusError

log = structlog.get_logger(__name__)

MAX_ERRORS = 10
_MAX_TEXT = 100
_MAX_MESSAGE = 300
# Larger integers are as long as their digits (up to the JSON parser's 4,300).
_MAX_INT = 2**63

JsonScalar = str | int | float | bool


class ApiError(TaskbusError):
    """An error with an HTTP status and a message for the client."""

    status_code = 400
    headers: dict[str, str] | None = None

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def body(self) -> dict[str, Any]:
        return {"detail": brief(self.detail, 1000)}


class NotFound(ApiError):
    """The addressed resource does not exist."""

    status_code = 404


class Conflict(ApiError):
    """The resource's state does not allow the request."""

    status_code = 409


class Unavailable(ApiError):
    """A dependency (NATS, Postgres) is down; the client may retry later."""

    status_code = 503


def brief(text: str, limit: int = _MAX_TEXT) -> str:
    """``text`` cut to ``limit`` characters, with lone surrogates escaped so it encodes."""
    if len(text) > limit:
        text = text[:limit] + "…"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _echo(value: object) -> JsonScalar | None:
    """What of a refused value to show back: short text and numbers, None for the rest.

    Lists and objects can be megabytes deep or wide, NaN and infinities are not JSON.
    """
    if isinstance(value, str):
        return brief(value)
    if isinstance(value, bool) or (isinstance(value, int) and abs(value) < _MAX_INT):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return None


def _public(error: Mapping[str, Any]) -> dict[str, Any]:
    """One validation error as the client sees it: ``loc``, ``msg``, ``type`` and, when
    small, ``input`` and ``ctx`` (whose values may be exceptions: shown as their text)."""
    public: dict[str, Any] = {
        "loc": [part if isinstance(part, int) else brief(str(part)) for part in error["loc"]],
        "msg": brief(str(error["msg"]), _MAX_MESSAGE),
        "type": brief(str(error["type"])),
    }
    if (shown := _echo(error.get("input"))) is not None:
        public["input"] = shown
    ctx = {
        key: shown
        for key, value in (error.get("ctx") or {}).items()
        if (shown := _echo(value if isinstance(value, JsonScalar) else str(value))) is not None
    }
    if ctx:
        public["ctx"] = ctx
    return public


async def _invalid_request(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    detail = [_public(error) for error in errors[:MAX_ERRORS]]
    if len(errors) > MAX_ERRORS:
        more = f"and {len(errors) - MAX_ERRORS:,} more errors, not shown"
        detail.append({"loc": [], "msg": more, "type": "too_many_errors"})
    return JSONResponse({"detail": detail}, status_code=422)


async def _unparsable_body(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    cause = exc.__cause__
    # FastAPI answers a body json.loads refused for another reason than its syntax (nested
    # past the recursion limit, a 5,000-digit number, bytes that are not UTF-8) with a bare
    # "There was an error parsing the body": say why.
    if exc.status_code == 400 and isinstance(cause, RecursionError | ValueError):
        exc = HTTPException(400, f"the body could not be parsed: {brief(str(cause), 200)}")
    return await http_exception_handler(request, exc)


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)


async def _refused_value(_: Request, exc: Exception) -> JSONResponse:
    # Postgres (or asyncpg, encoding an argument) refused a value the request carried.
    log.info("value refused by the read model", error=repr(exc))
    detail = f"a value in the request cannot be used: {brief(str(exc), 200)}"
    return JSONResponse({"detail": detail}, status_code=400)


async def _nats_error(_: Request, exc: Exception) -> JSONResponse:
    log.warning("event log unavailable", error=repr(exc))
    return JSONResponse({"detail": "the event log is unavailable; retry shortly"}, status_code=503)


async def _postgres_error(_: Request, exc: Exception) -> JSONResponse:
    log.warning("read model unavailable", error=repr(exc))
    return JSONResponse({"detail": "the read model is unavailable; retry shortly"}, status_code=503)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _unparsable_body)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(asyncpg.DataError, _refused_value)
    app.add_exception_handler(NatsError, _nats_error)
    app.add_exception_handler(TimeoutError, _nats_error)
    app.add_exception_handler(asyncpg.PostgresConnectionError, _postgres_error)
    app.add_exception_handler(asyncpg.InterfaceError, _postgres_error)
    app.add_exception_handler(ConnectionError, _postgres_error)
