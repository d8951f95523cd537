"""The projector's I/O shell: fetch events in order, fold them in batches, commit, ack."""

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from uuid import UUID

import asyncpg
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from pydantic import ValidationError
from taskbus import metrics
from taskbus.connections import NATS_RETRY_S, NATS_UNAVAILABLE
from taskbus.events import decode_event
from taskbus.lifecycle import pause
from taskbus.readmodel.fold import fold
from taskbus.readmodel.state import TaskState
from taskbus.subjects import PROJECTOR_CONSUMER, Subjects
from taskbus.tracing import trace_id_of

from taskbus_projector.pull import BatchPuller, PullInterrupted
from taskbus_projector.settings import ProjectorSettings
from taskbus_projector.state_cache import StateCache
from taskbus_projector.store import Delivered, load_position, load_states, write_batch

log = structlog.get_logger(__name__)


def changes_channel(schema: str) -> str:
    """The NOTIFY channel on which the projector announces each committed position."""
    return f"{schema}_changes"


@dataclass(frozen=True, slots=True)
class _Folded:
    """A batch folded but not yet written: its changed states and what to acknowledge."""

    events: list[Delivered]
    states: dict[UUID, TaskState]
    position: int
    last_msg: Msg
    fold_seconds: float


class _Gap(Exception):
    def __init__(self, *, expected: int, got: int) -> None:
        super().__init__(f"expected {expected}, got {got}")
        self.where = {"expected": expected, "got": got}


class Projector:
    def __init__(
        self,
        nc: NATS,
        pool: asyncpg.Pool,
        settings: ProjectorSettings,
        *,
        schema: str,
        projection: str = "tasks",
    ) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self._pool = pool
        self._settings = settings
        self._subjects: Subjects = settings.subjects
        self._schema = schema
        self._projection = projection
        self._cache = StateCache(settings.state_cache_size)
        self._writing: dict[UUID, TaskState] = {}
        """The states of the batch being written, not yet committed."""
        self._folded_position = 0
        """The log sequence of the last event folded, committed or not."""
        self.position = 0
        """The log sequence of the last event committed to the read model."""

    async def run(self, stop: asyncio.Event, *, until_caught_up: bool = False) -> None:
        """Fold until ``stop`` is set (or, with ``until_caught_up``, until the log's end)."""
        async with self._pool.acquire() as conn:
            self.position = await load_position(conn, self._projection)
        log.info("projector following the log", position=self.position)
        while not stop.is_set():
            try:
                puller = await self._subscribe(self.position)
            except NATS_UNAVAILABLE as exc:
                log.warning("nats unavailable; resubscribing soon", error=repr(exc))
                await pause(stop, NATS_RETRY_S)
                continue
            try:
                if await self._follow(puller, stop, until_caught_up=until_caught_up):
                    return
            except _Gap as gap:
                log.warning("gap in the delivered log; resubscribing", **gap.where)
            except PullInterrupted as exc:
                log.warning("pull interrupted; resubscribing", reason=str(exc))
            except NATS_UNAVAILABLE as exc:
                # Everything up to self.position is committed: resuming there loses nothing.
                log.warning("nats unavailable; resubscribing soon", error=repr(exc))
                await pause(stop, NATS_RETRY_S)
            finally:
                # Without this, draining the connection waits out nats-py's drain timeout.
                with contextlib.suppress(*NATS_UNAVAILABLE):
                    await puller.stop()

    async def _follow(
        self, puller: BatchPuller, stop: asyncio.Event, *, until_caught_up: bool
    ) -> bool:
        """Fold what ``puller`` delivers; True once caught up (when asked to stop there).

        Three batches are in hand at once: one being fetched, one being folded and one being
        written. The Python client's per-message work, the fold and Postgres's commit then
        overlap instead of adding up. Batches are written in order, each in a transaction of
        its own; folding reads the states of the batch still being written from memory.
        """
        self._folded_position = self.position
        fetching = asyncio.create_task(self._fetch(puller))
        writing: asyncio.Task[None] | None = None
        try:
            while not stop.is_set():
                msgs = await fetching
                fetching = asyncio.create_task(self._fetch(puller))
                folded = await self._fold_batch(msgs) if msgs else None
                if writing is not None:
                    await writing
                    writing = None
                if msgs is None and until_caught_up:
                    return True
                if folded is not None:
                    self._writing = folded.states
                    writing = asyncio.create_task(self._write(folded))
            return False
        finally:
            fetching.cancel()
            # Its batch or its error no longer matters: the next subscription starts over.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await fetching
            if writing is not None:
                # Let the batch in flight commit (or fail) so that the position is settled.
                with contextlib.suppress(Exception):
                    await asyncio.shield(writing)
            self._writing = {}

    async def _fetch(self, puller: BatchPuller) -> list[Msg] | None:
        """The next batch, or None when nothing came within the fetch timeout."""
        msgs = await puller.fetch(self._settings.batch_size, self._settings.fetch_timeout_s)
        return msgs or None

    async def _subscribe(self, position: int) -> BatchPuller:
        """A consumer delivering the log in order from just after ``position``.

        The position in Postgres is the truth, so the durable consumer is created afresh
        there: one left over from a crashed projector would first deliver what follows its
        delivered floor and only redeliver the unacknowledged events after ``ack_wait``.
        """
        stream = self._subjects.stream
        durable = f"{PROJECTOR_CONSUMER}-{self._schema}"
        with contextlib.suppress(NotFoundError):
            await self._js.delete_consumer(stream, durable)
        await self._js.add_consumer(
            stream,
            ConsumerConfig(
                durable_name=durable,
                filter_subject=self._subjects.all_events,
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=position + 1,
                ack_policy=AckPolicy.ALL,
                ack_wait=self._settings.ack_wait_s,
                max_ack_pending=self._settings.batch_size * 4,
            ),
        )
        puller = BatchPuller(self._nc, stream, durable)
        await puller.start()
        return puller

    async def _fold_batch(self, msgs: list[Msg]) -> _Folded | None:
        """Fold ``msgs`` onto the states before them; None when they hold nothing new."""
        # Msg.metadata parses the reply subject on every access: once per message here.
        sequenced = [(m.metadata.sequence.stream, m) for m in msgs]
        fresh = [(seq, m) for seq, m in sequenced if seq > self._folded_position]
        if not fresh:
            return None
        # The stream never deletes, so its sequences are contiguous: anything else is a gap.
        if fresh[0][0] != self._folded_position + 1:
            raise _Gap(expected=self._folded_position + 1, got=fresh[0][0])
        started = time.monotonic()
        events = self._decode(fresh)
        states = await self._fold(events)
        self._folded_position = fresh[-1][0]
        return _Folded(events, states, self._folded_position, msgs[-1], time.monotonic() - started)

    async def _write(self, folded: _Folded) -> None:
        """Commit a folded batch with its position, then acknowledge it."""
        started = time.monotonic()
        async with self._pool.acquire() as conn, conn.transaction():
            await write_batch(
                conn,
                projection=self._projection,
                states=list(folded.states.values()),
                events=folded.events,
                position=folded.position,
                channel=changes_channel(self._schema),
            )
        self.position = folded.position
        self._cache.committed(folded.states.values())
        metrics.FOLD_BATCH_SECONDS.observe(folded.fold_seconds + time.monotonic() - started)
        metrics.EVENTS_FOLDED.inc(len(folded.events))
        metrics.PROJECTOR_POSITION.set(folded.position)
        metrics.PROJECTOR_LAG.set(folded.last_msg.metadata.num_pending)
        # AckPolicy.ALL: acking the last message acks the whole batch.
        await folded.last_msg.ack()

    @staticmethod
    def _decode(msgs: list[tuple[int, Msg]]) -> list[Delivered]:
        events: list[Delivered] = []
        # One line per event is for following a task's trace, too costly at full speed.
        trace_each = logging.getLogger(__name__).isEnabledFor(logging.DEBUG)
        for seq, msg in msgs:
            try:
                event = decode_event(msg.data)
            except ValidationError as exc:
                # Kept out of the read model but never blocks the log behind it.
                log.error("skipping undecodable event", seq=seq, error=str(exc))
                continue
            events.append(Delivered(seq, event, msg.data.decode()))
            if trace_each:
                log.debug(
                    "event folded",
                    seq=seq,
                    event_type=event.type,
                    task_id=str(event.task_id),
                    trace_id=trace_id_of(msg.headers),
                )
        return events

    async def _fold(self, events: list[Delivered]) -> dict[UUID, TaskState]:
        """The states ``events`` change, folded onto the newest states known before them."""
        ids = {e.event.task_id for e in events}
        writing = {i: self._writing[i] for i in ids & self._writing.keys()}
        cached, missing = self._cache.lookup(ids - writing.keys())
        if missing:
            # Not in the batch being written, so their rows are committed and current.
            async with self._pool.acquire() as conn:
                loaded = await load_states(conn, missing)
        else:
            loaded = {}
        states: dict[UUID, TaskState | None] = {**loaded, **cached, **writing}
        changed: dict[UUID, TaskState] = {}
        for logged in events:
            task_id = logged.event.task_id
            before = states.get(task_id)
            after = fold(before, logged.event, logged.seq)
            if after is not None and after is not before:
                states[task_id] = changed[task_id] = after
        return changed
