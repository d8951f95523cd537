"""Many SSE clients in one process, cheap enough that the API, not they, is measured.

Run by ``bench/fanout.py`` as a subprocess (one per core); stdlib and uvloop only, so it
runs as a plain script. An httpx client per stream would cost more CPU than the API spends
on it: here each stream is an ``asyncio.Protocol`` that never parses an event. Per socket
read it counts the ``task`` events in the complete part of the bytes and reads the first
and last ``id:`` (the log sequence), both with C-speed ``bytes`` methods, and keeps one
record per read: the arrival time and those three numbers. Every change's lag and every
missed change is worked out from those records at the end, against the sequences and
submit times the bench sends in.

Talks to its parent in JSON lines: it prints ``{"opened": …}`` once every stream has its
200, reads ``{"seqs": […], "submitted_at": […], "answered_at": […], "drain_s": …}``, waits
until every stream has seen the last sequence (or ``drain_s`` passes), prints
``{"drained_s": …}``, then its tally, and exits.
"""

import argparse
import asyncio
import bisect
import json
import resource
import sys
import time
from array import array
from dataclasses import dataclass, field
from typing import Any, cast

_OPEN_AT_ONCE = 50
_EVENT_END = b"\r\n\r\n"
_TASK_EVENT = b"\r\nevent: task\r\n"
_ID = b"id: "
# The last chunk of a chunked response: the API ended the stream (a dropped subscriber).
_LAST_CHUNK = b"\r\n0\r\n\r\n"
_CONTROL_LINE_LIMIT = 1 << 28


@dataclass
class Reads:
    """One record per socket read that completed at least one ``task`` event."""

    at: "array[float]" = field(default_factory=lambda: array("d"))
    """``time.monotonic()`` of the read: the clock is the machine's, shared with the bench."""
    first: "array[int]" = field(default_factory=lambda: array("q"))
    last: "array[int]" = field(default_factory=lambda: array("q"))
    count: "array[int]" = field(default_factory=lambda: array("l"))


class Stream(asyncio.Protocol):
    """One ``GET /api/stream``: checks the 200, then records each read's events."""

    def __init__(self, request: bytes) -> None:
        self._request = request
        self._loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = self._loop.create_future()
        self.reads = Reads()
        self.last_seq = 0
        self.bytes = 0
        self.ended: str | None = None
        """Why the stream ended before the bench closed it (None: it did not)."""
        self.caught_up: asyncio.Event = asyncio.Event()
        self.wanted_seq: int | None = None
        self._head = b""
        self._tail = b""
        self._transport: asyncio.Transport | None = None
        self._closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self._transport = cast(asyncio.Transport, transport)
        self._transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        self.bytes += len(data)
        if not self.opened.done():
            data = self._headers(data)
            if not data:
                return
        self._events(self._tail + data if self._tail else data)

    def _headers(self, data: bytes) -> bytes:
        """Wait for the response head; what follows it is the stream's first bytes."""
        self._head += data
        end = self._head.find(_EVENT_END)
        if end < 0:
            return b""
        head, rest = self._head[:end], self._head[end + 4 :]
        self._head = b""
        if head.startswith(b"HTTP/1.1 200"):
            self.opened.set_result(None)
            return rest
        self.opened.set_exception(ConnectionError(head.split(b"\r\n", 1)[0].decode()))
        self.close()
        return b""

    def _events(self, buf: bytes) -> None:
        end = buf.rfind(_EVENT_END)
        if end < 0:
            self._tail = buf
            return
        end += 4
        self._tail = buf[end:]
        if buf.endswith(_LAST_CHUNK):
            self.ended = "the API ended the stream"
            self.caught_up.set()
        count = buf.count(_TASK_EVENT, 0, end)
        if not count:
            return
        first = buf.find(_ID, 0, end)
        last = buf.rfind(_ID, 0, end)
        last_seq = int(buf[last + 4 : buf.index(b"\r", last)])
        reads = self.reads
        reads.at.append(time.monotonic())
        reads.first.append(int(buf[first + 4 : buf.index(b"\r", first)]))
        reads.last.append(last_seq)
        reads.count.append(count)
        self.last_seq = last_seq
        if self.wanted_seq is not None and last_seq >= self.wanted_seq:
            self.caught_up.set()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.ended is None and not self._closing:
            self.ended = f"connection lost: {exc or 'closed by the API'}"
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(self.ended))
        self.caught_up.set()

    def expect(self, seq: int) -> None:
        """Set ``caught_up`` once the stream has delivered ``seq``."""
        self.wanted_seq = seq
        if self.last_seq >= seq or self.ended is not None:
            self.caught_up.set()

    def close(self) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.close()


@dataclass(frozen=True)
class Submitted:
    """The bench's changes in log order, and when each was submitted, as runs of one batch."""

    seqs: list[int]
    run_starts: list[int]
    """Index into ``seqs`` where each run of changes of one submit starts."""
    run_times: list[float]
    """When the run's submit started."""
    run_answers: list[float]
    """When the run's submit was answered: its changes were in the log."""

    @classmethod
    def of(cls, seqs: list[int], submitted: list[float], answered: list[float]) -> "Submitted":
        order = sorted(range(len(seqs)), key=seqs.__getitem__)
        ordered = [seqs[i] for i in order]
        times = [submitted[i] for i in order]
        starts = [i for i in range(len(times)) if i == 0 or times[i] != times[i - 1]]
        answers = [answered[order[i]] for i in starts]
        return cls(ordered, starts, [times[i] for i in starts], answers)


@dataclass
class Tally:
    """What every stream of this process received, against what was submitted."""

    missing: int = 0
    unexpected: int = 0
    lag_ms: dict[int, int] = field(default_factory=dict)
    """Changes delivered by their lag, submit → read, in whole milliseconds."""
    after_answer_ms: dict[int, int] = field(default_factory=dict)
    """The same from the submit's answer (negative: read before the submitter heard back)."""
    worst_ms: dict[int, int] = field(default_factory=dict)
    """The largest lag of the changes submitted in each second of the load: does it grow?"""

    def add_stream(self, reads: Reads, submitted: Submitted) -> None:
        """Each read covers the sequences after the previous read's last, up to its own."""
        seqs = submitted.seqs
        covered = 0
        done = 0  # index in seqs of the first change no earlier read covered
        for at, first, last, count in zip(
            reads.at, reads.first, reads.last, reads.count, strict=True
        ):
            start = max(done, bisect.bisect_left(seqs, first))
            stop = max(start, bisect.bisect_right(seqs, last))
            expected = stop - start
            self.unexpected += max(0, count - expected)
            covered += min(count, expected)
            self._lags(at, start, stop, submitted)
            done = stop
        self.missing += len(seqs) - covered

    def _lags(self, at: float, start: int, stop: int, submitted: Submitted) -> None:
        starts, times = submitted.run_starts, submitted.run_times
        run = bisect.bisect_right(starts, start) - 1
        while run < len(starts) and starts[run] < stop:
            run_stop = starts[run + 1] if run + 1 < len(starts) else len(submitted.seqs)
            changes = min(stop, run_stop) - max(start, starts[run])
            lag = round((at - times[run]) * 1000)
            self.lag_ms[lag] = self.lag_ms.get(lag, 0) + changes
            late = round((at - submitted.run_answers[run]) * 1000)
            self.after_answer_ms[late] = self.after_answer_ms.get(late, 0) + changes
            second = int(times[run] - times[0])
            self.worst_ms[second] = max(lag, self.worst_ms.get(second, lag))
            run += 1


async def open_streams(
    host: str, port: int, clients: int, after: int, within_s: float
) -> list[Stream]:
    """``clients`` streams, ``_OPEN_AT_ONCE`` connecting at a time, each resuming after
    ``after`` so that none misses a change however late the API accepts it."""
    request = (
        f"GET /api/stream HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n"
        f"Last-Event-ID: {after}\r\n\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    streams: list[Stream] = []
    slots = asyncio.Semaphore(_OPEN_AT_ONCE)

    async def open_one() -> None:
        async with slots:
            _, stream = await loop.create_connection(lambda: Stream(request), host, port)
            streams.append(stream)
            await stream.opened

    async with asyncio.timeout(within_s):
        await asyncio.gather(*(open_one() for _ in range(clients)))
    return streams


async def control_lines() -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=_CONTROL_LINE_LIMIT)
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def drain(streams: list[Stream], last_seq: int, within_s: float) -> float:
    """Wait until every stream has delivered ``last_seq``; the seconds that took."""
    started = time.monotonic()
    for stream in streams:
        stream.expect(last_seq)
    try:
        async with asyncio.timeout(within_s):
            await asyncio.gather(*(stream.caught_up.wait() for stream in streams))
    except TimeoutError:
        pass
    return time.monotonic() - started


def tally(streams: list[Stream], submitted: Submitted) -> Tally:
    result = Tally()
    for stream in streams:
        result.add_stream(stream.reads, submitted)
    return result


def report(streams: list[Stream], submitted: Submitted, drained_s: float) -> dict[str, Any]:
    counted = tally(streams, submitted)
    ended = [stream.ended for stream in streams if stream.ended is not None]
    reads = sum(len(stream.reads.at) for stream in streams)
    return {
        "streams": len(streams),
        "changes": len(submitted.seqs),
        "missing": counted.missing,
        "unexpected": counted.unexpected,
        "lag_ms": counted.lag_ms,
        "after_answer_ms": counted.after_answer_ms,
        "worst_ms_by_second": counted.worst_ms,
        "ended": len(ended),
        "ended_why": sorted(set(ended))[:5],
        "caught_up": sum(stream.last_seq >= submitted.seqs[-1] for stream in streams),
        "drain_s": round(drained_s, 3),
        "reads": reads,
        "bytes": sum(stream.bytes for stream in streams),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def main(args: argparse.Namespace) -> None:
    control = await control_lines()
    try:
        streams = await open_streams(
            args.host, args.port, args.clients, args.after, args.open_timeout
        )
    except (OSError, TimeoutError) as exc:
        say({"error": f"opening {args.clients} streams: {exc!r}"})
        return
    say({"opened": len(streams)})
    order = json.loads(await control.readline())
    submitted = Submitted.of(order["seqs"], order["submitted_at"], order["answered_at"])
    drained_s = await drain(streams, submitted.seqs[-1], order["drain_s"])
    for stream in streams:
        stream.close()
    # First, so that the bench stops its CPU meter before the tally, which is the bench's.
    say({"drained_s": round(drained_s, 3)})
    say(report(streams, submitted, drained_s))


def _run() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--after", type=int, required=True, help="Last-Event-ID of every stream")
    parser.add_argument("--open-timeout", type=float, default=60.0, help="seconds to open all")
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        runner = asyncio.run
    else:
        runner = uvloop.run
    runner(main(args))


if __name__ == "__main__":
    _run()
