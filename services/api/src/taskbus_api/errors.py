"""API errors and their one HTTP shape: ``{"detail": ...}`` with the right status."""

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from nats.errors import Error as NatsError
from pydantic import ValidationError
from taskbus.errors import TaskbusError

log = structlog.get_logger(__name__)


class ApiError(TaskbusError):
    """An error with an HTTP status and a message for the client."""

    status_code = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(ApiError):
    """The addressed resource does not exist."""

    status_code = 404


class Conflict(ApiError):
    """The resource's state does not allow the request."""

    status_code = 409


class Unavailable(ApiError):
    """A dependency (NATS, Postgres) is down; the client may retry later."""

    status_code = 503


def validation_error(
    exc: ValidationError, *, prefix: tuple[str | int, ...]
) -> RequestValidationError:
    """Re-raise a model's validation errors as FastAPI's 422, located under ``prefix``."""
    return RequestValidationError(
        [
            {"loc": (*prefix, *err["loc"]), "msg": err["msg"], "type": err["type"]}
            for err in exc.errors(include_url=False)
        ]
    )


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)


async def _nats_error(_: Request, exc: Exception) -> JSONResponse:
    log.warning("event log unavailable", error=repr(exc))
    return JSONResponse({"detail": "the event log is unavailable; retry shortly"}, status_code=503)


async def _postgres_error(_: Request, exc: Exception) -> JSONResponse:
    log.warning("read model unavailable", error=repr(exc))
    return JSONResponse({"detail": "the read model is unavailable; retry shortly"}, status_code=503)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(NatsError, _nats_error)
    app.add_exception_handler(TimeoutError, _nats_error)
    app.add_exception_handler(asyncpg.PostgresConnectionError, _postgres_error)
    app.add_exception_handler(asyncpg.InterfaceError, _postgres_error)
    app.add_exception_handler(ConnectionError, _postgres_error)
