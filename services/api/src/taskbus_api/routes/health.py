"""Liveness, readiness and the dependency report (``/api/health``)."""

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from nats.js.errors import NotFoundError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from taskbus_api import queries
from taskbus_api.deps import Resources, ResourcesDep
from taskbus_api.schemas import Health

router = APIRouter(tags=["health"])

_PROBE_TIMEOUT_S = 2.0


async def _stream_last_seq(resources: Resources) -> int | None:
    try:
        return await resources.eventlog.tail()
    except NotFoundError:
        return None


async def _projected(resources: Resources) -> int:
    async with resources.readmodel.connection() as conn:
        return await queries.projected_position(conn)


async def check(resources: Resources) -> Health:
    nats_ok = resources.nc.is_connected
    log_position: int | None = None
    stream_ok = False
    if nats_ok:
        try:
            log_position = await asyncio.wait_for(_stream_last_seq(resources), _PROBE_TIMEOUT_S)
            stream_ok = log_position is not None
        except Exception:
            # Whatever the failure (timeout, protocol, connection), the answer is "not ready".
            nats_ok = False
    try:
        projected: int | None = await asyncio.wait_for(_projected(resources), _PROBE_TIMEOUT_S)
    except Exception:
        # As above: a probe reports a failing dependency, it never fails itself.
        projected = None
    postgres_ok = projected is not None
    healthy = nats_ok and postgres_ok and stream_ok
    lag = None if log_position is None or projected is None else max(0, log_position - projected)
    return Health(
        status="ok" if healthy else "unavailable",
        nats=nats_ok,
        postgres=postgres_ok,
        stream=stream_ok,
        projector_position=projected,
        log_position=log_position,
        projector_lag=lag,
    )


@router.get("/api/health", response_model=Health, responses={503: {"model": Health}})
async def health(resources: ResourcesDep) -> JSONResponse:
    report = await check(resources)
    return JSONResponse(report.model_dump(), status_code=200 if report.status == "ok" else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics_endpoint() -> Response:
    """Prometheus metrics of this API process."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@router.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    """Alive: the process serves requests (no dependency is consulted)."""
    return {"status": "alive"}


@router.get("/readyz", include_in_schema=False)
async def readyz(resources: ResourcesDep) -> JSONResponse:
    """Ready: NATS, Postgres and the stream are all reachable."""
    report = await check(resources)
    return JSONResponse(
        {"status": "ready" if report.status == "ok" else "unready"},
        status_code=200 if report.status == "ok" else 503,
    )
