"""The lease that makes one projector the writer of a read model (docs/design.md, "The projector").

A row per projection names its holder and an epoch. It is renewed every second and can be
taken over once it has expired; each takeover bumps the epoch. Every write of the holder runs
:meth:`Lease.fence` first, in the write's own transaction, and that succeeds only while the row
still shows the holder's epoch. A leader that paused past its lease, or lost its connection
for good, therefore cannot write anything after another took over: its transaction fails and
it steps down.
"""

import asyncio
import time
from typing import NoReturn

import asyncpg
import structlog
from taskbus.readmodel.database import POSTGRES_UNAVAILABLE, Connection
from taskbus.readmodel.schema import quote_ident

log = structlog.get_logger(__name__)

ACQUIRE = """
INSERT INTO {table} AS lease (projection, holder, epoch, expires_at, progress_at)
VALUES ($1, $2, 1, now() + make_interval(secs => $3), now())
ON CONFLICT (projection) DO UPDATE
SET holder = EXCLUDED.holder, epoch = lease.epoch + 1, expires_at = EXCLUDED.expires_at
WHERE lease.expires_at <= now()
RETURNING epoch
"""

# progress_at moves when the holder found itself caught up with the log since the last renewal.
RENEW = """
UPDATE {table}
SET expires_at = now() + make_interval(secs => $4),
    progress_at = CASE WHEN $5 THEN now() ELSE progress_at END
WHERE projection = $1 AND holder = $2 AND epoch = $3
RETURNING 1
"""

# A committed batch is progress too.
FENCE = """
UPDATE {table} SET progress_at = now()
WHERE projection = $1 AND holder = $2 AND epoch = $3
RETURNING 1
"""

HALT = """
UPDATE {table} SET halted = $4
WHERE projection = $1 AND holder = $2 AND epoch = $3
RETURNING 1
"""

# An expiry in the past hands the lease to the first standby that asks.
RELEASE = """
UPDATE {table} SET expires_at = '-infinity'
WHERE projection = $1 AND holder = $2 AND epoch = $3
"""


class LeaseLost(Exception):
    """Another projector holds the lease now: whatever this one was writing did not commit."""


async def try_acquire(
    pool: asyncpg.Pool, schema: str, projection: str, holder: str, ttl_s: float
) -> "Lease | None":
    """The lease on ``schema``'s projection, when it is free or expired; None while another
    holder renews it."""
    async with pool.acquire() as conn:
        epoch = await conn.fetchval(_on(ACQUIRE, schema), projection, holder, ttl_s)
    if epoch is None:
        return None
    return Lease(pool, schema, projection, holder, int(epoch), ttl_s)


def _on(statement: str, schema: str) -> str:
    # Named with its schema: a rebuild fences writes into another schema with the live lease.
    return statement.format(table=f"{quote_ident(schema)}.projector_lease")


class Lease:
    def __init__(
        self,
        pool: asyncpg.Pool,
        schema: str,
        projection: str,
        holder: str,
        epoch: int,
        ttl_s: float,
    ) -> None:
        self._pool = pool
        self.schema = schema
        self._key = (projection, holder, epoch)
        self._ttl_s = ttl_s
        self.epoch = epoch
        self.lost = asyncio.Event()
        """Set once this process knows, or must assume, that it no longer holds the lease."""
        self.ending = asyncio.Event()
        """Set when the holder should stop projecting: the lease was lost or the service stops."""
        self.fence_clause = (_on(FENCE, schema), self._key)
        """The fence as part of a write's own statement: an UPDATE of ``$1`` to ``$3`` that
        returns a row while the lease is this one's (and locks it until the write commits),
        and the values of its parameters."""
        self._valid_until = time.monotonic() + ttl_s
        """Measured from before each renewal was sent, so never later than the row's expiry."""
        self._caught_up = False

    def caught_up(self) -> None:
        """The projector found nothing left to fold: the next renewal records it as progress."""
        self._caught_up = True

    async def fence(self, conn: Connection) -> None:
        """Inside a write's transaction: fail it unless the lease is still this one's."""
        if await conn.fetchval(_on(FENCE, self.schema), *self._key) is None:
            self.fenced_out()

    def fenced_out(self) -> NoReturn:
        """A write that carried :attr:`fence_clause` found the lease taken over."""
        self._lose("a write found the lease taken over")

    async def halt(self, reason: str | None) -> None:
        """Record why the holder refuses to project (None: it no longer does)."""
        async with self._pool.acquire() as conn:
            if await conn.fetchval(_on(HALT, self.schema), *self._key, reason) is None:
                self._lose("recording a halt found the lease taken over")

    async def renew(self) -> None:
        """Extend the lease; sets ``lost`` when it was taken over or ran out unrenewed."""
        sent = time.monotonic()
        caught_up, self._caught_up = self._caught_up, False
        try:
            async with self._pool.acquire(timeout=self._ttl_s) as conn:
                renewed = await conn.fetchval(
                    _on(RENEW, self.schema), *self._key, self._ttl_s, caught_up, timeout=self._ttl_s
                )
        except POSTGRES_UNAVAILABLE as exc:
            self._caught_up = self._caught_up or caught_up
            if time.monotonic() >= self._valid_until:
                self.lost.set()
                log.warning("lease ran out while postgres was unreachable", error=repr(exc))
            return
        if renewed is None:
            self.lost.set()
            log.warning("lease taken over by another projector", epoch=self.epoch)
            return
        self._valid_until = sent + self._ttl_s

    async def release(self) -> None:
        """Hand the lease on at once instead of letting a standby wait out its expiry."""
        async with self._pool.acquire(timeout=self._ttl_s) as conn:
            await conn.execute(_on(RELEASE, self.schema), *self._key, timeout=self._ttl_s)

    def _lose(self, why: str) -> NoReturn:
        self.lost.set()
        raise LeaseLost(f"{why} (epoch {self.epoch})")
