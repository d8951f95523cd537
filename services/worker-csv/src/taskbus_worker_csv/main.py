"""worker-csv: serves ``csv_processing`` tasks until SIGTERM or SIGINT."""

import asyncio

from taskbus import lifecycle
from taskbus.logs import configure_logging
from taskbus.parameters import CsvParameters
from taskbus.tasks import TaskType
from taskbus.worker import WorkerSettings, WorkerSpec, run_worker

from taskbus_worker_csv.handler import handle


async def serve() -> None:
    settings = WorkerSettings()
    configure_logging(settings.log_level, settings.log_format, service="worker-csv")
    stop = asyncio.Event()
    lifecycle.install_stop_signals(stop)
    await run_worker(WorkerSpec(TaskType.CSV_PROCESSING, handle, CsvParameters), settings, stop)


def main() -> None:
    lifecycle.run(serve)
