"""The projector's lease against the session's Postgres: takeover, fencing, release."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest
from taskbus.readmodel.schema import migrate
from taskbus_projector.leadership import projector_pool
from taskbus_projector.lease import Lease, LeaseLost, try_acquire
from taskbus_projector.settings import ProjectorSettings

SCHEMA = "taskbus"


@pytest.fixture
async def pool(fresh_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    settings = ProjectorSettings(database_url=fresh_database_url, lease_ttl_s=1)
    pool = await projector_pool(settings, SCHEMA, max_size=4)
    async with pool.acquire() as conn:
        await migrate(conn, SCHEMA)
    yield pool
    await pool.close()


async def _acquire(pool: asyncpg.Pool, holder: str, ttl_s: float = 30) -> Lease | None:
    return await try_acquire(pool, SCHEMA, "tasks", holder, ttl_s)


async def _expire(pool: asyncpg.Pool) -> None:
    """What a lease comes to when its holder stops renewing it for a TTL."""
    await pool.execute("UPDATE projector_lease SET expires_at = now() - interval '1 second'")


async def test_a_valid_lease_is_not_taken_an_expired_one_is_with_a_new_epoch(
    pool: asyncpg.Pool,
) -> None:
    first = await _acquire(pool, "a")
    refused = await _acquire(pool, "b")
    await _expire(pool)
    second = await _acquire(pool, "b")

    assert first is not None
    assert first.epoch == 1
    assert refused is None
    assert second is not None
    assert second.epoch == 2


async def test_a_deposed_holder_commits_nothing_and_learns_it_lost(pool: asyncpg.Pool) -> None:
    old = await _acquire(pool, "a")
    assert old is not None
    await _expire(pool)
    assert await _acquire(pool, "b") is not None

    async def write() -> None:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("INSERT INTO projection_position VALUES ('tasks', 99)")
            await old.fence(conn)

    with pytest.raises(LeaseLost):
        await write()
    await old.renew()

    assert await pool.fetchval("SELECT count(*) FROM projection_position") == 0
    assert old.lost.is_set()


async def test_renewing_keeps_the_lease_and_release_hands_it_on_at_once(
    pool: asyncpg.Pool,
) -> None:
    lease = await _acquire(pool, "a", ttl_s=1)
    assert lease is not None
    for _ in range(3):
        await lease.renew()
    kept = await _acquire(pool, "b")
    await lease.release()
    successor = await _acquire(pool, "b")

    assert not lease.lost.is_set()
    assert kept is None
    assert successor is not None
    assert successor.epoch == lease.epoch + 1


async def test_a_holder_paused_inside_a_transaction_does_not_keep_the_lease(
    pool: asyncpg.Pool,
) -> None:
    """A fenced write that never finishes (its process stopped) holds the lease row's lock;
    Postgres ends that session after the TTL, so a standby is not kept waiting."""
    lease = await _acquire(pool, "a", ttl_s=1)
    assert lease is not None
    stalled = await pool.acquire()
    transaction = stalled.transaction()
    await transaction.start()
    await lease.fence(stalled)
    started = time.monotonic()
    try:
        successor = None
        while successor is None:
            assert time.monotonic() - started < 10, "the stalled transaction kept the lease"
            successor = await asyncio.wait_for(_acquire(pool, "b"), 10)
        took = time.monotonic() - started
    finally:
        # Postgres ended the session; asyncpg may not have taken that in yet, or may have
        # taken the connection back already.
        with contextlib.suppress(asyncpg.InterfaceError, asyncpg.InternalClientError):
            await pool.release(stalled)

    assert successor.epoch == lease.epoch + 1
    assert took < 3
