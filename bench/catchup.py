"""Projector catch-up over a long log: does the fold rate hold as the read model grows?

Issue 12 asks for a steady rate over 10 million events. The log is filled as the fold-rate
benchmark fills it (``bench.lives``: four events per small task, each stage trailing the one
before by ``lag`` tasks), only longer and with many more publishes in flight; then a
projector folds it from scratch into a fresh database.

The log has a nats-server of its own. The bench's server fsyncs every message before its ack
(``sync_interval: always``), which bounds one stream to one message per fsync: about 1,200 to
2,800 events/s here, an hour or two for 10 million. So, unless ``durable_fill``, the log's
server is started as the bench starts its own (``start_nats``) but for that one line: JetStream
then syncs every two minutes, its default. The fold only reads the log, and reads do not
fsync; restarting a server with the fsync line for the fold is no option either, as restoring
a stream of 10 million messages (2.5 million subjects) took longer than ``start_nats`` waits.

The projector's commits (NOTIFYs) give the rate in three windows: the first 10 % of the log,
the 10 % around its middle and the last 10 %. The rate is steady when the last window's is
at least 0.8 of the first's. What could explain a decay is kept beside the figures:
checkpoints and full-page WAL images during the fold (cluster-wide counters, read before and
after), the rate over each tenth of the log, and the tables' and indexes' size.
"""

import asyncio
import bisect
import dataclasses
import itertools
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from nats.js.api import StreamInfo
from taskbus.connections import connect_nats
from taskbus.devrun import nats as devrun_nats
from taskbus.events import TaskEvent
from taskbus.settings import CommonSettings

from bench import machine
from bench.fold_rate import TARGET as FOLD_TARGET
from bench.harness import PROJECTOR, READMODEL_SCHEMA, Servers, new_namespace
from bench.lives import EVENTS_PER_TASK, encoded_size, fill_log, interleaved_lives
from bench.profiling import Profiler
from bench.projector_run import FoldRun, check_read_model, run_projector
from bench.report import Result, Target

STEADY = 0.8
"""The last window's rate must be at least this share of the first's."""
# (name, from, to) as shares of the log.
WINDOWS = (("start", 0.0, 0.1), ("middle", 0.45, 0.55), ("end", 0.9, 1.0))
DECILES = 10
# What JetStream stores per message beyond subject and payload: the expected-stream header
# the fill sends, the record's header and checksum (measured: the note gives the real size).
_STORED_OVERHEAD_BYTES = 90
_SIZE_SAMPLE_TASKS = 250
_PROGRESS_EVERY = 1_000_000

_RELATION_SIZES = """
SELECT c.relname AS name, pg_relation_size(c.oid) AS heap, pg_indexes_size(c.oid) AS indexes,
       pg_total_relation_size(c.oid) AS total
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind = 'r' AND c.relname IN ('tasks', 'task_events')
ORDER BY c.relname
"""
_INDEX_SIZES = """
SELECT indexrelid::regclass::text AS name, pg_relation_size(indexrelid) AS bytes
FROM pg_index JOIN pg_class c ON c.oid = indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname IN ('tasks', 'task_events')
ORDER BY bytes DESC
"""
# Cluster-wide counters (PostgreSQL 17+): only the fold writes to this cluster meanwhile.
_WAL_AND_CHECKPOINTS = """
SELECT (SELECT num_timed FROM pg_stat_checkpointer) AS checkpoints_timed,
       (SELECT num_requested FROM pg_stat_checkpointer) AS checkpoints_requested,
       (SELECT buffers_written FROM pg_stat_checkpointer) AS checkpoint_buffers,
       wal_records, wal_fpi AS wal_full_page_images, wal_bytes::bigint AS wal_bytes
FROM pg_stat_wal
"""


@dataclass(frozen=True)
class CatchupOptions:
    events: int
    lag: int = 1000
    in_flight: int = 20_000
    """Publishes awaiting their ack while filling the log."""
    durable_fill: bool = False
    """Fill through a server that fsyncs each message, as the bench's does (slow: see above)."""


@dataclass(frozen=True)
class Filled:
    """The log as filled: its last sequence, how long it took, what JetStream stores."""

    last_seq: int
    seconds: float
    stored_bytes: int
    details: dict[str, Any]
    """The same and more: how it was written, and the storage it had room in."""


def run_catchup(servers: Servers, options: CatchupOptions, profiler: Profiler) -> list[Result]:
    """Fill a long log, fold it from scratch, and report the rate at its start, middle and end."""
    namespace = new_namespace()
    tasks = options.events // EVENTS_PER_TASK
    with tempfile.TemporaryDirectory(prefix="taskbus-catchup-") as folder:
        log_path = servers.log_dir / "catchup" / "nats.log"
        with _log_server(
            servers, Path(folder) / "nats", log_path, fsync=options.durable_fill
        ) as own:
            filled = _fill(own, namespace, tasks, options)
            return _fold_and_report(own, namespace, tasks, filled, profiler)


@contextmanager
def _log_server(servers: Servers, store: Path, log_path: Path, *, fsync: bool) -> Iterator[Servers]:
    """``servers`` with a nats-server of its own storing under ``store``, until the block ends.

    With ``fsync``, the server is the bench's kind (``start_nats``); without, the same but for
    the one line that makes it fsync each message.
    """
    nats = devrun_nats.start_nats(store, log_path=log_path, fsync=fsync)
    try:
        pids = {**servers.pids, "nats-server": nats.process.pid}
        yield dataclasses.replace(servers, nats_url=nats.url, pids=pids)
    finally:
        nats.stop()


def _fold_and_report(
    servers: Servers, namespace: str, tasks: int, filled: Filled, profiler: Profiler
) -> list[Result]:
    """Fold the filled log into a fresh database; the figures and what explains them."""
    database_url = servers.new_database()
    before = asyncio.run(_fetch_one(database_url, _WAL_AND_CHECKPOINTS))
    load_before = machine.load_average()
    run = run_projector(servers, "catchup", namespace, database_url, filled.last_seq, profiler)
    load_after = machine.load_average()
    after = asyncio.run(_fetch_one(database_url, _WAL_AND_CHECKPOINTS))
    asyncio.run(check_read_model(database_url, tasks))
    details: dict[str, Any] = {
        "events": filled.last_seq,
        "tasks": tasks,
        "fill": filled.details,
        "commits": len(run.commits.seen),
        "events_per_s_by_decile": _decile_rates(run.commits.seen, filled.last_seq),
        "seconds_folding_and_committing": run.batch_seconds,
        "cpu_cores": run.cores,
        "postgres_during_fold": {k: after[k] - before[k] for k in after},
        "postgres_sizes": asyncio.run(_sizes(database_url)),
        "load_average_1m": {"before": load_before, "after": load_after},
    }
    return _results(filled, run, details)


def _fill(servers: Servers, namespace: str, tasks: int, options: CatchupOptions) -> Filled:
    """Check the log fits in JetStream, then fill it as fast as the client can publish."""
    budget = _storage_budget(servers, namespace, tasks)
    if budget["estimated_bytes"] > budget["room_bytes"]:
        raise RuntimeError(f"the log would not fit in JetStream: {budget}")
    started = time.perf_counter()
    events = _reporting(interleaved_lives(tasks, options.lag), tasks * EVENTS_PER_TASK)
    last_seq = asyncio.run(fill_log(servers.nats_url, namespace, events, options.in_flight))
    seconds = time.perf_counter() - started
    stored = int(asyncio.run(_stream_info(servers.nats_url, namespace)).state.bytes)
    details = {
        "seconds": round(seconds, 1),
        "events_per_s": round(last_seq / seconds),
        "in_flight": options.in_flight,
        "stream_bytes": stored,
        "stored_bytes_per_event": round(stored / last_seq),
        **budget,
    }
    return Filled(last_seq, seconds, stored, details)


def _storage_budget(servers: Servers, namespace: str, tasks: int) -> dict[str, Any]:
    """How much the log will take, against what JetStream and the disk leave for it.

    The stream sets no max_bytes or max_msgs (``taskbus.eventlog.stream_config``: the log
    never ages out), so the bounds are the server's JetStream max_storage (by default 75 %
    of the disk free when it started) and the disk itself.
    """
    settings = CommonSettings(nats_url=servers.nats_url, namespace=namespace)
    sample = list(interleaved_lives(min(tasks, _SIZE_SAMPLE_TASKS), 0))
    per_event = sum(encoded_size(e, settings) for e in sample) / len(sample)
    jetstream = _jetstream_config(servers)
    free = shutil.disk_usage(jetstream["store_dir"]).free
    return {
        "bytes_per_event_sent": round(per_event),
        "estimated_bytes": round(tasks * EVENTS_PER_TASK * (per_event + _STORED_OVERHEAD_BYTES)),
        "jetstream_max_storage": jetstream["max_storage"],
        "disk_free_bytes": free,
        "room_bytes": min(jetstream["max_storage"], free),
        "sync_always": jetstream.get("sync_always"),
    }


def _jetstream_config(servers: Servers) -> dict[str, Any]:
    """The server's JetStream settings, from its monitoring port (found on its command line)."""
    argv = psutil.Process(servers.pids["nats-server"]).cmdline()
    port = argv[argv.index("--http_port") + 1]
    varz = httpx.get(f"http://127.0.0.1:{port}/varz", timeout=5, trust_env=False).json()
    config: dict[str, Any] = varz["jetstream"]["config"]
    return config


def _reporting(events: Iterator[TaskEvent], total: int) -> Iterator[TaskEvent]:
    """``events`` as they are, saying on stderr how far the fill is every million."""
    started = time.perf_counter()
    for n, event in enumerate(events, 1):
        yield event
        if n % _PROGRESS_EVERY == 0:
            rate = n / (time.perf_counter() - started)
            print(f"catchup | filled {n:,} of {total:,} ({rate:,.0f}/s)", file=sys.stderr)


async def _stream_info(nats_url: str, namespace: str) -> StreamInfo:
    nc = await connect_nats(nats_url, name="bench-catchup")
    try:
        stream = CommonSettings(nats_url=nats_url, namespace=namespace).subjects.stream
        return await nc.jetstream().stream_info(stream)
    finally:
        await nc.close()


def rate_between(seen: Sequence[tuple[float, int]], low: int, high: int) -> float:
    """Events/s from the first commit at or past position ``low`` to the first at or past
    ``high`` (the last commit when none is), from the commits' (time, position)."""
    positions = [position for _, position in seen]
    first = min(bisect.bisect_left(positions, low), len(seen) - 1)
    last = min(bisect.bisect_left(positions, high), len(seen) - 1)
    (t0, p0), (t1, p1) = seen[first], seen[last]
    if t1 <= t0:
        return float("nan")
    return (p1 - p0) / (t1 - t0)


def _decile_rates(seen: Sequence[tuple[float, int]], last_seq: int) -> list[int]:
    """The rate over each tenth of the log: where a decay begins and how it goes."""
    bounds = [last_seq * i // DECILES for i in range(DECILES + 1)]
    return [round(rate_between(seen, lo, hi)) for lo, hi in itertools.pairwise(bounds)]


def _results(filled: Filled, run: FoldRun, details: dict[str, Any]) -> list[Result]:
    seen, last_seq = run.commits.seen, filled.last_seq
    rates = {
        name: rate_between(seen, round(last_seq * lo), round(last_seq * hi))
        for name, lo, hi in WINDOWS
    }
    overall = rate_between(seen, 0, last_seq)
    size = f"{last_seq:,} events"
    steady = Target(">=", round(STEADY * rates["start"]))
    return [
        Result(
            f"projector catch-up, {size}: filling the log",
            round(last_seq / filled.seconds),
            "events/s",
            note=_fill_note(filled),
            details={"fill": details["fill"]},
        ),
        *[
            Result(
                f"projector catch-up, {size}: {_span(last_seq, lo, hi)}",
                round(rates[name]),
                "events/s",
                steady if name == "end" else None,
                note=f"PASS when at least {STEADY} of the first window's" if name == "end" else "",
            )
            for name, lo, hi in WINDOWS
        ],
        Result(
            f"projector catch-up, {size}: overall",
            round(overall),
            "events/s",
            FOLD_TARGET,
            note=f"end/start {rates['end'] / rates['start']:.2f}; {_cpu_and_size(run, details)}",
            details=details,
        ),
    ]


def _fill_note(filled: Filled) -> str:
    fsync = "each message fsynced" if filled.details["sync_always"] else "sync every 2 min"
    return (
        f"publish_async, {filled.details['in_flight']:,} in flight, {fsync}; "
        f"{filled.stored_bytes / 1e9:.2f} GB stored"
    )


def _cpu_and_size(run: FoldRun, details: dict[str, Any]) -> str:
    """Cores the projector and Postgres used, and the read model's size on disk."""
    used = ", ".join(
        f"{name.removeprefix('taskbus-')} {run.cores.get(name, 0):.2f}"
        for name in (PROJECTOR, "postgres")
    )
    tables = details["postgres_sizes"]["tables"]
    sizes = ", ".join(f"{name} {t['total'] / 1e9:.2f} GB" for name, t in tables.items())
    return f"cores: {used}; {sizes}"


def _span(last_seq: int, low: float, high: float) -> str:
    """``4.5-5.5 M`` for the middle tenth of ten million."""
    return f"{_millions(last_seq * low)}-{_millions(last_seq * high)} M"


def _millions(count: float) -> str:
    return f"{count / 1e6:.2f}".rstrip("0").rstrip(".")


async def _fetch_one(database_url: str, query: str) -> dict[str, int]:
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(query)
    finally:
        await conn.close()
    assert row is not None
    return {key: int(value) for key, value in row.items()}


async def _sizes(database_url: str) -> dict[str, Any]:
    """The read model's tables and indexes on disk after the fold, in bytes."""
    conn = await asyncpg.connect(database_url)
    try:
        tables = await conn.fetch(_RELATION_SIZES, READMODEL_SCHEMA)
        indexes = await conn.fetch(_INDEX_SIZES, READMODEL_SCHEMA)
        database = await conn.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await conn.close()
    return {
        "database": database,
        "tables": {r["name"]: {k: r[k] for k in ("heap", "indexes", "total")} for r in tables},
        "indexes": {r["name"]: r["bytes"] for r in indexes},
    }
