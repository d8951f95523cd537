"""worker-image: serves ``image_processing`` tasks until SIGTERM or SIGINT."""

import asyncio
from functools import partial

from taskbus import lifecycle
from taskbus.logs import configure_logging
from taskbus.parameters import ImageParameters
from taskbus.tasks import TaskType
from taskbus.worker import WorkerSpec, run_worker

from taskbus_worker_image.handler import handle
from taskbus_worker_image.resize import configure_pillow
from taskbus_worker_image.settings import ImageWorkerSettings


async def serve() -> None:
    settings = ImageWorkerSettings()
    configure_logging(settings.log_level, settings.log_format, service="worker-image")
    configure_pillow(settings.image_max_pixels)
    stop = asyncio.Event()
    lifecycle.install_stop_signals(stop)
    handler = partial(handle, settings=settings)
    spec = WorkerSpec(TaskType.IMAGE_PROCESSING, handler, ImageParameters)
    await run_worker(spec, settings, stop)


def main() -> None:
    lifecycle.run(serve)
