"""worker-email: serves ``email_sending`` tasks until SIGTERM or SIGINT."""

import asyncio
from functools import partial

from taskbus import lifecycle
from taskbus.logs import configure_logging
from taskbus.parameters import EmailParameters
from taskbus.tasks import TaskType
from taskbus.worker import WorkerSpec, run_worker

from taskbus_worker_email.handler import handle
from taskbus_worker_email.settings import EmailWorkerSettings


async def serve() -> None:
    settings = EmailWorkerSettings()
    configure_logging(settings.log_level, settings.log_format, service="worker-email")
    stop = asyncio.Event()
    lifecycle.install_stop_signals(stop)
    spec = WorkerSpec(TaskType.EMAIL_SENDING, partial(handle, settings=settings), EmailParameters)
    await run_worker(spec, settings, stop)


def main() -> None:
    lifecycle.run(serve)
