"""The FastAPI application: lifespan resources, routes, errors, hardening and the web UI."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from taskbus.catalog import catalog_bucket
from taskbus.connections import close_nats, connect_nats
from taskbus.eventlog import EventLog, ensure_stream
from taskbus.files import ensure_file_bucket
from taskbus.readmodel.database import (
    POSTGRES_RETRY_S,
    POSTGRES_UNAVAILABLE,
    READ_MODEL_MISSING,
    create_pool,
)

from taskbus_api.access import check_every_route_guarded, configured_access
from taskbus_api.deps import Resources
from taskbus_api.errors import install_error_handlers
from taskbus_api.feed import ChangeFeed
from taskbus_api.readmodel import ReadModel
from taskbus_api.routes import (
    audit,
    batch,
    files,
    health,
    overview,
    session,
    stream,
    task_types,
    tasks,
)
from taskbus_api.security import Hardening
from taskbus_api.settings import ApiSettings
from taskbus_api.task_types import TaskTypes

log = structlog.get_logger(__name__)


def changes_channel(schema: str) -> str:
    # The projector announces committed positions here (taskbus_projector.projector).
    return f"{schema}_changes"


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: ApiSettings = app.state.settings
    nc = await connect_nats(settings.nats_url, name="api")
    pool = await create_pool(
        settings.database_url,
        settings.readmodel_schema,
        max_size=20,
        command_timeout=settings.db_timeout_s,
    )
    try:
        js = nc.jetstream()
        await ensure_stream(js, settings)
        file_store = await ensure_file_bucket(js, settings)
        feed = ChangeFeed(pool, changes_channel(settings.readmodel_schema))
        feed_start = asyncio.create_task(_start_feed(feed))
        # Usually there at once; if not, the API serves commands meanwhile (reads answer 503).
        await asyncio.wait({feed_start}, timeout=settings.db_timeout_s)
        task_types = TaskTypes(
            await catalog_bucket(js, settings.subjects, replicas=settings.stream_replicas)
        )
        await task_types.start()
        app.state.resources = Resources(
            settings=settings,
            nc=nc,
            pool=pool,
            readmodel=ReadModel(pool, timeout_s=settings.db_timeout_s),
            eventlog=EventLog(js, settings.subjects),
            feed=feed,
            files=file_store,
            task_types=task_types,
        )
        log.info("api ready", port=settings.port)
        try:
            yield
        finally:
            await task_types.stop()
            feed_start.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feed_start
            await feed.stop()
    finally:
        await pool.close()
        await close_nats(nc)


async def _start_feed(feed: ChangeFeed) -> None:
    """Start the change feed once the read model exists.

    The projector creates and migrates the read model; the API's role may only read it
    (docs/design.md, "Threat model"), so on a first start the API may be up before it is.
    """
    while True:
        try:
            await feed.start()
            log.info("change feed started")
            return
        except READ_MODEL_MISSING:
            log.warning("the read model is not created yet; waiting for the projector")
        except POSTGRES_UNAVAILABLE as exc:
            log.warning("postgres unavailable; starting the change feed soon", error=repr(exc))
        await asyncio.sleep(POSTGRES_RETRY_S)


def create_app(settings: ApiSettings) -> FastAPI:
    app = FastAPI(
        title="taskbus",
        version="0.1.0",
        summary="Background tasks as an event log: submit, watch, cancel, retry.",
        lifespan=_lifespan,
        # The interactive docs load scripts from a CDN, which the CSP rightly forbids;
        # the schema stays at /openapi.json.
        docs_url=None,
        redoc_url=None,
        # Its own spans would double ours (taskbus_api.security, which the events' trace
        # context comes from), and it is switched on by any tracer provider, which
        # configure_tracing always sets (for the trace ids on log lines).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.access = configured_access(settings)
    install_error_handlers(app)
    app.add_middleware(
        Hardening,
        allowed_hosts=settings.allowed_host_list,
        max_body_bytes=settings.max_body_bytes,
    )
    modules = (tasks, batch, stream, overview, health, files, session, audit, task_types)
    routers = [module.router for module in modules]
    check_every_route_guarded(routers)
    for router in routers:
        app.include_router(router)
    _serve_web(app, settings)
    return app


def _serve_web(app: FastAPI, settings: ApiSettings) -> None:
    index = settings.web_dir / "index.html"
    if not index.is_file():
        log.warning("no web UI to serve", web_dir=str(settings.web_dir))
        return
    app.mount("/static", StaticFiles(directory=settings.web_dir), name="static")

    @app.get("/", include_in_schema=False)
    async def web_index() -> FileResponse:
        return FileResponse(index, headers={"Cache-Control": "no-cache"})
