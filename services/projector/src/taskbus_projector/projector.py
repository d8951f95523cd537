"""The projector's I/O shell: fetch events in order, fold them in batches, commit, ack."""

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, replace
from uuid import UUID

import asyncpg
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, RawStreamMsg
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

from taskbus_projector.lease import Lease
from taskbus_projector.pull import BatchPuller, PullInterrupted
from taskbus_projector.quarantine import (
    Quarantined,
    refused,
    subject_task_id,
    undecodable,
    unstorable,
)
from taskbus_projector.settings import ProjectorSettings
from taskbus_projector.state_cache import StateCache
from taskbus_projector.store import (
    Delivered,
    load_position,
    load_states,
    load_task_at,
    write_batch,
)

log = structlog.get_logger(__name__)


TASKS_PROJECTION = "tasks"
"""The projection's name: its position row and its lease row."""


def changes_channel(schema: str) -> str:
    """The NOTIFY channel on which the projector announces each committed position."""
    return f"{schema}_changes"


_Item = Delivered | Quarantined
"""One message of a batch: an event to fold, or one set aside (every sequence is one)."""

_HALTED_RECHECK_S = 5.0
_ABANDONED_CONSUMER_S = 30.0
"""A consumer no pull asked of for this long is deleted by the server: a dead projector's."""


@dataclass(frozen=True, slots=True)
class _Folded:
    """A batch folded but not yet written: its changed states and what to acknowledge."""

    items: list[_Item]
    states: dict[UUID, TaskState]
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
        projection: str = TASKS_PROJECTION,
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
        self._fence: Lease | None = None
        self._halted: str | None = None
        """Why the projector refuses to go on, as last recorded."""

    async def run(
        self, stop: asyncio.Event, *, fence: Lease | None = None, until_caught_up: bool = False
    ) -> None:
        """Fold until ``stop`` is set (or, with ``until_caught_up``, until the log's end).

        With a ``fence``, every write commits only while that lease holds (else LeaseLost).
        """
        self._fence = fence
        async with self._pool.acquire() as conn:
            self.position = await load_position(conn, self._projection)
        log.info("projector following the log", position=self.position)
        durable = f"{PROJECTOR_CONSUMER}-{self._schema}-{fence.epoch if fence else 0}"
        try:
            await self._follow_log(stop, durable, until_caught_up=until_caught_up)
        finally:
            with contextlib.suppress(NotFoundError, *NATS_UNAVAILABLE):
                await self._js.delete_consumer(self._subjects.stream, durable)

    async def _follow_log(
        self, stop: asyncio.Event, durable: str, *, until_caught_up: bool
    ) -> None:
        while not stop.is_set():
            try:
                if await self._past_the_end():
                    await pause(stop, _HALTED_RECHECK_S)
                    continue
                puller = await self._subscribe(durable, self.position)
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

    async def _past_the_end(self) -> bool:
        """Whether the log is not the one the read model was folded from: refuse to go on then.

        The stream never deletes, so a committed position past its last event, or an event at
        that position other than the one folded there, means the log was restored from an
        older copy or replaced. Going on would skip the events at sequences the read model
        already holds, without a word. Checked before every subscription, so a log put back
        as it was lets the projector go on.
        """
        reason = await self._log_mismatch()
        if reason is not None:
            log.error("refusing to project: the log is not the one folded", reason=reason)
        if reason != self._halted and self._fence is not None:
            await self._fence.halt(reason)
        self._halted = reason
        return reason is not None

    async def _log_mismatch(self) -> str | None:
        remedy = "rebuild the read model from it (taskbus-projector --rebuild)"
        stream = self._subjects.stream
        last = int((await self._js.stream_info(stream)).state.last_seq)
        if self.position > last:
            return (
                f"the read model's position {self.position} is past the log's last sequence "
                f"{last}: the log was restored from an older copy or replaced; {remedy}"
            )
        if self.position == 0:
            return None
        async with self._pool.acquire() as conn:
            folded = await load_task_at(conn, self.position)
        if folded is None:
            return None  # folded before the read model kept a record of every sequence
        logged = _task_recorded_for(await self._js.get_msg(stream, self.position))
        if logged != folded.task_id:
            return (
                f"the log's event at sequence {self.position} (task {logged}) is not the one "
                f"the read model folded there (task {folded.task_id}): the log was replaced; "
                f"{remedy}"
            )
        return None

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
        writing: asyncio.Task[bool] | None = None
        try:
            while not stop.is_set():
                msgs = await fetching
                fetching = asyncio.create_task(self._fetch(puller))
                folded = await self._fold_batch(msgs) if msgs else None
                if writing is not None:
                    set_aside = await writing
                    writing = None
                    if set_aside and msgs:
                        # Folded onto states of which not all committed: fold it again.
                        self._folded_position = self.position
                        folded = await self._fold_batch(msgs)
                if msgs is None:
                    if self._fence is not None:
                        self._fence.caught_up()
                    if until_caught_up:
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

    async def _subscribe(self, durable: str, position: int) -> BatchPuller:
        """A consumer delivering the log in order from just after ``position``.

        The position in Postgres is the truth, so the durable consumer is created afresh
        there: one left over would first deliver what follows its delivered floor and only
        redeliver the unacknowledged events after ``ack_wait``. Its name carries the lease's
        epoch, so a projector only ever replaces its own: a deposed leader and its successor
        never delete each other's consumer. One left behind by a dead projector goes away
        once inactive.
        """
        stream = self._subjects.stream
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
                inactive_threshold=_ABANDONED_CONSUMER_S,
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
        items = self._decode(fresh)
        states = await self._fold(items)
        self._folded_position = fresh[-1][0]
        return _Folded(items, states, msgs[-1], time.monotonic() - started)

    async def _write(self, folded: _Folded) -> bool:
        """Commit a folded batch with its position, then acknowledge it.

        True when Postgres refused part of it: the batch is then written in halves, down to
        the single events it refuses, which are set aside; the states folded from the whole
        batch are then not the ones that committed.
        """
        started = time.monotonic()
        try:
            await self._commit(folded.items, folded.states)
            set_aside = False
        except asyncpg.PostgresError as exc:
            if not refused(exc):
                raise
            log.warning("postgres refused a batch; writing it in parts", error=str(exc))
            self._writing = {}
            await self._settle(folded.items, exc)
            set_aside = True
        metrics.FOLD_BATCH_SECONDS.observe(folded.fold_seconds + time.monotonic() - started)
        metrics.EVENTS_FOLDED.inc(len(folded.items))
        metrics.PROJECTOR_POSITION.set(self.position)
        metrics.PROJECTOR_LAG.set(folded.last_msg.metadata.num_pending)
        # AckPolicy.ALL: acking the last message acks the whole batch.
        await folded.last_msg.ack()
        return set_aside

    async def _settle(self, items: list[_Item], refusal: asyncpg.PostgresError) -> None:
        """Commit ``items``, which Postgres refused as one transaction, in halves.

        A half refused again is halved again; a single event refused on its own is set
        aside. One bad event among n costs about 2 log2(n) transactions, and every event
        before and after it lands, in log order, each commit with its position.
        """
        if len(items) == 1:
            await self._set_aside(items[0], refusal)
            return
        middle = len(items) // 2
        for part in (items[:middle], items[middle:]):
            try:
                await self._commit(part, await self._fold(part))
            except asyncpg.PostgresError as exc:
                if not refused(exc):
                    raise
                await self._settle(part, exc)

    async def _set_aside(self, item: _Item, refusal: asyncpg.PostgresError) -> None:
        if isinstance(item, Quarantined):
            # Not even the record of a rejected message could be stored: a bug to surface.
            raise refusal
        quarantined = unstorable(item.seq, item.subject, item.event, item.json, refusal)
        log.error(
            "event set aside: postgres refused it",
            seq=item.seq,
            event_type=item.event.type,
            task_id=str(item.event.task_id),
            error=quarantined.error,
        )
        await self._commit([quarantined], await self._fold([quarantined]))

    async def _commit(self, items: list[_Item], states: dict[UUID, TaskState]) -> None:
        """Write ``items``' rows, ``states`` and the position after the last item, fenced."""
        position = items[-1].seq
        async with self._pool.acquire() as conn, conn.transaction():
            if self._fence is not None:
                await self._fence.fence(conn)
            await write_batch(
                conn,
                projection=self._projection,
                states=list(states.values()),
                events=[i for i in items if isinstance(i, Delivered)],
                quarantined=[i for i in items if isinstance(i, Quarantined)],
                position=position,
                channel=changes_channel(self._schema),
            )
        self.position = position
        self._cache.committed(states.values())

    @staticmethod
    def _decode(msgs: list[tuple[int, Msg]]) -> list[_Item]:
        items: list[_Item] = []
        # One line per event is for following a task's trace, too costly at full speed.
        trace_each = logging.getLogger(__name__).isEnabledFor(logging.DEBUG)
        for seq, msg in msgs:
            try:
                event = decode_event(msg.data)
            except ValidationError as exc:
                rejected = undecodable(seq, msg.subject, msg.data, msg.metadata.timestamp, str(exc))
                log.error("event set aside: it does not decode", seq=seq, error=rejected.error)
                items.append(rejected)
                continue
            items.append(Delivered(seq, msg.subject, event, msg.data.decode()))
            if trace_each:
                log.debug(
                    "event folded",
                    seq=seq,
                    event_type=event.type,
                    task_id=str(event.task_id),
                    trace_id=trace_id_of(msg.headers),
                )
        return items

    async def _fold(self, items: list[_Item]) -> dict[UUID, TaskState]:
        """The states ``items`` change, folded onto the newest states known before them.

        An event set aside changes nothing but, like any event, advances its task's
        ``last_seq``: the row then shows that the read model has passed it.
        """
        known = await self._known({t for i in items if (t := _task_of(i)) is not None})
        states: dict[UUID, TaskState | None] = dict(known)
        changed: dict[UUID, TaskState] = {}
        for item in items:
            task_id = _task_of(item)
            if task_id is None:
                continue
            before = states.get(task_id)
            if isinstance(item, Delivered):
                after = fold(before, item.event, item.seq)
            elif before is not None and item.seq > before.last_seq:
                after = replace(before, last_seq=item.seq)
            else:
                after = before
            if after is not None and after is not before:
                states[task_id] = changed[task_id] = after
        return changed

    async def _known(self, ids: set[UUID]) -> dict[UUID, TaskState]:
        """The newest states of ``ids``: being written, cached, else committed in Postgres."""
        writing = {i: self._writing[i] for i in ids & self._writing.keys()}
        cached, missing = self._cache.lookup(ids - writing.keys())
        if missing:
            # Not in the batch being written, so their rows are committed and current.
            async with self._pool.acquire() as conn:
                loaded = await load_states(conn, missing)
        else:
            loaded = {}
        return {**loaded, **cached, **writing}


def _task_recorded_for(msg: RawStreamMsg) -> UUID | None:
    """The task the read model records a message under: its event's, or its subject's."""
    try:
        return decode_event(msg.data or b"").task_id
    except ValidationError:
        return subject_task_id(msg.subject or "")


def _task_of(item: _Item) -> UUID | None:
    return item.event.task_id if isinstance(item, Delivered) else item.task_id
