"""The file store against a real nats-server: round trips, compatibility, failures, memory."""

import secrets
import tracemalloc
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js.api import StorageType
from taskbus.files import (
    CHUNK_SIZE,
    FileCorrupt,
    FileNotFound,
    FileStore,
    ensure_file_bucket,
    is_file_id,
)
from taskbus.settings import CommonSettings


class ClientGone(Exception):
    pass


@pytest.fixture
async def client(nats_url: str) -> AsyncIterator[NATS]:
    nc = await nats.connect(nats_url)
    yield nc
    await nc.close()


@pytest.fixture
async def store(client: NATS) -> FileStore:
    settings = CommonSettings(namespace=f"f{secrets.token_hex(4)}")
    return await ensure_file_bucket(client.jetstream(), settings)


def _data(size: int) -> bytes:
    return bytes(i * 7 % 251 for i in range(size))


async def _pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _read(store: FileStore, file_id: str) -> bytes:
    return b"".join([chunk async for chunk in await store.open(file_id)])


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 5])
async def test_a_file_comes_back_as_stored_whatever_the_pieces(store: FileStore, size: int) -> None:
    data = _data(size)

    info = await store.put(_pieces(data, 50_000), name="table.csv", content_type="text/csv")

    assert is_file_id(info.file_id)
    assert (info.name, info.size, info.content_type) == ("table.csv", size, "text/csv")
    assert await store.info(info.file_id) == info
    assert await _read(store, info.file_id) == data


async def test_files_are_readable_by_the_nats_object_store_client(
    store: FileStore, client: NATS
) -> None:
    data = _data(2 * CHUNK_SIZE + 10)
    info = await store.put(data, name="photo.jpg", content_type="image/jpeg")

    obs = await client.jetstream().object_store(store.bucket)
    result = await obs.get(info.file_id)

    assert result.data == data
    assert result.info.headers == {"Content-Type": ["image/jpeg"]}


async def test_the_bucket_keeps_files_on_disk_and_is_made_once(
    store: FileStore, client: NATS
) -> None:
    js = client.jetstream()
    settings = CommonSettings(namespace=store.bucket.split("-")[0])

    again = await ensure_file_bucket(js, settings)

    assert again.bucket == store.bucket
    assert (await js.stream_info(store.stream)).config.storage == StorageType.FILE


@pytest.mark.parametrize("file_id", ["not-an-id", "../../etc/passwd", ""])
async def test_a_malformed_id_is_not_found(store: FileStore, file_id: str) -> None:
    with pytest.raises(FileNotFound):
        await store.info(file_id)


async def test_an_unknown_id_is_not_found(store: FileStore) -> None:
    with pytest.raises(FileNotFound, match="no file with id"):
        await store.open("0b7e0a54-3c55-4c1f-9d43-2bd1f8f0c6a4")


async def test_a_failed_upload_leaves_no_chunks_behind(store: FileStore, client: NATS) -> None:
    js = client.jetstream()
    before = (await js.stream_info(store.stream)).state.messages

    async def broken() -> AsyncIterator[bytes]:
        yield _data(3 * CHUNK_SIZE)
        raise ClientGone

    with pytest.raises(ClientGone):
        await store.put(broken(), name="x.csv", content_type="text/csv")
    assert (await js.stream_info(store.stream)).state.messages == before


async def test_missing_chunks_are_reported_not_truncated(store: FileStore, client: NATS) -> None:
    info = await store.put(_data(3 * CHUNK_SIZE), name="x.bin", content_type="text/csv")
    obs = await client.jetstream().object_store(store.bucket)
    nuid = (await obs.get_info(info.file_id)).nuid
    await client.jetstream().purge_stream(store.stream, subject=store.chunk_subject(nuid))

    with pytest.raises(FileCorrupt, match="lacks chunk 1 of 3"):
        await _read(store, info.file_id)


async def test_memory_stays_flat_in_the_file_size(store: FileStore) -> None:
    size, piece = 48 * 1024 * 1024, _data(64 * 1024)

    async def upload() -> AsyncIterator[bytes]:
        for _ in range(size // len(piece)):
            yield piece

    tracemalloc.start()
    try:
        info = await store.put(upload(), name="big.csv", content_type="text/csv")
        total = 0
        async for chunk in await store.open(info.file_id):
            total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert total == size
    assert peak < 4 * 1024 * 1024
