"""``taskbus worker MODULE:APP``: serve the task types an app declares until SIGTERM.

Settings come from the environment as for every worker (``WORKER_*``, ``NATS_URL``, the
namespace); ``make up`` writes them to ``$DATA_DIR/worker.env`` for workers started by hand.
"""

import asyncio
from collections.abc import Sequence
from typing import Annotated

import typer

from taskbus import lifecycle
from taskbus.app import AppNotFound, TaskApp, load_app
from taskbus.logs import configure_logging
from taskbus.worker import WorkerSettings, run_app


def serve(app: TaskApp, *, only: Sequence[str] = ()) -> None:
    """Serve ``app`` in this process: logging, signals, the runtime, a clean drain."""
    settings = WorkerSettings()
    configure_logging(settings.log_level, settings.log_format, service=f"worker-{app.name}")

    async def main() -> None:
        stop = asyncio.Event()
        lifecycle.install_stop_signals(stop)
        await run_app(app, settings, stop, only=only)

    lifecycle.run(main)


def worker(
    target: Annotated[str, typer.Argument(help="The app to serve, as MODULE:APP.")],
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Serve only this task type (repeatable).")
    ] = None,
) -> None:
    """Serve the task types of a TaskApp until SIGTERM or SIGINT."""
    try:
        app = load_app(target)
    except AppNotFound as exc:
        typer.echo(f"taskbus worker: {exc}", err=True)
        raise typer.Exit(2) from None
    only = only or []
    unknown = sorted(set(only) - set(app.tasks))
    if unknown:
        typer.echo(
            f"taskbus worker: {target} declares no {', '.join(unknown)}; "
            f"it declares {', '.join(sorted(app.tasks))}",
            err=True,
        )
        raise typer.Exit(2)
    serve(app, only=only)
