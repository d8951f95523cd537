"""Way (b)'s floor: the same ``httpx.AsyncClient`` submits against a server that does nothing.

A plain asyncio server answers every request at once with a fixed 201, so what is left is
the client's own cost: its CPU per request and the rate it reaches at the same number in
flight. No server, however fast, lets way (b) beat this rate, which is how the closing
figures of (b) are to be read (bench/README.md, "What limits each figure now").
"""

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from bench.cpu import CpuMeter
from bench.pipeline import SMALL_TASK
from bench.report import Result

_ANSWER = b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
_WARMUP = 100


class _Instant(asyncio.Protocol):
    """Answers each request with ``_ANSWER`` once its headers and body are in."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._buffer = b""

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(b"\r\n\r\n")) >= 0:
            length = 0
            for line in self._buffer[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self._buffer) < end + 4 + length:
                return
            self._buffer = self._buffer[end + 4 + length :]
            self._transport.write(_ANSWER)


@asynccontextmanager
async def _instant_server() -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Instant, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def _submits(http: httpx.AsyncClient, requests: int, concurrency: int) -> None:
    numbers = itertools.count()

    async def submitter() -> None:
        while next(numbers) < requests:
            response = await http.post("/api/tasks/submit", json=SMALL_TASK)
            response.raise_for_status()

    await asyncio.gather(*(submitter() for _ in range(concurrency)))


async def _measure(requests: int, concurrency: int) -> tuple[float, float]:
    """Requests per second, and the client's CPU per request in ms."""
    # The server runs in this process too; its share is small and is left in, so the CPU
    # figure is, if anything, a little high. The rate is what matters here.
    async with _instant_server() as url, httpx.AsyncClient(base_url=url) as http:
        await _submits(http, _WARMUP, concurrency)
        meter = CpuMeter(dict)
        with meter:
            started = time.perf_counter()
            await _submits(http, requests, concurrency)
            seconds = time.perf_counter() - started
    cpu_ms = sum(meter.seconds.values()) * 1000 / requests
    return requests / seconds, cpu_ms


def httpx_floor(requests: int, concurrency: int) -> Result:
    rate, cpu_ms = asyncio.run(_measure(requests, concurrency))
    return Result(
        f"same job: (b)'s floor, httpx.AsyncClient at {concurrency} in flight, server instant",
        round(rate, 1),
        "requests/s",
        note=f"{requests:,} submits to a server answering each at once; "
        f"client and server {cpu_ms:.2f} ms of CPU per request",
        details={"cpu_ms_per_request": round(cpu_ms, 3)},
    )
