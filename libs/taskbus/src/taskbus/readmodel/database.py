"""Postgres connections to the read model, which lives in its own schema."""

import asyncio
from collections.abc import Awaitable, Callable, Mapping

import asyncpg
import structlog
from asyncpg.exceptions import OperatorInterventionError
from asyncpg.pool import PoolConnectionProxy

# A connection as functions receive it: direct, or borrowed from a pool.
Connection = asyncpg.Connection | PoolConnectionProxy

log = structlog.get_logger(__name__)

POSTGRES_UNAVAILABLE: tuple[type[BaseException], ...] = (
    TimeoutError,
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    # Shutdown, crash recovery, a cancelled statement (57xxx).
    OperatorInterventionError,
    # A pooled connection the server has just terminated (pg_terminate_backend), handed out
    # before asyncpg noticed it closing: its protocol is still taking in the server's error.
    asyncpg.InternalClientError,
)
"""What asyncpg raises while Postgres is down, frozen, restarting or too slow to answer.

Pooled connections are opened again on demand, so a service that catches these waits and
tries again rather than exiting."""

READ_MODEL_MISSING: tuple[type[BaseException], ...] = (
    asyncpg.UndefinedTableError,
    asyncpg.InvalidSchemaNameError,
)
"""What a query of the read model raises before the projector, which owns its schema, has
created it (the API only reads it: docs/design.md, "Threat model")."""

POSTGRES_RETRY_S = 1.0
"""How long a loop that met :data:`POSTGRES_UNAVAILABLE` waits before trying again."""


async def create_pool(
    dsn: str,
    schema: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    command_timeout: float | None = None,
    server_settings: Mapping[str, str] | None = None,
    reset: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
) -> asyncpg.Pool:
    """A pool whose connections see ``schema`` first; waits while Postgres is starting.

    ``command_timeout`` bounds each statement (client side, so it holds for a frozen server);
    ``server_settings`` add to (or override) the session settings set here. ``reset`` replaces
    what asyncpg sends when a connection goes back to the pool (a round trip clearing session
    state: ``RESET ALL``, ``UNLISTEN *`` and more); an open transaction is rolled back anyway.
    """
    delay = 0.2
    for attempt in range(30):
        try:
            pool = await asyncpg.create_pool(
                dsn,
                min_size=min_size,
                max_size=max_size,
                command_timeout=command_timeout,
                reset=reset,
                server_settings={
                    "search_path": f"{schema}, public",
                    # A generic plan of the list query ignores the trigram index for a rare
                    # name and reads the table backwards (34k rows at 1M tasks); plan per query.
                    "plan_cache_mode": "force_custom_plan",
                    **(server_settings or {}),
                },
            )
        except (OSError, asyncpg.CannotConnectNowError) as exc:
            log.warning("postgres not ready", attempt=attempt, error=str(exc))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
        else:
            assert pool is not None
            return pool
    raise ConnectionError("postgres did not accept connections in time")
