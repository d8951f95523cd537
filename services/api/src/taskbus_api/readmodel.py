"""The read model as the API reaches it: every wait bounded, every failure a prompt 503.

A frozen or unreachable Postgres must not hang a request: acquiring a connection, each
statement and handing the connection back each have the same timeout, and a connection
that met trouble is dropped rather than reset.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import structlog
from taskbus.readmodel.database import POSTGRES_UNAVAILABLE, READ_MODEL_MISSING, Connection

from taskbus_api.errors import Unavailable

log = structlog.get_logger(__name__)


class ReadModel:
    def __init__(self, pool: asyncpg.Pool, *, timeout_s: float) -> None:
        self.pool = pool
        self.timeout_s = timeout_s

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A pooled connection; Postgres trouble while it is held becomes :class:`Unavailable`."""
        try:
            conn = await self.pool.acquire(timeout=self.timeout_s)
        except POSTGRES_UNAVAILABLE as exc:
            raise _unavailable(exc) from exc
        try:
            yield conn
        except READ_MODEL_MISSING as exc:
            log.warning("read model missing", error=repr(exc))
            raise Unavailable(
                "the read model is not created yet: the projector creates it when it starts"
            ) from exc
        except POSTGRES_UNAVAILABLE as exc:
            # Resetting it would wait on Postgres again; the pool opens a fresh one instead.
            conn.terminate()
            raise _unavailable(exc) from exc
        finally:
            try:
                await self.pool.release(conn)
            except POSTGRES_UNAVAILABLE as exc:
                # The answer is already computed; the pool has dropped the connection.
                log.warning("read-model connection dropped on release", error=repr(exc))


def _unavailable(exc: BaseException) -> Unavailable:
    log.warning("read model unavailable", error=repr(exc))
    return Unavailable("the read model (Postgres) is unavailable; retry shortly")
