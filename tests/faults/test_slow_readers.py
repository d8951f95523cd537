"""SSE clients that stop reading: they hold no Postgres connection, and they are cut off.

Twenty clients ask for the whole history (``Last-Event-ID: 0``), read the status line and
then nothing more, so the API's writes to them block once the socket buffers are full.
Meanwhile every list and health request is answered promptly, from a pool of 20
connections that a stream holding one per stalled client would exhaust; after the send
timeout the API drops all twenty.
"""

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest
from support.fixtures import SystemFactory
from support.system import System

pytestmark = pytest.mark.faults

SLOW_READERS = 20
TASKS = 400
# Long names make the history replayed to each client a few hundred KB, well past what the
# socket buffers of a stalled client take (about 100 KB, see _stalled_reader): parameters
# are stored as submitted, so the names carry the size.
NAME_PADDING = "n" * 190
SEND_TIMEOUT_S = 3
PROMPT_S = 1.0


@dataclass(frozen=True)
class Probe:
    streams: int
    """SSE streams open on the API when the probe started."""
    path: str
    status: int
    seconds: float


def test_stalled_sse_clients_hold_no_connection_and_are_dropped(
    system_factory: SystemFactory,
) -> None:
    with system_factory(
        "slow-readers",
        services=("taskbus-api", "taskbus-projector"),
        extra_env={"API_SSE_SEND_TIMEOUT_S": str(SEND_TIMEOUT_S)},
    ) as system:
        for i in range(TASKS):
            system.submit("csv_processing", {"num_rows": 10}, name=f"{i} {NAME_PADDING}", wait=0)
        system.wait_until_projected()

        with ExitStack() as readers:
            for _ in range(SLOW_READERS):
                readers.enter_context(closing(_stalled_reader(system.api_url)))
            probes = list(_probe_until(system, _all_stalled_then_dropped()))
        dropped = [line for line in system.log_lines("taskbus-api") if "stopped reading" in line]

    slow = [p for p in probes if p.status != 200 or p.seconds > PROMPT_S]
    assert slow == [], "answers while the clients stalled must be prompt"
    assert len([p for p in probes if p.streams == SLOW_READERS]) >= 5, (
        "probes ran while every stalled client had its stream open"
    )
    assert len(dropped) == SLOW_READERS


def _stalled_reader(api_url: str) -> socket.socket:
    """A client replaying the stream from the start that reads the status line only."""
    url = urlsplit(api_url)
    assert url.hostname is not None
    assert url.port is not None
    sock = socket.socket()
    # A tiny window and tiny segments: the server's kernel then sizes its send buffer for
    # this peer at tens of KB instead of megabytes (on loopback), so its writes block soon.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
    sock.settimeout(10)
    sock.connect((url.hostname, url.port))
    sock.sendall(
        b"GET /api/stream HTTP/1.1\r\n"
        + f"Host: {url.netloc}\r\n".encode()
        + b"Accept: text/event-stream\r\nLast-Event-ID: 0\r\n\r\n"
    )
    assert sock.recv(12) == b"HTTP/1.1 200"
    return sock


def _all_stalled_then_dropped() -> Callable[[int], bool]:
    """True once the API has had every stalled client's stream open, then none."""
    seen_all = False

    def done(streams: int) -> bool:
        nonlocal seen_all
        seen_all = seen_all or streams == SLOW_READERS
        return seen_all and streams == 0

    return done


def _probe_until(system: System, done: Callable[[int], bool]) -> Iterator[Probe]:
    """List and health requests, back to back, until ``done`` holds for the open streams."""
    deadline = time.monotonic() + 60
    with httpx.Client(base_url=system.api_url, timeout=30) as client:
        while not done(streams := _open_streams(client)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{streams} SSE streams still open")
            for path in ("/api/tasks/", "/api/health"):
                started = time.perf_counter()
                response = client.get(path)
                yield Probe(streams, path, response.status_code, time.perf_counter() - started)


def _open_streams(client: httpx.Client) -> int:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("taskbus_sse_clients "):
            return int(float(line.split()[1]))
    raise AssertionError("the API reports no taskbus_sse_clients")
