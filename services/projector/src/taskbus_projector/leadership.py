"""Only one projector folds into a read-model schema at a time; others stand by."""

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import structlog
from taskbus.lifecycle import pause
from taskbus.readmodel.database import POSTGRES_UNAVAILABLE, create_pool

from taskbus_projector.lease import Lease, try_acquire
from taskbus_projector.settings import ProjectorSettings

log = structlog.get_logger(__name__)

HOLDER = f"{socket.gethostname()}:{os.getpid()}"
"""Who holds a lease, as the lease row shows it: enough to find the process."""


async def projector_pool(
    settings: ProjectorSettings, schema: str, *, max_size: int
) -> asyncpg.Pool:
    """A pool for a projector's reads and fenced writes on ``schema``.

    Postgres ends a session that sits in an open transaction for longer than the lease's
    TTL: a leader paused mid-transaction would otherwise hold the lease row's lock (taken by
    the fence) and keep a standby from taking over for as long as it stays paused. The
    application name carries the process id, so an operator (or a test) can find its
    sessions.

    Commits do not wait for the WAL to reach the disk (``synchronous_commit=off``): a crash
    of Postgres may lose the last few batches, but each batch's position commits with its
    rows, so the read model goes back to an earlier position as a whole and the projector
    folds those events again from the log, which is the truth (docs/design.md, "The
    projector"). The projector's statements look rows up by key or take whole columns as
    arrays, so one plan serves every batch: it is made once per session, not per batch (the
    pool's default plans every query afresh, for the API's searches). Sequential scans are
    ruled out so that this plan looks rows up by key even when it was made while the tables
    were empty (a fresh or rebuilt read model), which would otherwise have it scan the
    whole table for every batch for good. A connection goes back to the pool as it is: the
    projector sets no session state, so asyncpg's reset (a round trip each time) has nothing
    to clear.
    """
    return await create_pool(
        settings.database_url,
        schema,
        max_size=max_size,
        server_settings={
            "idle_in_transaction_session_timeout": str(int(settings.lease_ttl_s * 1000)),
            "application_name": f"taskbus-projector {os.getpid()}",
            "synchronous_commit": "off",
            "plan_cache_mode": "force_generic_plan",
            "enable_seqscan": "off",
        },
        reset=_keep_session,
    )


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """Nothing to reset (asyncpg still rolls back a transaction left open)."""


@asynccontextmanager
async def leadership(
    pool: asyncpg.Pool, settings: ProjectorSettings, stop: asyncio.Event, *, projection: str
) -> AsyncIterator[Lease | None]:
    """Stand by until this process holds the lease, and keep it renewed for the block.

    Yields None if ``stop`` came first. The lease's ``ending`` is set once the block should
    end: the lease was lost or ``stop`` was set.
    """
    lease = await _stand_by(pool, settings, stop, projection)
    if lease is None:
        yield None
        return
    log.info("projector leads", projection=projection, epoch=lease.epoch, holder=HOLDER)
    keeper = asyncio.create_task(_keep(lease, settings.lease_renew_s, stop))
    try:
        yield lease
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
        if not lease.lost.is_set():
            # Unreachable, it expires on its own within its TTL.
            with contextlib.suppress(*POSTGRES_UNAVAILABLE):
                await lease.release()


async def _stand_by(
    pool: asyncpg.Pool, settings: ProjectorSettings, stop: asyncio.Event, projection: str
) -> Lease | None:
    announced = False
    while not stop.is_set():
        lease = await try_acquire(
            pool, settings.readmodel_schema, projection, HOLDER, settings.lease_ttl_s
        )
        if lease is not None:
            return lease
        if not announced:
            log.info("another projector leads; standing by", projection=projection)
            announced = True
        await pause(stop, settings.standby_poll_s)
    return None


async def _keep(lease: Lease, renew_s: float, stop: asyncio.Event) -> None:
    try:
        while not (stop.is_set() or lease.lost.is_set()):
            await pause(stop, renew_s)
            if not stop.is_set():
                await lease.renew()
    finally:
        lease.ending.set()
