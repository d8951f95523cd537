"""``projector --rebuild``: replay the whole log into a fresh schema, then switch over."""

import asyncio

import asyncpg
import structlog
from nats.aio.client import Client as NATS
from taskbus.readmodel.schema import migrate, quote_ident

from taskbus_projector.leadership import leadership, projector_pool
from taskbus_projector.lease import Lease
from taskbus_projector.projector import TASKS_PROJECTION, Projector
from taskbus_projector.settings import ProjectorSettings

log = structlog.get_logger(__name__)


async def rebuild(nc: NATS, pool: asyncpg.Pool, settings: ProjectorSettings) -> None:
    """Fold the log from its start into ``<schema>_rebuild`` and swap it in.

    The bulk of the replay runs beside the live projector, unfenced: the fresh schema is this
    process's alone. Only the last catch-up and the swap happen under the live lease (which
    fences them), so readers see the old model until the new one is complete, then the new
    one at once.
    """
    live, fresh = settings.readmodel_schema, f"{settings.readmodel_schema}_rebuild"
    async with pool.acquire() as conn:
        await conn.execute(f"DROP SCHEMA IF EXISTS {quote_ident(fresh)} CASCADE")
        await migrate(conn, fresh)
    fresh_pool = await projector_pool(settings, fresh, max_size=2)
    try:
        projector = Projector(nc, fresh_pool, settings, schema=fresh)
        await projector.run(asyncio.Event(), until_caught_up=True)
        async with leadership(
            pool, settings, asyncio.Event(), projection=TASKS_PROJECTION
        ) as lease:
            # Never None: no stop is asked for, so it stands by until it leads.
            assert lease is not None
            await projector.run(lease.ending, fence=lease, until_caught_up=True)
            await _swap(pool, live, fresh, lease)
        log.info("read model rebuilt", position=projector.position)
    finally:
        await fresh_pool.close()


async def _swap(pool: asyncpg.Pool, live: str, fresh: str, lease: Lease) -> None:
    """Rename ``fresh`` to ``live``, taking the lease row along so that the lease holds on."""
    old = f"{live}_old"
    async with pool.acquire() as conn, conn.transaction():
        await lease.fence(conn)
        await conn.execute(
            f"INSERT INTO {quote_ident(fresh)}.projector_lease "
            "(projection, holder, epoch, expires_at, progress_at) "
            "SELECT projection, holder, epoch, expires_at, now() "
            f"FROM {quote_ident(live)}.projector_lease"
        )
        await conn.execute(f"DROP SCHEMA IF EXISTS {quote_ident(old)} CASCADE")
        await conn.execute(f"ALTER SCHEMA {quote_ident(live)} RENAME TO {quote_ident(old)}")
        await conn.execute(f"ALTER SCHEMA {quote_ident(fresh)} RENAME TO {quote_ident(live)}")
        await conn.execute(f"DROP SCHEMA {quote_ident(old)} CASCADE")
