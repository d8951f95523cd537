"""Liveness, readiness and the dependency report (``/api/health``)."""

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from nats.js.errors import NotFoundError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from taskbus.readmodel.projector_status import ProjectorStatus, projector_status

from taskbus_api.deps import Resources, ResourcesDep
from taskbus_api.schemas import Health

router = APIRouter(tags=["health"])

_PROBE_TIMEOUT_S = 2.0


async def _stream_last_seq(resources: Resources) -> int | None:
    try:
        return await resources.eventlog.tail()
    except NotFoundError:
        return None


async def _projector(resources: Resources) -> ProjectorStatus:
    async with resources.readmodel.connection() as conn:
        return await projector_status(conn)


def projector_problem(status: ProjectorStatus, lag: int | None, stall_s: float) -> str | None:
    """Why the read model counts as stuck, or None: the projector refuses to go on (its
    position is past the log's end), or it made no progress for ``stall_s`` while behind."""
    if status.halted is not None:
        return status.halted
    if not lag:
        return None
    if status.idle_s is None:
        return f"no projector has run yet; the read model is {lag} events behind the log"
    if status.idle_s <= stall_s:
        return None
    leading = f"the leader is {status.leader}" if status.leader else "no projector holds the lease"
    return (
        f"the projector made no progress for {status.idle_s:.0f} s while {lag} events behind "
        f"the log ({leading})"
    )


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
        status: ProjectorStatus | None = await asyncio.wait_for(
            _projector(resources), _PROBE_TIMEOUT_S
        )
    except Exception:
        # As above: a probe reports a failing dependency, it never fails itself.
        status = None
    projected = None if status is None else status.position
    lag = None if log_position is None or projected is None else max(0, log_position - projected)
    problem = (
        None
        if status is None
        else projector_problem(status, lag, resources.settings.projector_stall_s)
    )
    ready = nats_ok and status is not None and stream_ok
    return Health(
        status="ok" if ready and problem is None else "unavailable",
        nats=nats_ok,
        postgres=status is not None,
        stream=stream_ok,
        projector_position=projected,
        log_position=log_position,
        projector_lag=lag,
        projector_problem=problem,
        quarantined_events=None if status is None else status.quarantined,
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
    """Ready: NATS, Postgres and the stream are all reachable.

    A stuck projector does not make the API unready: commands and task reads go on without
    it (docs/design.md, "Consistency"), so taking the API out of service would only add to it.
    """
    report = await check(resources)
    ready = report.nats and report.postgres and report.stream
    return JSONResponse(
        {"status": "ready" if ready else "unready"}, status_code=200 if ready else 503
    )
