"""The projector's I/O shell: fetch events in order, fold them in batches, commit, ack."""

import asyncio
import contextlib
import logging
import time
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
from taskbus.readmodel.database import Connection
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

        The next batch is fetched while the current one is written: the Python client's
        per-message cost and Postgres's commit then overlap instead of adding up.
        """
        fetching = asyncio.create_task(self._fetch(puller))
        try:
            while not stop.is_set():
                msgs = await fetching
                if msgs is None and until_caught_up:
                    return True
                fetching = asyncio.create_task(self._fetch(puller))
                if msgs:
                    await self._project(msgs)
            return False
        finally:
            fetching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await fetching

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

    async def _project(self, msgs: list[Msg]) -> None:
        if not msgs:
            return
        # Msg.metadata parses the reply subject on every access: once per message here.
        sequenced = [(m.metadata.sequence.stream, m) for m in msgs]
        fresh = [(seq, m) for seq, m in sequenced if seq > self.position]
        # The stream never deletes, so its sequences are contiguous: anything else is a gap.
        if fresh and fresh[0][0] != self.position + 1:
            raise _Gap(expected=self.position + 1, got=fresh[0][0])
        if fresh:
            events = self._decode(fresh)
            position = fresh[-1][0]
            started = time.monotonic()
            async with self._pool.acquire() as conn, conn.transaction():
                states = await self._fold(conn, events)
                await write_batch(
                    conn,
                    projection=self._projection,
                    states=states,
                    events=events,
                    position=position,
                    channel=changes_channel(self._schema),
                )
            self.position = position
            self._cache.committed(states)
            metrics.FOLD_BATCH_SECONDS.observe(time.monotonic() - started)
            metrics.EVENTS_FOLDED.inc(len(events))
            metrics.PROJECTOR_POSITION.set(position)
        metrics.PROJECTOR_LAG.set(msgs[-1].metadata.num_pending)
        # AckPolicy.ALL: acking the last message acks the whole batch.
        await msgs[-1].ack()

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

    async def _fold(self, conn: Connection, events: list[Delivered]) -> list[TaskState]:
        cached, missing = self._cache.lookup({e.event.task_id for e in events})
        states: dict[UUID, TaskState | None] = {**cached, **await load_states(conn, missing)}
        changed: dict[UUID, TaskState] = {}
        for logged in events:
            task_id = logged.event.task_id
            before = states.get(task_id)
            after = fold(before, logged.event, logged.seq)
            if after is not None and after is not before:
                states[task_id] = changed[task_id] = after
        return list(changed.values())
