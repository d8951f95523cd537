"""The change feed: Postgres NOTIFY from the projector, fanned out to SSE clients.

One listener connection per API process. Each notification carries the projector's
committed position; the feed reads the rows changed since what it last broadcast and
hands them to every subscriber through its filter, so an SSE client costs no query of its
own: one query per batch for all, and one per distinct filter with a search (``q``). A
change is decoded and encoded once, when the first stream sends it (``TaskVersion``), and
a batch through a filter is encoded as SSE once for every stream of that filter (``Batch``):
with 1,000 streams, each re-encoding it was a quarter of the API's time.

Handing over never waits for a subscriber: one whose backlog is full is dropped and
resumes by sequence when its client reconnects.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import asyncpg
import structlog
from asyncpg.pool import PoolConnectionProxy
from taskbus import metrics
from taskbus.readmodel.database import Connection

from taskbus_api.queries import (
    Change,
    TaskFilter,
    changed_since,
    filter_changes,
    projected_position,
)

log = structlog.get_logger(__name__)

_SUBSCRIBER_BACKLOG = 256
_BATCH = 1000
# Notifications can be missed (listener reconnects); a poll this often covers the gap.
_POLL_S = 5.0
# Waiting longer for a pooled connection means Postgres is in trouble: retry the read later.
_ACQUIRE_TIMEOUT_S = 5.0
_END = "end"
_SLOW = "slow"
# The JSON it carries is one line.
_EVENT = b"id: %d\r\nevent: %s\r\ndata: %s\r\n\r\n"


def sse_events(changes: Sequence[Change]) -> bytes:
    """``changes`` as SSE events (a ``ServerSentEvent``'s encoding), in one chunk: a send
    per change went through the ASGI stack and a timeout scope each, and cost a busy
    stream more than the changes themselves."""
    return b"".join(
        _EVENT % (change.version.seq, b"task", change.version.task_json)
        if change.matches
        else _EVENT % (change.version.seq, b"left", change.version.left_json)
        for change in changes
    )


@dataclass(frozen=True, slots=True)
class Batch:
    """Changes through one filter, in log order, and their SSE events."""

    changes: list[Change]
    sse: bytes


class SlowSubscriber(Exception):
    """A subscriber fell too far behind; it must reconnect and resume by sequence."""


class Subscription:
    def __init__(self, feed: "ChangeFeed", flt: TaskFilter) -> None:
        self._feed = feed
        self.filter = flt
        self._queue: asyncio.Queue[Batch | str] = asyncio.Queue(_SUBSCRIBER_BACKLOG)

    def offer(self, batch: Batch) -> None:
        try:
            self._queue.put_nowait(batch)
        except asyncio.QueueFull:
            self._close(_SLOW)

    def end(self) -> None:
        """The server is shutting down: finish the stream cleanly."""
        self._close(_END)

    def _close(self, reason: str) -> None:
        self._feed.unsubscribe(self)
        with contextlib.suppress(asyncio.QueueEmpty):
            if self._queue.full():
                self._queue.get_nowait()
        self._queue.put_nowait(reason)

    async def batches(self) -> AsyncIterator[Batch]:
        """The changes through this filter, batch by batch, until the feed ends them."""
        while True:
            batch = await self._queue.get()
            if batch == _SLOW:
                raise SlowSubscriber
            if isinstance(batch, str):
                return
            yield batch


class ChangeFeed:
    def __init__(self, pool: asyncpg.Pool, channel: str) -> None:
        self._pool = pool
        self._channel = channel
        self._subscribers: set[Subscription] = set()
        self._wakeup = asyncio.Event()
        self._advanced = asyncio.Condition()
        self._listener: PoolConnectionProxy[asyncpg.Record] | None = None
        self._pump: asyncio.Task[None] | None = None
        self.position = 0
        """The projector's committed position, as last announced."""
        self.sent_seq = 0
        """The last change broadcast to subscribers."""

    async def start(self) -> None:
        await self._listen()
        assert self._listener is not None
        self.position = self.sent_seq = await projected_position(self._listener)
        self._pump = asyncio.create_task(self._run())

    async def _listen(self) -> None:
        if self._listener is not None:
            await self._pool.release(self._listener)
        self._listener = await self._pool.acquire(timeout=_ACQUIRE_TIMEOUT_S)
        await self._listener.add_listener(self._channel, self._on_notify)

    async def stop(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        if self._listener is not None:
            with contextlib.suppress(asyncpg.InterfaceError):
                await self._listener.remove_listener(self._channel, self._on_notify)
            await self._pool.release(self._listener)
        for sub in list(self._subscribers):
            sub.end()

    def subscribe(self, flt: TaskFilter) -> Subscription:
        sub = Subscription(self, flt)
        self._subscribers.add(sub)
        metrics.SSE_CLIENTS.set(len(self._subscribers))
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)
        metrics.SSE_CLIENTS.set(len(self._subscribers))

    async def wait_for(self, seq: int, within_s: float) -> bool:
        """Wait until the read model includes log position ``seq``; False if not ``within_s``."""
        async with self._advanced:
            try:
                async with asyncio.timeout(within_s):
                    await self._advanced.wait_for(lambda: self.position >= seq)
            except TimeoutError:
                return False
        return True

    def _on_notify(self, _conn: Connection, _pid: int, _channel: str, payload: object) -> None:
        self.position = max(self.position, int(str(payload)))
        self._wakeup.set()

    async def _run(self) -> None:
        while True:
            notified = True
            try:
                await asyncio.wait_for(self._wakeup.wait(), _POLL_S)
            except TimeoutError:
                notified = False
            self._wakeup.clear()
            try:
                await self._catch_up(poll=not notified)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("change feed read failed; retrying", error=str(exc))
                await asyncio.sleep(1)
                self._wakeup.set()
            async with self._advanced:
                self._advanced.notify_all()

    async def _catch_up(self, *, poll: bool) -> None:
        """Broadcast what changed; ``poll`` also re-reads the position a NOTIFY may have lost.

        The reads go over the listener's own connection, which only this task uses: a
        pooled one cost an acquire and, on release, a reset (a round trip and four
        statements) per NOTIFY.
        """
        if self._listener is None or self._listener.is_closed():
            await self._listen()
        assert self._listener is not None
        if poll:
            self.position = max(self.position, await projected_position(self._listener))
        await self._broadcast_changes(self._listener)

    async def _broadcast_changes(self, conn: Connection) -> None:
        if not self._subscribers:
            # Nobody to tell; a subscriber arriving later catches up from sent_seq itself.
            self.sent_seq = max(self.sent_seq, self.position)
            return
        while True:
            batch = await changed_since(conn, self.sent_seq, TaskFilter(), limit=_BATCH)
            if batch:
                await self._offer(conn, batch)
                # Only now: one subscribing while the batch was being filtered was not
                # offered it, and catches up over it from sent_seq itself.
                self.sent_seq = batch[-1].version.seq
            # A short batch was all there was; what commits after it comes with a NOTIFY.
            if len(batch) < _BATCH:
                return

    async def _offer(self, conn: Connection, batch: list[Change]) -> None:
        """Give each subscriber the batch through its filter, filtering once per filter."""
        by_filter: dict[TaskFilter, list[Subscription]] = {}
        for sub in self._subscribers:
            by_filter.setdefault(sub.filter, []).append(sub)
        versions = [change.version for change in batch]
        for flt, subs in by_filter.items():
            changes = batch if flt.matches_all else await filter_changes(conn, versions, flt)
            # An empty batch would only take room in the subscriber's backlog.
            if changes:
                through = Batch(changes, sse_events(changes))
                for sub in subs:
                    sub.offer(through)
