"""The ``taskbus`` command: global options, then one module per command group."""

from typing import Annotated

import typer

from taskbus.cli.catalog import types
from taskbus.cli.session import Target
from taskbus.cli.submit import submit
from taskbus.cli.tasks import tasks
from taskbus.cli.worker import worker
from taskbus.client import DEFAULT_API_URL

app = typer.Typer(
    name="taskbus",
    help="Serve task types, and submit, follow and manage tasks through the API.",
    no_args_is_help=True,
    add_completion=False,
    # Errors are reported as one line each (taskbus.cli.session), not as tracebacks.
    pretty_exceptions_enable=False,
)


@app.callback()
def options(
    ctx: typer.Context,
    api_url: Annotated[
        str, typer.Option(envvar="TASKBUS_API_URL", help="Where the taskbus API answers.")
    ] = DEFAULT_API_URL,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="TASKBUS_API_KEY", help="The API key, when the API needs one."),
    ] = None,
) -> None:
    ctx.obj = Target(api_url, api_key)


app.command()(submit)
app.command()(types)
app.add_typer(tasks, name="tasks")
app.command()(worker)
