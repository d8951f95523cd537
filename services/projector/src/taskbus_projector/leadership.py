"""Only one projector folds into a read-model schema at a time; others stand by."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import structlog
from taskbus.readmodel.database import POSTGRES_UNAVAILABLE

log = structlog.get_logger(__name__)

_STANDBY_POLL_S = 2.0


@asynccontextmanager
async def leadership(pool: asyncpg.Pool, schema: str, stop: asyncio.Event) -> AsyncIterator[bool]:
    """Hold the schema's advisory lock for the block; yields False if ``stop`` came first.

    The lock lives on a connection held out of the pool. Should that connection die and a
    standby take over, two projectors fold the same events for a moment: harmless, since
    positions commit with the rows and a row never moves back to an older sequence.
    """
    conn = await pool.acquire()
    key = f"taskbus-projector:{schema}"
    leading = False
    try:
        while not (
            leading := await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", key)
        ):
            log.info("another projector leads; standing by", schema=schema)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), _STANDBY_POLL_S)
            if stop.is_set():
                break
        if leading:
            log.info("projector leads", schema=schema)
        yield leading
    finally:
        # With its connection gone, the lock went with it: nothing is left to give up.
        with contextlib.suppress(*POSTGRES_UNAVAILABLE):
            if leading:
                await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", key)
            await pool.release(conn)
