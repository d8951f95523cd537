"""The file field of a multipart/form-data body, read as the bytes arrive.

Starlette's form parser spools every file to a temporary file before the route runs, so an
upload would cross the disk and be checked for size only once it was all there. Here the
body is fed to python-multipart's push parser chunk by chunk and the file's bytes are handed
on as they come: the size limit cuts an upload off at the first byte past it, and memory
holds one network chunk.
"""

from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from taskbus_api.errors import ApiError

_Event = tuple[Literal["data", "end"], bytes]


class BadUpload(ApiError):
    """The request is not a multipart upload with the expected file field."""

    status_code = 422


class UnsupportedUpload(ApiError):
    """The request body is not multipart/form-data, or the file's type is not accepted."""

    status_code = 415


class UploadTooLarge(ApiError):
    """The file is larger than the configured limit."""

    status_code = 413


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    header_field: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    is_file: bool = False


class MultipartFile:
    """The field ``name`` of a multipart request: ``await start()``, then ``chunks()``."""

    def __init__(self, request: Request, name: str, *, max_bytes: int) -> None:
        content_type, options = parse_options_header(request.headers.get("content-type", ""))
        boundary = options.get(b"boundary")
        if content_type != b"multipart/form-data" or not boundary:
            raise UnsupportedUpload("send the file as multipart/form-data")
        self._name = name.encode()
        self._max_bytes = max_bytes
        self._body = request.stream().__aiter__()
        self._events: deque[_Event] = deque()
        self._part = _Part()
        self._started = False
        self.filename = ""
        self.content_type = ""
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
            },
        )

    async def start(self) -> None:
        """Read up to the file field's first bytes; its filename and type are then known."""
        while not self._started:
            if not await self._feed():
                raise BadUpload(f"no file field {self._name.decode()!r} in the form")

    async def chunks(self) -> AsyncIterator[bytes]:
        """The file's bytes as they arrive; raises ``UploadTooLarge`` past the limit."""
        size = 0
        while True:
            while not self._events:
                if not await self._feed():
                    raise BadUpload("the upload ended before the file did")
            kind, data = self._events.popleft()
            if kind == "end":
                return
            size += len(data)
            if size > self._max_bytes:
                raise UploadTooLarge(
                    f"the file is larger than the limit of {self._max_bytes:,} bytes"
                )
            yield data

    async def _feed(self) -> bool:
        try:
            chunk = await anext(self._body)
        except StopAsyncIteration:
            return False
        try:
            self._parser.write(chunk)
        except ValueError as exc:  # python-multipart's parse errors derive from ValueError
            raise BadUpload(f"malformed multipart body: {exc}") from None
        return True

    def _on_part_begin(self) -> None:
        self._part = _Part()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._part.header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._part.header_value += data[start:end]

    def _on_header_end(self) -> None:
        part = self._part
        part.headers[bytes(part.header_field).lower()] = bytes(part.header_value)
        part.header_field.clear()
        part.header_value.clear()

    def _on_headers_finished(self) -> None:
        disposition, options = parse_options_header(
            self._part.headers.get(b"content-disposition", b"")
        )
        if self._started or disposition != b"form-data" or options.get(b"name") != self._name:
            return
        self._part.is_file = self._started = True
        self.filename = options.get(b"filename", b"").decode("utf-8", errors="replace")
        self.content_type = self._part.headers.get(b"content-type", b"").decode("latin-1")

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._part.is_file:
            self._events.append(("data", data[start:end]))

    def _on_part_end(self) -> None:
        if self._part.is_file:
            self._events.append(("end", b""))
