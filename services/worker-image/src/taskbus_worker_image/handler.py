"""The ``image_processing`` task: generate, resize and encode images, one checkpoint each."""

from collections.abc import Callable
from typing import Any, ParamSpec, Protocol, TypeVar

from pydantic import BaseModel
from taskbus.errors import Fail
from taskbus.parameters import ImageParameters
from taskbus.worker import TaskContext

from taskbus_worker_image.resize import ImageRejected, OutputFormat, ResizeSpec, resize_image
from taskbus_worker_image.synthetic import synthetic_image

P = ParamSpec("P")
R = TypeVar("R")


class ImageOutput(BaseModel):
    index: int
    width: int
    height: int
    bytes: int
    format: OutputFormat


class ImageResult(BaseModel):
    images: list[ImageOutput]


class TaskHooks(Protocol):
    """What the image loop needs of its attempt; ``TaskContext`` provides it."""

    resume: dict[str, Any] | None

    async def progress(self, percent: float, message: str | None = None) -> None: ...

    async def checkpoint(self, data: dict[str, Any]) -> None: ...

    async def run_sync(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R: ...


def _synthetic_output(index: int, spec: ResizeSpec) -> ImageOutput:
    rendition = resize_image(synthetic_image(index), spec)
    return ImageOutput(
        index=index,
        width=rendition.width,
        height=rendition.height,
        bytes=len(rendition.data),
        format=rendition.format,
    )


async def process_images(count: int, spec: ResizeSpec, hooks: TaskHooks) -> ImageResult:
    """Produce synthetic images ``0..count-1``, skipping those a resumed attempt already made.

    Each image is checkpointed as soon as it exists, so a redelivered attempt never makes it
    again; the Pillow work runs off the event loop, one image per trip.
    """
    done = ImageResult.model_validate(hooks.resume or {"images": []})
    for index in range(len(done.images), count):
        done.images.append(await hooks.run_sync(_synthetic_output, index, spec))
        await hooks.checkpoint(done.model_dump())
        await hooks.progress(100 * (index + 1) / count, f"{index + 1}/{count} images")
    return done


async def handle(ctx: TaskContext, params: ImageParameters) -> ImageResult:
    """Resize the task's synthetic images to its box, mode and format."""
    if params.file_ids is not None:
        raise Fail("file inputs are not supported yet")
    # ImageParameters defaults num_images whenever file_ids is absent.
    assert params.num_images is not None
    spec = ResizeSpec(params.target_width, params.target_height, params.mode, params.format)
    try:
        result = await process_images(params.num_images, spec, ctx)
    except ImageRejected as exc:
        raise Fail(str(exc)) from exc
    ctx.log.info("images resized", images=len(result.images))
    return result
