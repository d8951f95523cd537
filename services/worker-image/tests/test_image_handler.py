"""The image loop against a real file store: inputs, artifacts, checkpoints and resuming."""

import asyncio
import io
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar
from uuid import UUID, uuid4

import pytest
from PIL import Image
from taskbus.errors import Fail
from taskbus.files import FileInfo, FileNotFound, FileReader, FileStore
from taskbus_worker_image.handler import ImageResult, Source, process_images
from taskbus_worker_image.resize import ResizeSpec
from taskbus_worker_image.synthetic import synthetic_image

P = ParamSpec("P")
R = TypeVar("R")

SPEC = ResizeSpec(160, 160, "fill", "WEBP")
MAX_BYTES = 10 * 1024 * 1024


class WorkerDied(Exception):
    pass


class Hooks:
    """An attempt as the loop sees it: a real file store, checkpoints kept in memory."""

    def __init__(
        self,
        files: FileStore,
        task_id: UUID,
        resume: dict[str, Any] | None = None,
        *,
        die_at_checkpoint: int = 0,
    ) -> None:
        self.files = files
        self.task_id = task_id
        self.resume = resume
        self.checkpoints: list[dict[str, Any]] = []
        self.progress_reported: list[float] = []
        self.stored: list[str] = []
        self._die_at = die_at_checkpoint

    async def progress(self, percent: float, message: str | None = None) -> None:
        self.progress_reported.append(percent)

    async def checkpoint(self, data: dict[str, Any]) -> None:
        if len(self.checkpoints) + 1 == self._die_at:
            raise WorkerDied
        self.checkpoints.append(data)
        self.resume = data

    async def run_sync(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def open_input(self, file_id: str) -> FileReader:
        try:
            return await self.files.open(file_id)
        except FileNotFound as exc:
            raise Fail(f"input {exc}") from exc

    async def store_artifact(
        self, data: bytes, *, name: str, content_type: str, file_id: str | None = None
    ) -> FileInfo:
        self.stored.append(name)
        return await self.files.put(data, name=name, content_type=content_type, file_id=file_id)


def _synthetic(count: int) -> list[Source]:
    return [Source(index) for index in range(count)]


async def _decoded(file_store: FileStore, file_id: str) -> Image.Image:
    data = b"".join([chunk async for chunk in await file_store.open(file_id)])
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


async def test_every_image_is_stored_checkpointed_and_reported(file_store: FileStore) -> None:
    hooks = Hooks(file_store, uuid4())

    result = await process_images(_synthetic(4), SPEC, hooks, max_bytes=MAX_BYTES)

    assert [image.index for image in result.images] == [0, 1, 2, 3]
    for image in result.images:
        assert (image.width, image.height, image.format) == (160, 160, "WEBP")
        stored = await _decoded(file_store, image.file_id)
        assert (stored.format, stored.size) == ("WEBP", (160, 160))
        assert (await file_store.info(image.file_id)).size == image.bytes
    assert len(hooks.checkpoints) == 4
    assert hooks.progress_reported == [25, 50, 75, 100]


async def test_uploaded_images_are_resized_and_named_after_their_source(
    file_store: FileStore,
) -> None:
    photo = Image.new("RGB", (1200, 900), (200, 30, 30))
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG")
    upload = await file_store.put(buffer.getvalue(), name="holiday.jpg", content_type="image/jpeg")
    spec = ResizeSpec(320, 320, "fit", "PNG")

    result = await process_images(
        [Source(0, upload.file_id)], spec, Hooks(file_store, uuid4()), max_bytes=MAX_BYTES
    )

    (image,) = result.images
    assert (image.name, image.source_file_id) == ("holiday-320x240.png", upload.file_id)
    stored = await _decoded(file_store, image.file_id)
    assert (stored.format, stored.size) == ("PNG", (320, 240))
    assert (await file_store.info(image.file_id)).content_type == "image/png"


async def test_a_resumed_attempt_makes_only_the_images_not_yet_made(file_store: FileStore) -> None:
    task_id = uuid4()
    crashed = Hooks(file_store, task_id, die_at_checkpoint=3)
    with pytest.raises(WorkerDied):
        await process_images(_synthetic(4), SPEC, crashed, max_bytes=MAX_BYTES)
    resumed = Hooks(file_store, task_id, resume=crashed.checkpoints[-1])

    result = await process_images(_synthetic(4), SPEC, resumed, max_bytes=MAX_BYTES)

    # Image 2 was stored before the worker died, not checkpointed: found, not made again.
    assert crashed.stored == [f"image-{i}-160x160.webp" for i in (0, 1, 2)]
    assert resumed.stored == ["image-3-160x160.webp"]
    whole = await process_images(
        _synthetic(4), SPEC, Hooks(file_store, uuid4()), max_bytes=MAX_BYTES
    )
    assert [(i.width, i.height, i.bytes) for i in result.images] == [
        (i.width, i.height, i.bytes) for i in whole.images
    ]
    assert ImageResult.model_validate(resumed.checkpoints[-1]) == result


async def test_a_missing_input_fails_the_task(file_store: FileStore) -> None:
    sources = [Source(0, "0b7e0a54-3c55-4c1f-9d43-2bd1f8f0c6a4")]

    with pytest.raises(Fail, match="input no file with id"):
        await process_images(sources, SPEC, Hooks(file_store, uuid4()), max_bytes=MAX_BYTES)


async def test_a_refused_input_fails_the_task_naming_the_image(file_store: FileStore) -> None:
    good = await file_store.put(synthetic_image(0), name="a.jpg", content_type="image/jpeg")
    text = await file_store.put(b"name,amount\n", name="b.png", content_type="image/png")
    sources = [Source(0, good.file_id), Source(1, text.file_id)]

    with pytest.raises(Fail, match="image 2: not an image in an allowed format"):
        await process_images(sources, SPEC, Hooks(file_store, uuid4()), max_bytes=MAX_BYTES)


async def test_an_input_over_the_byte_limit_is_not_read(file_store: FileStore) -> None:
    big = await file_store.put(synthetic_image(6), name="big.jpg", content_type="image/jpeg")

    with pytest.raises(Fail, match=r"image 1: the file is .* bytes; the limit is 1,024"):
        await process_images(
            [Source(0, big.file_id)], SPEC, Hooks(file_store, uuid4()), max_bytes=1024
        )


def test_synthetic_images_are_deterministic_and_varied() -> None:
    assert synthetic_image(3) == synthetic_image(3)
    assert synthetic_image(3) != synthetic_image(4)
