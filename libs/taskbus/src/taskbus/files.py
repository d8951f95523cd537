"""Uploaded inputs and produced artifacts: files in a JetStream Object Store bucket.

Files are written in the NATS object store's own layout (128 KiB chunks on
``$O.<bucket>.C.<nuid>``, one JSON metadata message per object on ``$O.<bucket>.M.<name>``),
so ``nats object get`` and nats-py's ``ObjectStore`` read them too. The reading and writing
are done here rather than by nats-py's ``ObjectStore``: its ``get`` gathers the whole object in
memory (or, given a file, pushes chunks through an ordered consumer that buffers up to 64 MB
ahead of a slow reader). Here a reader fetches one chunk at a time by direct get (about
240 MB/s on loopback, one chunk in memory), so a 1 GB file costs 128 KiB of RAM to stream.

Objects are named by server-generated ids, never by the user's file name; the name a user gave
is kept in the metadata for display only.
"""

import asyncio
import base64
import hashlib
import json
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4, uuid5

import structlog
from nats.js import JetStreamContext
from nats.js.api import ObjectStoreConfig, RawStreamMsg, StorageType
from nats.js.errors import APIError, NotFoundError
from pydantic import BaseModel, ConfigDict

from taskbus.errors import TaskbusError
from taskbus.settings import CommonSettings

CHUNK_SIZE = 128 * 1024
"""Well under NATS's default 1 MB max_payload; the object store's default chunk size too."""

_DIGEST_PREFIX = "SHA-256="
# How JetStream refuses a message that would take the stream past its max_bytes (a store
# failure, err_code 10077, of this description).
_STREAM_FULL = "maximum bytes exceeded"
_ROLLUP = {"Nats-Rollup": "sub"}
# A refused purge (a service's login) is not answered: this bounds the wait for nothing.
_DISCARD_TIMEOUT_S = 1.0

log = structlog.get_logger(__name__)


class FileNotFound(TaskbusError):
    """No file with that id is in the store."""


class FileStoreFull(TaskbusError):
    """The bucket holds ``FILES_MAX_BYTES`` already; nothing more fits until files go."""


class FileCorrupt(TaskbusError):
    """A stored file's chunks are missing or do not match its recorded size or digest."""


@dataclass(frozen=True, slots=True)
class FileInfo:
    file_id: str
    name: str
    """The name the uploader gave (sanitised), for display and downloads only."""
    size: int
    content_type: str


class _ObjectMeta(BaseModel):
    """The object store's metadata message, as the Go and Python clients write it."""

    model_config = ConfigDict(extra="ignore")

    name: str
    nuid: str
    size: int = 0
    chunks: int = 0
    digest: str = ""
    deleted: bool = False
    headers: dict[str, list[str]] | None = None
    metadata: dict[str, str] | None = None

    def file_info(self) -> FileInfo:
        content_type = (self.headers or {}).get("Content-Type", ["application/octet-stream"])
        return FileInfo(
            file_id=self.name,
            name=(self.metadata or {}).get("filename", self.name),
            size=self.size,
            content_type=content_type[0],
        )


def new_file_id() -> str:
    return str(uuid4())


def derived_file_id(owner: UUID, key: str) -> str:
    """An id fixed by its owner (a task) and a key, so a redone step finds what it stored."""
    return str(uuid5(owner, key))


def is_file_id(value: str) -> bool:
    """Whether ``value`` has the shape of an id this store hands out."""
    try:
        return str(UUID(value)) == value
    except ValueError:
        return False


class FileReader:
    """One stored file, streamed chunk by chunk: ``async for chunk in reader``.

    The size and SHA-256 digest are checked as the last chunk arrives; a mismatch raises
    ``FileCorrupt`` instead of ending the stream quietly.
    """

    def __init__(self, store: "FileStore", meta: _ObjectMeta) -> None:
        self._store = store
        self._meta = meta
        self.info = meta.file_info()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        meta = self._meta
        subject = self._store.chunk_subject(meta.nuid)
        digest, size, seq = hashlib.sha256(), 0, 0
        for index in range(meta.chunks):
            msg = await self._store.next_chunk(subject, after=seq)
            if msg is None or msg.data is None:
                raise FileCorrupt(f"file {meta.name} lacks chunk {index + 1} of {meta.chunks}")
            seq = msg.seq or seq + 1
            digest.update(msg.data)
            size += len(msg.data)
            yield msg.data
        recorded = base64.urlsafe_b64decode(meta.digest.removeprefix(_DIGEST_PREFIX))
        if size != meta.size or digest.digest() != recorded:
            raise FileCorrupt(f"file {meta.name} does not match its recorded size or digest")


class FileStore:
    """Put, stat and stream files of one bucket; cheap to construct (no I/O)."""

    def __init__(self, js: JetStreamContext, bucket: str) -> None:
        self._js = js
        self.bucket = bucket
        self.stream = f"OBJ_{bucket}"

    def chunk_subject(self, nuid: str) -> str:
        return f"$O.{self.bucket}.C.{nuid}"

    def _meta_subject(self, file_id: str) -> str:
        encoded = base64.urlsafe_b64encode(file_id.encode()).decode()
        return f"$O.{self.bucket}.M.{encoded}"

    async def put(
        self,
        source: AsyncIterable[bytes] | bytes,
        *,
        name: str,
        content_type: str,
        file_id: str | None = None,
    ) -> FileInfo:
        """Store ``source``; returns once every chunk and the metadata are stored.

        ``source`` may come in pieces of any size; it is re-cut into ``CHUNK_SIZE`` chunks, so
        memory holds at most one chunk plus one piece. If ``source`` raises (an upload over its
        limit, a client gone), the chunks already stored are purged where this login may purge
        (an admin's; services may not, docs/design.md "Threat model") and the error propagates.
        The id is new unless ``file_id`` is given (see ``derived_file_id``); a file already
        stored under that id must not be put again.
        """
        file_id, nuid = file_id or new_file_id(), uuid4().hex
        subject = self.chunk_subject(nuid)
        digest, size, chunks = hashlib.sha256(), 0, 0
        try:
            async for chunk in _rechunked(source):
                await self._publish_chunk(subject, chunk)
                digest.update(chunk)
                size, chunks = size + len(chunk), chunks + 1
            meta = {
                "name": file_id,
                "bucket": self.bucket,
                "nuid": nuid,
                "size": size,
                "chunks": chunks,
                "digest": _DIGEST_PREFIX + base64.urlsafe_b64encode(digest.digest()).decode(),
                "mtime": datetime.now(UTC).isoformat(),
                "headers": {"Content-Type": [content_type]},
                "metadata": {"filename": name},
                "options": {"max_chunk_size": CHUNK_SIZE},
            }
            await self._js.publish(
                self._meta_subject(file_id),
                json.dumps(meta).encode(),
                stream=self.stream,
                headers=_ROLLUP,
            )
        except BaseException:
            await asyncio.shield(self._discard(subject))
            raise
        return FileInfo(file_id=file_id, name=name, size=size, content_type=content_type)

    async def _discard(self, subject: str) -> None:
        """Purge an unfinished file's chunks, if this login may; never in the way of the error
        that left the file unfinished."""
        try:
            await asyncio.wait_for(
                self._js.purge_stream(self.stream, subject=subject), _DISCARD_TIMEOUT_S
            )
        except Exception as exc:
            log.warning(
                "chunks of an unfinished file are left in the store",
                subject=subject,
                error=repr(exc),
            )

    async def _publish_chunk(self, subject: str, chunk: bytes) -> None:
        try:
            await self._js.publish(subject, chunk, stream=self.stream)
        except APIError as exc:
            if _STREAM_FULL in (exc.description or ""):
                raise FileStoreFull(f"the file store {self.bucket} is full") from exc
            raise

    async def free_bytes(self) -> int | None:
        """How much more the bucket takes, or None when it has no cap."""
        info = await self._js.stream_info(self.stream)
        cap = info.config.max_bytes
        if cap is None or cap < 0:
            return None
        return max(0, cap - info.state.bytes)

    async def info(self, file_id: str) -> FileInfo:
        """What is stored under ``file_id``; raises ``FileNotFound``."""
        return (await self._meta(file_id)).file_info()

    async def open(self, file_id: str) -> FileReader:
        """A reader of ``file_id``'s bytes; raises ``FileNotFound`` before anything is read."""
        return FileReader(self, await self._meta(file_id))

    async def _meta(self, file_id: str) -> _ObjectMeta:
        missing = FileNotFound(f"no file with id {file_id!r}")
        if not is_file_id(file_id):
            raise missing
        try:
            # Not a direct get: the stream leader answers, so a file is found the moment its
            # upload returned, even where direct gets are served by a lagging replica.
            msg = await self._js.get_last_msg(self.stream, self._meta_subject(file_id))
        except NotFoundError:
            raise missing from None
        meta = _ObjectMeta.model_validate_json(msg.data or b"{}")
        if meta.deleted:
            raise missing
        return meta

    async def next_chunk(self, subject: str, *, after: int) -> RawStreamMsg | None:
        """The first message on ``subject`` past stream sequence ``after``, or None."""
        try:
            return await self._js.get_msg(
                self.stream, seq=after + 1, subject=subject, next=True, direct=True
            )
        except NotFoundError:
            pass
        # A direct get may be answered by a replica that lags; ask the leader before giving up.
        try:
            return await self._js.get_msg(self.stream, seq=after + 1, subject=subject, next=True)
        except NotFoundError:
            return None


async def _rechunked(source: AsyncIterable[bytes] | bytes) -> AsyncIterator[bytes]:
    """``source`` as ``CHUNK_SIZE`` pieces (the last one shorter)."""
    if isinstance(source, bytes):
        for start in range(0, len(source), CHUNK_SIZE):
            yield source[start : start + CHUNK_SIZE]
        return
    pending = bytearray()
    async for piece in source:
        pending += piece
        while len(pending) >= CHUNK_SIZE:
            yield bytes(pending[:CHUNK_SIZE])
            del pending[:CHUNK_SIZE]
    if pending:
        yield bytes(pending)


async def ensure_file_bucket(js: JetStreamContext, settings: CommonSettings) -> FileStore:
    """The namespace's file bucket, created (file storage, configured replicas, at most
    ``FILES_MAX_BYTES``: a full disk would stop JetStream for the log too) if missing."""
    store = FileStore(js, settings.subjects.files_bucket)
    try:
        await js.stream_info(store.stream)
    except NotFoundError:
        config = ObjectStoreConfig(
            description="taskbus uploaded inputs and produced artifacts",
            storage=StorageType.FILE,
            replicas=settings.stream_replicas,
            max_bytes=settings.files_max_bytes,
        )
        await js.create_object_store(store.bucket, config=config)
    return store
