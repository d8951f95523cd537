"""Composition root of the projector service."""

import argparse
import asyncio
import gc

import asyncpg
import structlog
from nats.aio.client import Client as NATS
from taskbus.connections import close_nats, connect_nats
from taskbus.eventlog import ensure_stream
from taskbus.lifecycle import install_stop_signals, pause, run
from taskbus.logs import configure_logging
from taskbus.probes import serve_probes
from taskbus.readmodel.database import POSTGRES_RETRY_S, POSTGRES_UNAVAILABLE
from taskbus.readmodel.schema import migrate
from taskbus.tracing import configure_tracing

from taskbus_projector.leadership import leadership, projector_pool
from taskbus_projector.lease import Lease, LeaseLost
from taskbus_projector.projector import TASKS_PROJECTION, Projector
from taskbus_projector.rebuild import rebuild
from taskbus_projector.settings import ProjectorSettings

log = structlog.get_logger(__name__)

_GC_YOUNG_THRESHOLD = 10_000
"""Allocations between collections of the youngest generation (Python's default is 700)."""


async def serve(settings: ProjectorSettings, *, rebuild_first: bool) -> None:
    stop = asyncio.Event()
    install_stop_signals(stop)
    nc = await connect_nats(settings.nats_url, name="projector")
    js = nc.jetstream()
    pool = await projector_pool(settings, settings.readmodel_schema, max_size=4)
    probes = None
    if settings.health_port is not None:
        # A standby (waiting for the leader lock) is ready too: it must not block rollouts.
        probes = asyncio.create_task(
            serve_probes(
                lambda: nc.is_connected and not pool.is_closing(),
                host=settings.health_host,
                port=settings.health_port,
                stop=stop,
            )
        )
    try:
        await ensure_stream(js, settings)
        async with pool.acquire() as conn:
            await migrate(conn, settings.readmodel_schema)
        if rebuild_first:
            await rebuild(nc, pool, settings)
        await _project(nc, pool, settings, stop)
    finally:
        log.info("projector stopping")
        await pool.close()
        await close_nats(nc)
        if probes is not None:
            stop.set()
            await probes


async def _project(
    nc: NATS, pool: asyncpg.Pool, settings: ProjectorSettings, stop: asyncio.Event
) -> None:
    """Lead and fold until ``stop``, standing by while another projector holds the lease.

    A lost lease sends it back to standing by; the write it was making when it learnt of the
    loss did not commit.
    """
    while not stop.is_set():
        try:
            async with leadership(pool, settings, stop, projection=TASKS_PROJECTION) as lease:
                if lease is None:
                    return
                await _lead(nc, pool, settings, lease)
            if lease.lost.is_set():
                log.warning("projector steps down: its lease was taken over or ran out")
        except LeaseLost as exc:
            log.warning("projector steps down: it lost its lease", reason=str(exc))
        except POSTGRES_UNAVAILABLE as exc:
            log.warning("postgres unavailable; standing by again soon", error=repr(exc))
            await pause(stop, POSTGRES_RETRY_S)


async def _lead(nc: NATS, pool: asyncpg.Pool, settings: ProjectorSettings, lease: Lease) -> None:
    """Fold while the lease holds. Postgres trouble pauses it, to resume from the position
    committed last (nothing is folded twice, nothing skipped); the lease is kept meanwhile,
    so a dropped connection does not hand leadership around."""
    while not lease.ending.is_set():
        projector = Projector(nc, pool, settings, schema=settings.readmodel_schema)
        try:
            await projector.run(lease.ending, fence=lease)
        except POSTGRES_UNAVAILABLE as exc:
            log.warning("postgres unavailable; projecting again soon", error=repr(exc))
            await pause(lease.ending, POSTGRES_RETRY_S)


def main() -> None:
    parser = argparse.ArgumentParser(prog="taskbus-projector", description=__doc__)
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="replay the whole log into a fresh read model, switch over, then keep projecting",
    )
    args = parser.parse_args()
    settings = ProjectorSettings()
    configure_logging(settings.log_level, settings.log_format, service="projector")
    configure_tracing("projector")
    _tune_gc()
    run(lambda: serve(settings, rebuild_first=args.rebuild))


def _tune_gc() -> None:
    """Collect cycles less often, and never look at what start-up allocated.

    Each event allocates dozens of objects (the message, its headers, the decoded event, the
    next state) and a batch keeps thousands alive while it is folded and written, so the
    default thresholds ran a collection every few events, and a full one over every module's
    objects every few thousand: a quarter of the projector's CPU at full speed. What the
    fold allocates is freed by reference counting; cycles wait a little longer.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(_GC_YOUNG_THRESHOLD, older, oldest)
