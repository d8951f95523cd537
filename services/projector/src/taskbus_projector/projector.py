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
from taskbus.readmodel.database import Connection
from taskbus.readmodel.fold import fold
from taskbus.readmodel.state import TaskState
from taskbus.subjects import PROJECTOR_CONSUMER, Subjects
from taskbus.tracing import trace_id_of

from taskbus_projector.lease import Lease
from taskbus_projector.pull import BatchPuller, Linger, PullInterrupted
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
    Outcome,
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
_ACK_EVERY_S = 1.0
_ABANDONED_CONSUMER_S = 30.0
"""A consumer no pull asked of for this long is deleted by the server: a dead projector's."""


@dataclass(frozen=True, slots=True)
class _Folded:
    """A batch folded but not yet written: its changed states and what to acknowledge."""

    items: list[_Item]
    states: dict[UUID, TaskState]
    last_msg: Msg
    fold_seconds: float


class _NotNew(Exception):
    """A task presumed new has a row: the batch must be folded again from the rows."""


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
        self._channel = changes_channel(schema)
        self._cache = StateCache(settings.state_cache_size)
        self._writing: dict[UUID, TaskState] = {}
        """The states of the batch being written, not yet committed."""
        self._folded_position = 0
        """The log sequence of the last event folded, committed or not."""
        self.position = 0
        """The log sequence of the last event committed to the read model."""
        self._fence: Lease | None = None
        self._writer: Connection | None = None
        """The connection batches are written through, while following the log."""
        self._in_flight: asyncio.Task[bool] | None = None
        self._unacked: Msg | None = None
        """The last message committed but not yet acknowledged, and how many are."""
        self._unacked_count = 0
        self._acked_at = 0.0
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

        Batches are written through one connection held meanwhile: taking one from the pool
        and giving it back for each batch cost more of the projector's CPU than the write's
        own round trip when batches are small.
        """
        async with self._pool.acquire() as writer:
            self._writer = writer
            try:
                return await self._pipeline(puller, stop, until_caught_up=until_caught_up)
            finally:
                self._writer = None
                if self._in_flight is not None and not self._in_flight.done():
                    # Cancelled with a write still running on it: never hand that on.
                    writer.terminate()
                self._in_flight = None

    async def _pipeline(
        self, puller: BatchPuller, stop: asyncio.Event, *, until_caught_up: bool
    ) -> bool:
        """Three batches are in hand at once: one being fetched, one being folded and one being
        written. The Python client's per-message work, the fold and Postgres's commit then
        overlap instead of adding up. Batches are written in order, each in a statement of its
        own; folding reads the states of the batch still being written from memory.
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
                    refolded = await writing
                    writing = None
                    if refolded and msgs:
                        # Folded onto states of which not all committed: fold it again.
                        self._folded_position = self.position
                        folded = await self._fold_batch(msgs)
                if msgs is None:
                    await self._ack()
                    if self._fence is not None:
                        self._fence.caught_up()
                    if until_caught_up:
                        return True
                if folded is not None:
                    self._writing = folded.states
                    writing = self._in_flight = asyncio.create_task(self._write(folded))
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
            # Unacknowledged, they go when the consumer does: the next one starts afresh.
            self._unacked, self._unacked_count = None, 0

    async def _fetch(self, puller: BatchPuller) -> list[Msg] | None:
        """The next batch, or None when nothing came within the fetch timeout."""
        settings = self._settings
        msgs = await puller.fetch(
            settings.batch_size, settings.fetch_timeout_s, settings.batch_max_bytes
        )
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
        linger = Linger(self._settings.linger_s, self._settings.linger_above_per_s)
        puller = BatchPuller(self._nc, stream, durable, linger)
        await puller.start()
        return puller

    async def _fold_batch(self, msgs: list[Msg]) -> _Folded | None:
        """Fold ``msgs`` onto the states before them; None when they hold nothing new."""
        after = self._folded_position
        fresh = [(seq, m) for m in msgs if (seq := _stream_seq(m)) > after]
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
        """Commit a folded batch with its position; acknowledge it in due course.

        True when the states that committed are not the ones folded from the whole batch:
        when Postgres refused part of it (the batch is then written in halves, down to the
        single events it refuses, which are set aside), or when a task presumed new had a
        row (the batch is then folded again from the rows).
        """
        started = time.monotonic()
        try:
            try:
                await self._commit(folded.items, folded.states)
                refolded = False
            except _NotNew:
                self._writing = {}
                await self._commit(folded.items, await self._fold(folded.items, presume=False))
                refolded = True
        except asyncpg.PostgresError as exc:
            if not refused(exc):
                raise
            log.warning("postgres refused a batch; writing it in parts", error=str(exc))
            self._writing = {}
            await self._settle(folded.items, exc)
            refolded = True
        metrics.FOLD_BATCH_SECONDS.observe(folded.fold_seconds + time.monotonic() - started)
        metrics.EVENTS_FOLDED.inc(len(folded.items))
        metrics.PROJECTOR_POSITION.set(self.position)
        metrics.PROJECTOR_LAG.set(_pending(folded.last_msg))
        self._unacked = folded.last_msg
        self._unacked_count += len(folded.items)
        if (
            self._unacked_count >= self._settings.batch_size
            or time.monotonic() - self._acked_at >= _ACK_EVERY_S
        ):
            await self._ack()
        return refolded

    async def _ack(self) -> None:
        """Acknowledge everything committed so far.

        AckPolicy.ALL: acking the last message acks all before it. Acknowledgements only keep
        the consumer from redelivering (after ``ack_wait``) or stalling (at its
        ``max_ack_pending``): where to resume is the position in Postgres. So they go out
        once a batch's worth is committed, once a second, or when the log is caught up, not
        once per batch, which was a third of the NATS messages the projector sent when
        events came one at a time.
        """
        if self._unacked is not None:
            msg, self._unacked, self._unacked_count = self._unacked, None, 0
            self._acked_at = time.monotonic()
            await msg.ack()

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
                await self._commit(part, await self._fold(part, presume=False))
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
        await self._commit([quarantined], await self._fold([quarantined], presume=False))

    async def _commit(self, items: list[_Item], states: dict[UUID, TaskState]) -> None:
        """Write ``items``' rows, ``states`` and the position after the last item, fenced."""
        position = items[-1].seq
        fence = self._fence
        assert self._writer is not None  # batches are written while following the log
        outcome = await write_batch(
            self._writer,
            fence=None if fence is None else fence.fence_clause,
            projection=self._projection,
            states=list(states.values()),
            events=[i for i in items if isinstance(i, Delivered)],
            quarantined=[i for i in items if isinstance(i, Quarantined)],
            committed=self.position,
            position=position,
            channel=self._channel,
        )
        if outcome is Outcome.FENCED_OUT:
            assert fence is not None
            fence.fenced_out()
        if outcome is Outcome.NOT_NEW:
            raise _NotNew
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
            items.append(Delivered(seq, msg.subject, event.task_id, event, msg.data.decode()))
            if trace_each:
                log.debug(
                    "event folded",
                    seq=seq,
                    event_type=event.type,
                    task_id=str(event.task_id),
                    trace_id=trace_id_of(msg.headers),
                )
        return items

    async def _fold(self, items: list[_Item], *, presume: bool = True) -> dict[UUID, TaskState]:
        """The states ``items`` change, folded onto the newest states known before them.

        An event set aside changes nothing but, like any event, advances its task's
        ``last_seq``: the row then shows that the read model has passed it. With
        ``presume``, a task that first shows up with its TaskSubmitted is presumed new.
        """
        firsts: dict[UUID, _Item] = {}
        for item in items:
            if item.task_id is not None and item.task_id not in firsts:
                firsts[item.task_id] = item
        states: dict[UUID, TaskState | None] = dict(await self._known(firsts, presume))
        changed: dict[UUID, TaskState] = {}
        for item in items:
            task_id = item.task_id
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

    async def _known(self, firsts: dict[UUID, _Item], presume: bool) -> dict[UUID, TaskState]:
        """The newest states of the tasks of ``firsts`` (each task's first item): being
        written, cached, else committed in Postgres.

        With ``presume``, a task neither being written nor cached whose first item is its
        TaskSubmitted is presumed new and not looked up: the API appends a submit only to a
        task the log holds nothing of, and a lookup per batch was a round trip per new task
        when tasks come one at a time. The write checks the presumption (``NOT_NEW``).
        """
        known: dict[UUID, TaskState] = {}
        missing: list[UUID] = []
        for task_id, first in firsts.items():
            state = self._writing.get(task_id) or self._cache.get(task_id)
            if state is not None:
                known[task_id] = state
            elif not (
                presume and isinstance(first, Delivered) and first.event.type == "TaskSubmitted"
            ):
                missing.append(task_id)
        if missing:
            # Not in the batch being written, so their rows are committed and current.
            async with self._pool.acquire() as conn:
                known.update(await load_states(conn, missing))
        return known


def _stream_seq(msg: Msg) -> int:
    """The message's stream sequence, from its reply subject.

    ``Msg.metadata`` parses every field of it into dataclasses, with a timestamp: a tenth of
    the projector's CPU, for the one field each message needs. The subject is
    ``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>``,
    or with a domain and an account hash after ``ACK`` (and a token at the end) in newer
    servers; anything else is left to ``Msg.metadata`` (which refuses it).
    """
    tokens = _ack_tokens(msg)
    if len(tokens) == 9:
        return int(tokens[5])
    if len(tokens) >= 11:
        return int(tokens[7])
    return msg.metadata.sequence.stream


def _pending(msg: Msg) -> int:
    """How many messages the consumer had left to deliver after ``msg``."""
    tokens = _ack_tokens(msg)
    if len(tokens) == 9:
        return int(tokens[8])
    if len(tokens) >= 11:
        return int(tokens[10])
    return msg.metadata.num_pending


def _ack_tokens(msg: Msg) -> list[str]:
    tokens = (msg.reply or "").split(".")
    return tokens if tokens[:2] == ["$JS", "ACK"] else []


def _task_recorded_for(msg: RawStreamMsg) -> UUID | None:
    """The task the read model records a message under: its event's, or its subject's."""
    try:
        return decode_event(msg.data or b"").task_id
    except ValidationError:
        return subject_task_id(msg.subject or "")
