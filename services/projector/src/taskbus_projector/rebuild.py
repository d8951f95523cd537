"""``projector --rebuild``: replay the whole log into a fresh schema, then switch over."""

import asyncio
import contextlib

import asyncpg
import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from taskbus.readmodel.database import create_pool
from taskbus.readmodel.schema import migrate, quote_ident
from taskbus.subjects import PROJECTOR_CONSUMER

from taskbus_projector.leadership import leadership
from taskbus_projector.projector import Projector
from taskbus_projector.settings import ProjectorSettings

log = structlog.get_logger(__name__)


async def rebuild(nc: NATS, pool: asyncpg.Pool, settings: ProjectorSettings) -> None:
    """Fold the log from its start into ``<schema>_rebuild`` and swap it in.

    The bulk of the replay runs beside the live projector; only the last catch-up and the
    swap happen under the leader lock, so readers see the old model until the new one is
    complete, then the new one at once.
    """
    js = nc.jetstream()
    live, fresh = settings.readmodel_schema, f"{settings.readmodel_schema}_rebuild"
    async with pool.acquire() as conn:
        await conn.execute(f"DROP SCHEMA IF EXISTS {quote_ident(fresh)} CASCADE")
        await migrate(conn, fresh)
    await _delete_consumer(js, settings, fresh)
    fresh_pool = await create_pool(settings.database_url, fresh, max_size=2)
    try:
        projector = Projector(nc, fresh_pool, settings, schema=fresh)
        await projector.run(asyncio.Event(), until_caught_up=True)
        async with leadership(pool, live, asyncio.Event()):
            await projector.run(asyncio.Event(), until_caught_up=True)
            await _swap(pool, live, fresh)
        log.info("read model rebuilt", position=projector.position)
    finally:
        await fresh_pool.close()
        await _delete_consumer(js, settings, fresh)


async def _swap(pool: asyncpg.Pool, live: str, fresh: str) -> None:
    old = f"{live}_old"
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(f"DROP SCHEMA IF EXISTS {quote_ident(old)} CASCADE")
        await conn.execute(f"ALTER SCHEMA {quote_ident(live)} RENAME TO {quote_ident(old)}")
        await conn.execute(f"ALTER SCHEMA {quote_ident(fresh)} RENAME TO {quote_ident(live)}")
        await conn.execute(f"DROP SCHEMA {quote_ident(old)} CASCADE")


async def _delete_consumer(js: JetStreamContext, settings: ProjectorSettings, schema: str) -> None:
    with contextlib.suppress(NotFoundError):
        await js.delete_consumer(settings.subjects.stream, f"{PROJECTOR_CONSUMER}-{schema}")
