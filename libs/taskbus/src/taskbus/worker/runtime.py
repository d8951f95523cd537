"""The worker service loop: fetch work of one type, run attempts, listen for cancels, drain."""

import asyncio
import contextlib
import random
from collections.abc import Collection
from typing import Any

import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.kv import KeyValue
from pydantic import ValidationError

from taskbus import metrics, subjects
from taskbus.app import TaskApp, TaskDef, announce_app
from taskbus.connections import NATS_RETRY_S, NATS_UNAVAILABLE, close_nats, connect_nats
from taskbus.eventlog import EventLog, ensure_stream
from taskbus.events import TaskRetried, TaskSubmitted, decode_event, utcnow
from taskbus.files import ensure_file_bucket
from taskbus.lifecycle import pause
from taskbus.probes import serve_probes
from taskbus.tracing import configure_tracing, traced
from taskbus.worker.attempt import Attempt
from taskbus.worker.settings import WorkerSettings
from taskbus.workers import HEARTBEAT_S, WorkerStatus, workers_bucket

log = structlog.get_logger(__name__)

# How long free slots wait for more to free up before they are filled anyway.
_REFILL_WAIT_S = 0.005


def consumer_config(task_type: str, settings: WorkerSettings) -> ConsumerConfig:
    """One durable pull consumer per type, shared by every replica of that type's worker.

    JetStream never gives up on a message (``max_deliver`` -1): its max-deliveries notice is
    one core-NATS message that is lost when no worker listens, which would leave the task
    unfinished for good. The runtime counts the deliveries that started an attempt in the
    log instead, and fails the attempt itself (``WORKER_MAX_DELIVER``).
    """
    return ConsumerConfig(
        durable_name=subjects.worker_consumer(task_type),
        filter_subjects=settings.subjects.work(task_type),
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=settings.ack_wait_s,
        max_deliver=-1,
        max_ack_pending=10_000,
        max_waiting=512,
    )


class Worker:
    """Serves one task type: its durable consumer, its cancels, its heartbeat entry."""

    def __init__(
        self, spec: TaskDef[Any, Any], settings: WorkerSettings, nc: NATS, ready: asyncio.Event
    ) -> None:
        self._spec = spec
        self._settings = settings
        self._nc = nc
        self._js: JetStreamContext = nc.jetstream()
        self._subjects = settings.subjects
        self._log = EventLog(self._js, self._subjects)
        self._running: set[Attempt] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()
        self._started_at = utcnow()
        self._processed = 0
        self._failed = 0
        self._rng = random.Random()
        self._ready = ready

    async def run(self, stop: asyncio.Event) -> None:
        task_type = self._spec.name
        # Handlers read inputs from and store artifacts in it (TaskContext.files).
        await ensure_file_bucket(self._js, self._settings)
        stream = self._subjects.stream
        await self._js.add_consumer(stream, consumer_config(task_type, self._settings))
        work = await self._js.pull_subscribe_bind(subjects.worker_consumer(task_type), stream)
        # Cancels come from the stream, not core NATS: an ordered consumer picks up after a
        # reconnect where it left off, so a cancel sent meanwhile still arrives.
        cancels = await self._js.subscribe(
            self._subjects.cancel(task_type),
            stream=stream,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.NEW,
            cb=self._on_cancel,
        )
        kv = await workers_bucket(self._js, self._subjects, replicas=self._settings.stream_replicas)
        # Listed in /api/workers before it says it is ready, not a moment after.
        await self._beat(kv)
        heartbeat = asyncio.create_task(self._heartbeat(kv))
        self._ready.set()
        log.info("worker ready", task_type=task_type, worker_id=self._settings.worker_id)
        while not stop.is_set():
            await self._fetch_and_start(work, stop)
        heartbeat.cancel()
        # Unsubscribe first: a drained connection otherwise waits out nats-py's drain timeout
        # on a pull subscription whose last fetches came back empty.
        with contextlib.suppress(*NATS_UNAVAILABLE):
            await work.unsubscribe()
            await cancels.unsubscribe()
        await self._shutdown()
        await self._withdraw(kv)

    async def _withdraw(self, kv: KeyValue) -> None:
        """Leave /api/workers now; failing that, the entry's TTL retires it a little later."""
        if not self._nc.is_connected:
            log.warning("nats unavailable; the worker's heartbeat entry will expire")
            return
        try:
            await kv.delete(self._status().key)
        except NATS_UNAVAILABLE as exc:
            log.warning("could not withdraw the worker's heartbeat", error=repr(exc))

    async def _fetch_and_start(
        self, work: JetStreamContext.PullSubscription, stop: asyncio.Event
    ) -> None:
        capacity = await self._free_slots()
        if capacity <= 0:
            return
        try:
            msgs = await work.fetch(capacity, timeout=1.0)
        except (TimeoutError, NatsTimeoutError):
            return
        except NATS_UNAVAILABLE as exc:
            log.warning("nats unavailable; fetching again soon", error=repr(exc))
            await pause(stop, NATS_RETRY_S)
            return
        for msg in msgs:
            task = asyncio.create_task(self._process(msg))
            self._tasks.add(task)
            task.add_done_callback(self._task_done)

    async def _free_slots(self) -> int:
        """The slots to fetch work for: a quarter of them at least while attempts run, or
        what is free after a short wait. Refilled one by one, a busy worker made a fetch
        (a JetStream request) per small task. 0 after a second with none (the caller then
        sees whether it is asked to stop)."""
        loop = asyncio.get_running_loop()
        enough = max(1, self._settings.concurrency // 4)
        waited_since: float | None = None
        while True:
            free = self._settings.concurrency - len(self._tasks)
            if free >= enough or (free > 0 and not self._tasks):
                return free
            if free > 0:
                waited_since = waited_since or loop.time()
                if loop.time() - waited_since >= _REFILL_WAIT_S:
                    return free
            self._slot_freed.clear()
            timeout = 1.0 if waited_since is None else _REFILL_WAIT_S
            try:
                await asyncio.wait_for(self._slot_freed.wait(), timeout=timeout)
            except TimeoutError:
                if waited_since is None:
                    return 0

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slot_freed.set()

    async def _process(self, msg: Msg) -> None:
        try:
            event = decode_event(msg.data)
        except ValidationError as exc:
            log.error("undecodable work message; terminating it", error=str(exc))
            await msg.term()
            return
        if not isinstance(event, TaskSubmitted | TaskRetried):
            await msg.term()
            return
        attempt = Attempt(
            self._log,
            msg,
            event,
            handler=self._spec.handler,
            parameters_model=self._spec.parameters,
            settings=self._settings,
            rng=self._rng,
        )
        self._running.add(attempt)
        task_type = event.task_type
        in_flight = metrics.TASKS_IN_FLIGHT.labels(task_type)
        in_flight.inc()
        try:
            with (
                traced(f"run {task_type}", parent=msg.headers, task_id=str(event.task_id)),
                structlog.contextvars.bound_contextvars(task_id=str(event.task_id)),
            ):
                await attempt.run()
        except Exception:
            attempt.log.exception("attempt crashed; leaving it for redelivery")
        finally:
            self._running.discard(attempt)
            in_flight.dec()
        if attempt.outcome is not None:
            self._processed += 1
            if attempt.outcome == "failed":
                self._failed += 1

    def _status(self) -> WorkerStatus:
        return WorkerStatus(
            worker_id=self._settings.worker_id,
            task_type=self._spec.name,
            current_tasks=sorted({attempt.task_id for attempt in self._running}),
            processed=self._processed,
            failed=self._failed,
            started_at=self._started_at,
            last_heartbeat=utcnow(),
        )

    async def _heartbeat(self, kv: KeyValue) -> None:
        """Announce this worker and what it runs, for ``/api/workers``, every few seconds."""
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            await self._beat(kv)

    async def _beat(self, kv: KeyValue) -> None:
        status = self._status()
        try:
            await kv.put(status.key, status.model_dump_json().encode())
        except NatsError as exc:
            log.warning("worker heartbeat failed", error=str(exc))

    async def _on_cancel(self, msg: Msg) -> None:
        task_id = subjects.task_id_of(msg.subject)
        # Every delivery of the task this process runs: a stalled one and its redelivery too.
        for attempt in [a for a in self._running if a.task_id == task_id]:
            attempt.log.info("cancel received")
            attempt.cancel()

    async def _shutdown(self) -> None:
        """Finish in-flight attempts within the grace period; hand back the rest."""
        log.info("worker stopping", in_flight=len(self._tasks))
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=self._settings.shutdown_grace_s)
            if pending:
                for attempt in list(self._running):
                    attempt.hand_back()
                await asyncio.wait(pending, timeout=5)


async def run_app(
    app: TaskApp,
    settings: WorkerSettings,
    stop: asyncio.Event,
    *,
    only: Collection[str] = (),
    ready: asyncio.Event | None = None,
) -> None:
    """Connect, announce and serve ``app``'s task types (or those in ``only``) until ``stop``.

    One connection and one probe port for the process; one durable consumer per type, so
    each type keeps its own queue however its workers are grouped into services.
    """
    unknown = set(only) - set(app.tasks)
    if unknown:
        raise ValueError(
            f"app {app.name!r} declares no task type {', '.join(sorted(unknown))}; "
            f"it declares {', '.join(sorted(app.tasks)) or 'none'}"
        )
    specs = [spec for name, spec in app.tasks.items() if not only or name in only]
    if not specs:
        raise ValueError(f"app {app.name!r} declares no task types")
    configure_tracing(f"worker-{app.name}")
    nc = await connect_nats(settings.nats_url, name=f"worker-{app.name}")
    ready = ready or asyncio.Event()
    probes = None
    if settings.health_port is not None:
        probes = asyncio.create_task(
            serve_probes(
                lambda: nc.is_connected and ready.is_set(),
                host=settings.health_host,
                port=settings.health_port,
                stop=stop,
            )
        )
    try:
        js = nc.jetstream()
        await ensure_stream(js, settings)
        await announce_app(js, settings, app, only=only)
        readied = [asyncio.Event() for _ in specs]
        serving = [
            asyncio.create_task(Worker(spec, settings, nc, each).run(stop))
            for spec, each in zip(specs, readied, strict=True)
        ]
        await _all_ready(readied, serving)
        ready.set()
        await asyncio.gather(*serving)
    finally:
        await close_nats(nc)
        if probes is not None:
            await probes


async def _all_ready(readied: list[asyncio.Event], serving: list[asyncio.Task[None]]) -> None:
    """Wait until every type's worker is ready; a worker that failed to start raises here."""
    waits = [asyncio.create_task(event.wait()) for event in readied]
    try:
        while not all(event.is_set() for event in readied):
            done, _ = await asyncio.wait([*waits, *serving], return_when=asyncio.FIRST_COMPLETED)
            for task in done & set(serving):
                task.result()
                raise RuntimeError("a task type's worker stopped before it was ready")
    finally:
        for wait in waits:
            wait.cancel()
