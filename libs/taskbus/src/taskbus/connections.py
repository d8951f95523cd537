"""Connection helpers for NATS and Postgres, with the retry behaviour every service wants."""

import asyncio

import asyncpg
import nats
import structlog
from nats.aio.client import Client as NATS

log = structlog.get_logger(__name__)


async def connect_nats(url: str, name: str) -> NATS:
    """Connect, retrying the first connection too, and reconnect for ever after."""

    async def on_disconnect() -> None:
        log.warning("nats disconnected")

    async def on_reconnect() -> None:
        log.info("nats reconnected")

    async def on_error(exc: Exception) -> None:
        log.warning("nats error", error=str(exc))

    return await nats.connect(
        url,
        name=name,
        connect_timeout=2,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        retry_on_failed_connect=True,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
        error_cb=on_error,
    )


async def create_pg_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """Create a pool, waiting for Postgres to accept connections (it may still be starting)."""
    delay = 0.2
    for attempt in range(30):
        try:
            pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size)
        except (OSError, asyncpg.CannotConnectNowError) as exc:
            log.warning("postgres not ready", attempt=attempt, error=str(exc))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
        else:
            assert pool is not None
            return pool
    raise ConnectionError(f"postgres at {dsn!r} did not accept connections")
