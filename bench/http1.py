"""A minimal HTTP/1.1 client for the benchmarks' load: one keep-alive connection per user.

httpx's AsyncClient spends more CPU on a request than the API spends answering it, and
stalls when many requests share its pool (encode/httpx#3215): on two cores the load
generator, not the API, would be measured. This client does only what the benchmarks
need: small requests, one at a time per connection, answers sized by Content-Length.
"""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit


class ProtocolError(Exception):
    """The server answered in a way this small client does not handle."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str):
        self._reader = reader
        self._writer = writer
        self._host = host

    async def get(self, path: str, query: dict[str, str] | None = None) -> Response:
        return await self.request("GET", f"{path}?{urlencode(query)}" if query else path)

    async def post(self, path: str, payload: object) -> Response:
        return await self.request("POST", path, json.dumps(payload).encode())

    async def request(self, method: str, target: str, body: bytes = b"") -> Response:
        head = f"{method} {target} HTTP/1.1\r\nHost: {self._host}\r\n"
        if body:
            head += "Content-Type: application/json\r\n"
        head += f"Content-Length: {len(body)}\r\n\r\n"
        self._writer.write(head.encode() + body)
        status_line, *header_lines = (
            (await self._reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        )
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" not in headers:
            raise ProtocolError(f"no Content-Length in the answer to {method} {target}")
        content = await self._reader.readexactly(int(headers["content-length"]))
        return Response(int(status_line.split(" ", 2)[1]), content)


@asynccontextmanager
async def connect(url: str) -> AsyncIterator[Connection]:
    """A connection to the server of ``url`` (``http://host:port``), closed after the block."""
    parts = urlsplit(url)
    if parts.hostname is None or parts.port is None:
        raise ValueError(f"{url!r} does not name a host and a port")
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        yield Connection(reader, writer, parts.netloc)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
