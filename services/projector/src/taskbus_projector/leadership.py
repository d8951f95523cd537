"""Only one projector folds into a read-model schema at a time; others stand by."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import structlog

log = structlog.get_logger(__name__)


@asynccontextmanager
async def leadership(pool: asyncpg.Pool, schema: str) -> AsyncIterator[None]:
    """Hold the schema's advisory lock for the duration of the block (waits for it).

    The lock lives on a connection held out of the pool. Should that connection die and a
    standby take over, two projectors fold the same events for a moment: harmless, since
    positions commit with the rows and a row never moves back to an older sequence.
    """
    conn = await pool.acquire()
    key = f"taskbus-projector:{schema}"
    try:
        while not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", key):
            log.info("another projector leads; standing by", schema=schema)
            await asyncio.sleep(2)
        log.info("projector leads", schema=schema)
        yield
    finally:
        if not conn.is_closed():
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", key)
        await pool.release(conn)
