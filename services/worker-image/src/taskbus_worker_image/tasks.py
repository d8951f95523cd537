"""The ``image`` app: the ``image_processing`` task type."""

from functools import cache

from taskbus import TaskApp, TaskContext

from taskbus_worker_image.handler import ImageResult, handle
from taskbus_worker_image.parameters import ImageParameters
from taskbus_worker_image.resize import configure_pillow
from taskbus_worker_image.settings import ImageWorkerSettings

app = TaskApp("image")


@cache
def _settings() -> ImageWorkerSettings:
    settings = ImageWorkerSettings()
    # Pillow's bomb guard is process-wide: set once, before the first image is opened.
    configure_pillow(settings.image_max_pixels)
    return settings


@app.task("image_processing", max_attempts=3)
async def image_processing(ctx: TaskContext, params: ImageParameters) -> ImageResult:
    """Make a thumbnail of each image, stored as an artifact."""
    return await handle(ctx, params, settings=_settings())
