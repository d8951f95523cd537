"""The file store against a real nats-server: round trips, compatibility, failures, memory."""

import tracemalloc
from collections.abc import AsyncIterator

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


def _data(size: int) -> bytes:
    return bytes(i * 7 % 251 for i in range(size))


async def _pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _read(file_store: FileStore, file_id: str) -> bytes:
    return b"".join([chunk async for chunk in await file_store.open(file_id)])


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 5])
async def test_a_file_comes_back_as_stored_whatever_the_pieces(
    file_store: FileStore, size: int
) -> None:
    data = _data(size)

    info = await file_store.put(_pieces(data, 50_000), name="table.csv", content_type="text/csv")

    assert is_file_id(info.file_id)
    assert (info.name, info.size, info.content_type) == ("table.csv", size, "text/csv")
    assert await file_store.info(info.file_id) == info
    assert await _read(file_store, info.file_id) == data


async def test_files_are_readable_by_the_nats_object_store_client(
    file_store: FileStore, nats_client: NATS
) -> None:
    data = _data(2 * CHUNK_SIZE + 10)
    info = await file_store.put(data, name="photo.jpg", content_type="image/jpeg")

    obs = await nats_client.jetstream().object_store(file_store.bucket)
    result = await obs.get(info.file_id)

    assert result.data == data
    assert result.info.headers == {"Content-Type": ["image/jpeg"]}


async def test_the_bucket_keeps_files_on_disk_and_is_made_once(
    file_store: FileStore, nats_client: NATS
) -> None:
    js = nats_client.jetstream()
    settings = CommonSettings(namespace=file_store.bucket.split("-")[0])

    again = await ensure_file_bucket(js, settings)

    assert again.bucket == file_store.bucket
    assert (await js.stream_info(file_store.stream)).config.storage == StorageType.FILE


@pytest.mark.parametrize("file_id", ["not-an-id", "../../etc/passwd", ""])
async def test_a_malformed_id_is_not_found(file_store: FileStore, file_id: str) -> None:
    with pytest.raises(FileNotFound):
        await file_store.info(file_id)


async def test_an_unknown_id_is_not_found(file_store: FileStore) -> None:
    with pytest.raises(FileNotFound, match="no file with id"):
        await file_store.open("0b7e0a54-3c55-4c1f-9d43-2bd1f8f0c6a4")


async def test_a_failed_upload_leaves_no_chunks_behind(
    file_store: FileStore, nats_client: NATS
) -> None:
    js = nats_client.jetstream()
    before = (await js.stream_info(file_store.stream)).state.messages

    async def broken() -> AsyncIterator[bytes]:
        yield _data(3 * CHUNK_SIZE)
        raise ClientGone

    with pytest.raises(ClientGone):
        await file_store.put(broken(), name="x.csv", content_type="text/csv")
    assert (await js.stream_info(file_store.stream)).state.messages == before


async def test_missing_chunks_are_reported_not_truncated(
    file_store: FileStore, nats_client: NATS
) -> None:
    info = await file_store.put(_data(3 * CHUNK_SIZE), name="x.bin", content_type="text/csv")
    obs = await nats_client.jetstream().object_store(file_store.bucket)
    nuid = (await obs.get_info(info.file_id)).nuid
    await nats_client.jetstream().purge_stream(
        file_store.stream, subject=file_store.chunk_subject(nuid)
    )

    with pytest.raises(FileCorrupt, match="lacks chunk 1 of 3"):
        await _read(file_store, info.file_id)


async def test_memory_stays_flat_in_the_file_size(file_store: FileStore) -> None:
    size, piece = 48 * 1024 * 1024, _data(64 * 1024)

    async def upload() -> AsyncIterator[bytes]:
        for _ in range(size // len(piece)):
            yield piece

    tracemalloc.start()
    try:
        info = await file_store.put(upload(), name="big.csv", content_type="text/csv")
        total = 0
        async for chunk in await file_store.open(info.file_id):
            total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert total == size
    assert peak < 4 * 1024 * 1024
