"""The small HTTP port of the worker and projector services: health, readiness, metrics."""

import asyncio
import contextlib
from collections.abc import Callable, Generator

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def probe_app(is_ready: Callable[[], bool]) -> Starlette:
    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def readyz(_: Request) -> Response:
        ready = is_ready()
        return JSONResponse(
            {"status": "ready" if ready else "unready"}, status_code=200 if ready else 503
        )

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics)]
    )


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server inside a service's own loop: the service owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def serve_probes(
    is_ready: Callable[[], bool], *, host: str, port: int, stop: asyncio.Event
) -> None:
    """Serve ``/healthz``, ``/readyz`` and ``/metrics`` until ``stop`` is set."""
    config = uvicorn.Config(
        probe_app(is_ready), host=host, port=port, log_config=None, access_log=False
    )
    server = _EmbeddedServer(config)
    serving = asyncio.create_task(server.serve())
    await stop.wait()
    server.should_exit = True
    await serving
