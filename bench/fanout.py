"""SSE fan-out at scale (issue 12): 1,000 clients each receive every change at 500 changes/s.

Only the api and the projector run, so a task stays PENDING and each submit is exactly one
change. The streams are opened first, all on ``/api/stream`` without a filter (every
change goes to every client: the heaviest case, and the one where "every change" is
unambiguous), each resuming after the read model's position so that none can miss a
change however late it is accepted. Then the bench submits as a user's program would,
``taskbus.Client.submit_many`` every 100 ms, for ``seconds``, and waits until every stream
has the last change.

The clients are ``bench/sse_readers.py`` subprocesses (one per core): 1,000 httpx streams
in one Python process would not keep up on two cores, and would be what is measured. A
change's lag is from the start of its submit to the socket read that completed it in the
client, so it covers the API's accept, JetStream, the projector and the feed. A change is
missed when some stream never delivered it (a dropped stream misses the rest).

Memory is the API's resident set (psutil) before the streams open, with them open, and at
its peak under load; per client is the growth to the peak divided by the clients.

The API runs open, without keys, as every benchmark does: its per-key limits (20 streams,
20 commands/s) then count nothing (``abuse.py``). ``API_MAX_STREAMS_PER_KEY`` is set to the
clients anyway, so a run with keys measures the feed rather than the cap.
"""

import asyncio
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import urlsplit

import httpx
import psutil
import taskbus
from support.system import System

from bench import machine
from bench.cpu import CpuMeter
from bench.feed import projector_position
from bench.harness import (
    API,
    PROJECTOR,
    Servers,
    new_namespace,
    process_ids,
    services,
    wait_until_listening,
)
from bench.profiling import Profiler
from bench.report import Result, Target, percentile

READERS_SCRIPT = Path(__file__).with_name("sse_readers.py")
TASK_TYPE = "csv_processing"
PARAMETERS = {"num_rows": 10}
WARMUP_TASKS = 100
SOURCE = "issue 12"
LAG_TARGET = Target("<=", 1000, SOURCE)
MISSED_TARGET = Target("<=", 0, SOURCE)
MEMORY_TARGET = Target("<=", 1.0, f"{SOURCE}: bounded; 1,000 clients in 1 GB")
""""Bounded memory per client" as a number: a replica holds 1,000 streams in at most 1 GB
beyond its own. What bounds it is the feed's backlog per subscriber (256 batches) and the
send timeout; a per-client figure far below 1 MB under load says the bound is not reached."""
RATE_SHARE = 0.99
"""The load must run at the rate asked (99 %, for the pacing's jitter) to count."""
_RSS_EVERY_S = 0.5
_POSITION_TIMEOUT_S = 30.0
_OPEN_WITHIN_S = 60.0
"""How long a reader may take to open its streams (``--open-timeout``)."""
_READER_SLACK_S = 60.0
"""Beyond the waits a reader bounds itself, how long it may take to answer (its tally of
30 M deliveries takes a few seconds); then it is taken for hung and the run fails."""


@dataclass(frozen=True)
class FanoutOptions:
    clients: int = 1000
    changes_per_s: int = 500
    seconds: float = 60.0
    reader_processes: int = 2
    """Subprocesses the streams are spread over; one per core."""
    ticks_per_s: int = 10
    """Batches submitted per second: 500 changes/s is 50 tasks every 100 ms."""
    drain_s: float = 15.0
    """How long after the last submit every stream may take to deliver it."""


@dataclass
class Load:
    """What the bench submitted: each change's log sequence and when its submit started."""

    seqs: list[int] = field(default_factory=list)
    submitted_at: list[float] = field(default_factory=list)
    """``time.monotonic()``: the machine's clock, which the readers read too."""
    answered_at: list[float] = field(default_factory=list)
    """When the submit of each change was answered (201: in the log)."""
    submit_ms: list[float] = field(default_factory=list)
    """How long each ``submit_many`` took: part of its changes' lag."""
    seconds: float = 0.0
    """From the first submit's start to the last one's answer."""
    rss_mb: list[float] = field(default_factory=list)
    """The API's resident set, every half second under load."""
    load_average: tuple[float, float] = (0.0, 0.0)
    """The machine's 1-minute load before and after: above 2, others took cores from it."""

    @property
    def rate(self) -> float:
        """Changes/s into the log: those after the first answer over the time to the last.

        Timed between answers, not from the first submit's start, so that a short run is
        not charged its first and last submit's own duration.
        """
        first, last = min(self.answered_at), max(self.answered_at)
        first_batch = self.answered_at.count(first)
        return (len(self.seqs) - first_batch) / (last - first)


@dataclass(frozen=True)
class Delivery:
    """The readers' tallies, summed."""

    streams: int
    missing: int
    unexpected: int
    ended: int
    ended_why: list[str]
    caught_up: int
    lag_ms: dict[int, int]
    after_answer_ms: dict[int, int]
    reads: int
    bytes: int
    drain_s: float
    reader_rss_mb: float
    worst_ms_by_second: list[int]
    """The largest lag of the changes submitted in each second of the load."""


def run_fanout(servers: Servers, options: FanoutOptions, profiler: Profiler) -> list[Result]:
    """Open ``clients`` streams on api + projector, load them, and tally every delivery."""
    _allow_open_files(2 * options.clients + 1000)
    with services(
        servers, "fanout", namespace=new_namespace(), database_url=servers.new_database()
    ) as system:
        _start(system, options)
        pids = process_ids(servers, system)
        api = psutil.Process(pids[API])
        after = asyncio.run(_warm_up(system.api_url))
        base_mb = _rss_mb(api)
        with Readers(system, options, after) as readers:
            connected_mb = _rss_mb(api)
            meter = CpuMeter(lambda: {**pids, **readers.pids})
            load_average = machine.load_average()
            with profiler.recording("fanout", pids), meter:
                load = asyncio.run(_load(system.api_url, options, api))
                readers.drain(load, options.drain_s)
            load.load_average = (load_average, machine.load_average())
            delivery = readers.tally()
    return _results(options, load, delivery, (base_mb, connected_mb), meter)


def _allow_open_files(needed: int) -> None:
    """The API inherits this process's limit and holds a socket per stream."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def _start(system: System, options: FanoutOptions) -> None:
    system.start(API, env={"API_MAX_STREAMS_PER_KEY": str(options.clients)})
    wait_until_listening(system, int(system.env["PORT"]))
    system.start(PROJECTOR)


async def _warm_up(api_url: str) -> int:
    """A few submits through every path the load takes; the read model's position after."""
    async with taskbus.Client(api_url) as client:
        handles = await client.submit_many(TASK_TYPE, [PARAMETERS] * WARMUP_TASKS)
    last = max(handle.task.seq for handle in handles if handle.task is not None)
    async with httpx.AsyncClient(base_url=api_url, trust_env=False) as http:
        async with asyncio.timeout(_POSITION_TIMEOUT_S):
            # The position is another process's, asked over HTTP: there is no event to await.
            while (position := await projector_position(http)) < last:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    return position


def _rss_mb(process: psutil.Process) -> float:
    return float(process.memory_info().rss) / 2**20


async def _load(api_url: str, options: FanoutOptions, api: psutil.Process) -> Load:
    """``changes_per_s`` for ``seconds``, a batch per tick on an absolute schedule, so a
    slow answer delays no later batch (batches then overlap rather than fall behind)."""
    load = Load()
    per_tick = options.changes_per_s // options.ticks_per_s
    ticks = round(options.seconds * options.ticks_per_s)
    async with taskbus.Client(api_url) as client:
        sampler = asyncio.create_task(_sample_rss(api, load.rss_mb))
        started = time.monotonic()
        sends = []
        for tick in range(ticks):
            await asyncio.sleep(max(0.0, started + tick / options.ticks_per_s - time.monotonic()))
            sends.append(asyncio.create_task(_submit(client, per_tick)))
        for submitted_at, took_s, seqs in await asyncio.gather(*sends):
            load.seqs += seqs
            load.submitted_at += [submitted_at] * len(seqs)
            load.answered_at += [submitted_at + took_s] * len(seqs)
            load.submit_ms.append(round(took_s * 1000, 2))
        load.seconds = time.monotonic() - started
        sampler.cancel()
    return load


async def _submit(client: taskbus.Client, tasks: int) -> tuple[float, float, list[int]]:
    """One ``submit_many`` batch: when it started, how long it took, its log sequences."""
    started = time.monotonic()
    handles = await client.submit_many(TASK_TYPE, [PARAMETERS] * tasks)
    took = time.monotonic() - started
    return started, took, [handle.task.seq for handle in handles if handle.task is not None]


async def _sample_rss(process: psutil.Process, samples: list[float]) -> None:
    while True:
        samples.append(round(_rss_mb(process), 1))
        await asyncio.sleep(_RSS_EVERY_S)


class Readers:
    """The ``sse_readers.py`` subprocesses, each holding its share of the streams open."""

    def __init__(self, system: System, options: FanoutOptions, after: int) -> None:
        url = urlsplit(system.api_url)
        self._argv = [sys.executable, str(READERS_SCRIPT), "--host", str(url.hostname)]
        self._argv += ["--port", str(url.port), "--after", str(after)]
        self._shares = _split(options.clients, options.reader_processes)
        self._log_dir = system.log_dir
        self._processes: list[subprocess.Popen[str]] = []
        self._logs: list[IO[bytes]] = []
        # Reads a reader's answer, so that waiting for it can time out.
        self._lines = ThreadPoolExecutor(1, thread_name_prefix="sse-reader-answers")

    @property
    def pids(self) -> Mapping[str, int]:
        return {f"sse reader {i}": p.pid for i, p in enumerate(self._processes)}

    def __enter__(self) -> "Readers":
        """Start every reader, then wait until each has all its streams open."""
        try:
            for i, share in enumerate(self._shares):
                self._processes.append(self._spawn(i, share))
            for process in self._processes:
                opened = self._answer(process, _OPEN_WITHIN_S)
                if "opened" not in opened:
                    raise RuntimeError(f"an SSE reader failed: {opened.get('error', opened)}")
        except BaseException:
            self._stop()
            raise
        return self

    def _spawn(self, index: int, clients: int) -> subprocess.Popen[str]:
        log = (self._log_dir / f"sse-reader-{index}.log").open("ab")
        self._logs.append(log)
        return subprocess.Popen(
            [*self._argv, "--clients", str(clients), "--open-timeout", str(_OPEN_WITHIN_S)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )

    def drain(self, load: Load, drain_s: float) -> None:
        """Tell every reader what was submitted; return once each stream has delivered the
        last change, or ``drain_s`` has passed."""
        order = json.dumps(
            {
                "seqs": load.seqs,
                "submitted_at": load.submitted_at,
                "answered_at": load.answered_at,
                "drain_s": drain_s,
            }
        )
        for process in self._processes:
            assert process.stdin is not None
            process.stdin.write(order + "\n")
            process.stdin.flush()
        for process in self._processes:
            self._answer(process, drain_s)

    def tally(self) -> Delivery:
        """What the streams delivered, summed over the readers (after ``drain``)."""
        return _summed([self._answer(process, 0.0) for process in self._processes])

    def _answer(self, process: subprocess.Popen[str], waits_s: float) -> dict[str, Any]:
        """The reader's next line, when it came within its own ``waits_s`` and some slack."""
        assert process.stdout is not None
        reading = self._lines.submit(process.stdout.readline)
        try:
            line = reading.result(timeout=waits_s + _READER_SLACK_S)
        except TimeoutError:
            process.kill()  # which ends the read
            raise RuntimeError("an SSE reader stopped answering; see its log") from None
        if not line:
            raise RuntimeError(f"an SSE reader ended (exit {process.wait(5)}); see its log")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop()

    def _stop(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                process.terminate()
        for process in self._processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in self._logs:
            log.close()
        self._lines.shutdown()


def _split(clients: int, parts: int) -> list[int]:
    """``clients`` over at most ``parts`` processes, as evenly as it goes."""
    parts = max(1, min(parts, clients))
    return [clients // parts + (i < clients % parts) for i in range(parts)]


def _summed(tallies: list[dict[str, Any]]) -> Delivery:
    lag_ms: dict[int, int] = {}
    after_answer_ms: dict[int, int] = {}
    worst: dict[int, int] = {}
    for one in tallies:
        _add_histogram(lag_ms, one["lag_ms"])
        _add_histogram(after_answer_ms, one["after_answer_ms"])
        for second, most in one["worst_ms_by_second"].items():
            worst[int(second)] = max(most, worst.get(int(second), most))
    total = {key: sum(one[key] for one in tallies) for key in ("streams", "missing", "ended")}
    return Delivery(
        streams=total["streams"],
        missing=total["missing"],
        unexpected=sum(one["unexpected"] for one in tallies),
        ended=total["ended"],
        ended_why=sorted({why for one in tallies for why in one["ended_why"]}),
        caught_up=sum(one["caught_up"] for one in tallies),
        lag_ms=lag_ms,
        after_answer_ms=after_answer_ms,
        reads=sum(one["reads"] for one in tallies),
        bytes=sum(one["bytes"] for one in tallies),
        drain_s=max(one["drain_s"] for one in tallies),
        reader_rss_mb=sum(one["max_rss_mb"] for one in tallies),
        worst_ms_by_second=[worst[second] for second in sorted(worst)],
    )


def _add_histogram(into: dict[int, int], counts: Mapping[str, int]) -> None:
    """Add a histogram as JSON carries it (keys as strings) to ``into``."""
    for key, count in counts.items():
        into[int(key)] = into.get(int(key), 0) + count


def lag_percentile(lag_ms: Mapping[int, int], pct: float) -> float:
    """The ``pct``-th percentile (nearest rank) of a histogram of lags in whole ms."""
    total = sum(lag_ms.values())
    rank = max(1, -(-total * pct // 100))
    seen = 0
    for lag in sorted(lag_ms):
        seen += lag_ms[lag]
        if seen >= rank:
            return float(lag)
    return float("nan")


def _results(
    options: FanoutOptions,
    load: Load,
    delivery: Delivery,
    memory_mb: tuple[float, float],
    meter: CpuMeter,
) -> list[Result]:
    name = f"SSE fan-out, {options.clients:,} clients"
    return [
        _rate_row(name, options, load, delivery),
        _missed_row(name, load, delivery),
        *_lag_rows(name, load, delivery, meter),
        _memory_row(name, options, load, memory_mb),
    ]


def _rate_row(name: str, options: FanoutOptions, load: Load, delivery: Delivery) -> Result:
    per_tick = options.changes_per_s // options.ticks_per_s
    mb_s = delivery.bytes / 2**20 / (load.seconds + delivery.drain_s)
    chunks_s = delivery.reads / max(1, delivery.streams) / load.seconds
    return Result(
        f"{name}: changes produced",
        round(load.rate, 1),
        "changes/s",
        Target(">=", round(RATE_SHARE * options.changes_per_s, 1), f"{SOURCE}: 500 changes/s"),
        note=f"submit_many, {per_tick} tasks every {1000 // options.ticks_per_s} ms for "
        f"{load.seconds:.0f} s (each took {statistics.median(load.submit_ms):.0f} ms, "
        f"p99 {percentile(load.submit_ms, 99):.0f}); streams read {mb_s:,.0f} MB/s "
        f"in {chunks_s:.1f} reads/s each",
        details={
            "changes": len(load.seqs),
            "seconds": round(load.seconds, 3),
            "submit_ms": load.submit_ms,
            "bytes_read": delivery.bytes,
            "socket_reads": delivery.reads,
        },
    )


def _missed_row(name: str, load: Load, delivery: Delivery) -> Result:
    deliveries = delivery.streams * len(load.seqs)
    ended = f"; {delivery.ended} streams ended early ({', '.join(delivery.ended_why)})"
    return Result(
        f"{name}: changes missed",
        delivery.missing,
        "changes",
        MISSED_TARGET,
        note=f"of {deliveries:,} deliveries; {delivery.caught_up} of {delivery.streams} "
        f"streams had the last change {delivery.drain_s:.1f} s after the last submit's answer"
        + (ended if delivery.ended else "")
        + (f"; {delivery.unexpected} unexpected" if delivery.unexpected else ""),
        details={"unexpected": delivery.unexpected},
    )


def _lag_rows(name: str, load: Load, delivery: Delivery, meter: CpuMeter) -> list[Result]:
    lags = delivery.lag_ms
    p50, p90, p99 = (lag_percentile(lags, pct) for pct in (50, 90, 99))
    before, after = load.load_average
    return [
        Result(
            f"{name}: lag p50",
            p50,
            "ms",
            note=f"submit start → read by the client, every change to every stream; p90 {p90:.0f}",
        ),
        Result(
            f"{name}: lag p99",
            p99,
            "ms",
            LAG_TARGET,
            note=f"max {max(lags, default=0):,} ms; from the submit's answer p99 "
            f"{lag_percentile(delivery.after_answer_ms, 99):,.0f}; load average {before} → {after}",
            details={
                "lag_ms_histogram": {str(k): v for k, v in sorted(lags.items())},
                "after_answer_ms_histogram": {
                    str(k): v for k, v in sorted(delivery.after_answer_ms.items())
                },
                "worst_lag_ms_by_second": delivery.worst_ms_by_second,
                "cpu_cores": meter.cores,
                "cpu_seconds": {name: round(used, 2) for name, used in meter.seconds.items()},
                "reader_rss_mb": delivery.reader_rss_mb,
                "load_average_1m": {"before": before, "after": after},
            },
        ),
    ]


def _memory_row(
    name: str, options: FanoutOptions, load: Load, memory_mb: tuple[float, float]
) -> Result:
    base, connected = memory_mb
    peak = max([connected, *load.rss_mb])
    return Result(
        f"{name}: API memory per client",
        round((peak - base) / options.clients, 3),
        "MB/client",
        MEMORY_TARGET,
        note=f"API RSS {base:.0f} MB → {connected:.0f} with the streams open → {peak:.0f} peak "
        f"under load ({(connected - base) / options.clients * 1024:.0f} KB/client idle)",
        details={"rss_mb": {"base": base, "connected": connected, "under_load": load.rss_mb}},
    )
