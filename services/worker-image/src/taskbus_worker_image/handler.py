"""The ``image_processing`` task: resize uploaded or synthetic images into stored artifacts.

Each output is stored under an id derived from the task and the image's position, and
checkpointed as soon as it is stored. A redelivered attempt skips the images its checkpoint
lists; an image stored just before a worker died, but not yet checkpointed, is found in the
store under its derived id and reused. Either way no image is produced twice.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, ParamSpec, Protocol, TypeVar
from uuid import UUID

from nats.errors import Error as NatsError
from pydantic import BaseModel
from taskbus.errors import Fail, Retry
from taskbus.files import (
    FileCorrupt,
    FileInfo,
    FileNotFound,
    FileReader,
    FileStore,
    derived_file_id,
)
from taskbus.worker import TaskContext

from taskbus_worker_image.parameters import ImageParameters
from taskbus_worker_image.resize import (
    ImageRejected,
    OutputFormat,
    Rendition,
    ResizeSpec,
    image_size,
    resize_image,
)
from taskbus_worker_image.settings import ImageWorkerSettings
from taskbus_worker_image.synthetic import synthetic_image

P = ParamSpec("P")
R = TypeVar("R")

_EXTENSIONS: dict[OutputFormat, str] = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}


class ImageOutput(BaseModel):
    index: int
    file_id: str
    """The stored artifact: ``GET /api/files/{file_id}``."""
    name: str
    source_file_id: str | None = None
    width: int
    height: int
    bytes: int
    format: OutputFormat


class ImageResult(BaseModel):
    images: list[ImageOutput]


class TaskHooks(Protocol):
    """What the image loop needs of its attempt; ``TaskContext`` provides it."""

    task_id: UUID
    resume: dict[str, Any] | None

    async def progress(self, percent: float, message: str | None = None) -> None: ...

    async def checkpoint(self, data: dict[str, Any]) -> None: ...

    async def run_sync(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R: ...

    @property
    def files(self) -> FileStore: ...

    async def open_input(self, file_id: str) -> FileReader: ...

    async def store_artifact(
        self, data: bytes, *, name: str, content_type: str, file_id: str | None = None
    ) -> FileInfo: ...


@dataclass(frozen=True, slots=True)
class Source:
    """One image to produce: an uploaded file, or (without ``file_id``) a synthetic one."""

    index: int
    file_id: str | None = None


async def _input_bytes(source: Source, hooks: TaskHooks, max_bytes: int) -> tuple[bytes, str]:
    """The source image's encoded bytes and the stem its output is named after."""
    if source.file_id is None:
        return await hooks.run_sync(synthetic_image, source.index), f"image-{source.index}"
    reader = await hooks.open_input(source.file_id)
    if reader.info.size > max_bytes:
        raise ImageRejected(f"the file is {reader.info.size:,} bytes; the limit is {max_bytes:,}")
    data = b"".join([chunk async for chunk in reader])
    return data, PurePath(reader.info.name).stem or f"image-{source.index}"


async def _produce(
    source: Source, spec: ResizeSpec, hooks: TaskHooks, *, max_bytes: int
) -> ImageOutput:
    artifact_id = derived_file_id(hooks.task_id, f"image/{source.index}")
    try:
        info = await hooks.files.info(artifact_id)
    except FileNotFound:
        pass
    else:
        # Stored by an attempt that died before its checkpoint: keep it, do not redo it.
        stored = b"".join([chunk async for chunk in await hooks.files.open(artifact_id)])
        return _output(source, info, await hooks.run_sync(image_size, stored), spec)
    try:
        data, stem = await _input_bytes(source, hooks, max_bytes)
        rendition: Rendition = await hooks.run_sync(resize_image, data, spec)
    except ImageRejected as exc:
        raise Fail(f"image {source.index + 1}: {exc}") from exc
    info = await hooks.store_artifact(
        rendition.data,
        name=f"{stem}-{rendition.width}x{rendition.height}.{_EXTENSIONS[spec.format]}",
        content_type=rendition.content_type,
        file_id=artifact_id,
    )
    return _output(source, info, (rendition.width, rendition.height), spec)


def _output(source: Source, info: FileInfo, size: tuple[int, int], spec: ResizeSpec) -> ImageOutput:
    return ImageOutput(
        index=source.index,
        file_id=info.file_id,
        name=info.name,
        source_file_id=source.file_id,
        width=size[0],
        height=size[1],
        bytes=info.size,
        format=spec.format,
    )


async def process_images(
    sources: list[Source], spec: ResizeSpec, hooks: TaskHooks, *, max_bytes: int
) -> ImageResult:
    """Produce every image not yet produced according to ``hooks.resume``, in order.

    The Pillow work runs off the event loop, one image per trip; each image is checkpointed
    as soon as its artifact is stored.
    """
    done = ImageResult.model_validate(hooks.resume or {"images": []})
    total = len(sources)
    for source in sources[len(done.images) :]:
        done.images.append(await _produce(source, spec, hooks, max_bytes=max_bytes))
        await hooks.checkpoint(done.model_dump())
        await hooks.progress(100 * len(done.images) / total, f"{len(done.images)}/{total} images")
    return done


def sources_of(params: ImageParameters) -> list[Source]:
    if params.file_ids is not None:
        return [Source(index, file_id) for index, file_id in enumerate(params.file_ids)]
    # ImageParameters defaults num_images whenever file_ids is absent.
    assert params.num_images is not None
    return [Source(index) for index in range(params.num_images)]


async def handle(
    ctx: TaskContext, params: ImageParameters, *, settings: ImageWorkerSettings
) -> ImageResult:
    """Resize the task's images to its box, mode and format, storing each as an artifact."""
    spec = ResizeSpec(params.target_width, params.target_height, params.mode, params.format)
    try:
        result = await process_images(
            sources_of(params), spec, ctx, max_bytes=settings.image_max_input_bytes
        )
    except FileCorrupt as exc:
        raise Fail(str(exc)) from exc
    except NatsError as exc:
        # Images done so far are checkpointed; the retry goes on from there.
        raise Retry(f"the file store did not answer: {exc!r}") from exc
    ctx.log.info("images resized", images=len(result.images))
    return result
