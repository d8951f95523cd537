"""``taskbus types``: the task types the API knows, from its catalog."""

import typer
from rich.table import Table
from rich.text import Text

from taskbus.cli.session import EXIT_FAILED, err, out, run
from taskbus.client import Client


def types(ctx: typer.Context) -> None:
    """The task types: what each does, its defaults and who serves it."""

    async def work(client: Client) -> int:
        catalog = await client.task_types()
        if catalog is None:
            err.print(f"the API at {client.api_url} has no task catalog (GET /api/task-types)")
            return EXIT_FAILED
        table = Table(box=None, header_style="bold")
        for column in ("NAME", "DESCRIPTION", "MAX ATTEMPTS", "TIMEOUT", "FILES", "WORKERS"):
            table.add_column(column)
        for info in catalog:
            table.add_row(
                Text(info.name),
                # The first paragraph: the rest is for the form's hints.
                Text(info.description.split("\n\n", 1)[0]),
                str(info.max_attempts),
                "" if info.timeout_s is None else f"{info.timeout_s:g} s",
                Text(", ".join(field.name for field in info.file_fields)),
                str(info.workers),
            )
        out.print(table)
        return 0

    run(ctx, work)
