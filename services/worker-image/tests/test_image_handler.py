"""The image loop: synthetic inputs, progress, checkpoints and resuming."""

import asyncio
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from taskbus_worker_image.handler import process_images
from taskbus_worker_image.resize import ResizeSpec
from taskbus_worker_image.synthetic import synthetic_image

P = ParamSpec("P")
R = TypeVar("R")

SPEC = ResizeSpec(160, 160, "fill", "WEBP")


class Hooks:
    def __init__(self, resume: dict[str, Any] | None = None) -> None:
        self.resume = resume
        self.checkpoints: list[dict[str, Any]] = []
        self.progress_reported: list[float] = []

    async def progress(self, percent: float, message: str | None = None) -> None:
        self.progress_reported.append(percent)

    async def checkpoint(self, data: dict[str, Any]) -> None:
        self.checkpoints.append(data)
        self.resume = data

    async def run_sync(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        return await asyncio.to_thread(fn, *args, **kwargs)


async def test_every_image_is_produced_checkpointed_and_reported() -> None:
    hooks = Hooks()

    result = await process_images(4, SPEC, hooks)

    assert [image.index for image in result.images] == [0, 1, 2, 3]
    assert all((i.width, i.height, i.format) == (160, 160, "WEBP") for i in result.images)
    assert all(image.bytes > 0 for image in result.images)
    assert len(hooks.checkpoints) == 4
    assert hooks.progress_reported == [25, 50, 75, 100]


async def test_a_resumed_attempt_makes_only_the_images_not_yet_made() -> None:
    first = Hooks()
    whole = await process_images(4, SPEC, first)
    resumed = Hooks(resume=first.checkpoints[1])

    result = await process_images(4, SPEC, resumed)

    assert result == whole
    assert len(resumed.checkpoints) == 2


def test_synthetic_images_are_deterministic_and_varied() -> None:
    assert synthetic_image(3) == synthetic_image(3)
    assert synthetic_image(3) != synthetic_image(4)
