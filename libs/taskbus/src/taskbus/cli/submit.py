"""``taskbus submit TYPE -p key=value ... [--name N] [--follow]``."""

import json
from typing import Annotated

import typer

from taskbus.cli.follow import follow
from taskbus.cli.params import parse_params
from taskbus.cli.session import EXIT_FAILED, EXIT_REFUSED, err, out, run
from taskbus.client import Client


def submit(
    ctx: typer.Context,
    task_type: Annotated[str, typer.Argument(help="The task type, as `taskbus types` lists.")],
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            help="A parameter as key=value, typed by the task type's schema (else read as "
            "JSON, else text). Repeat for each.",
        ),
    ] = None,
    name: Annotated[str | None, typer.Option(help="A name to find the task by.")] = None,
    follow_it: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-f",
            help="Show its progress until it ends; print the result; exit 0 on SUCCESS, 1 "
            "otherwise.",
        ),
    ] = False,
) -> None:
    """Submit a task and print its id (with --follow, its result once it ends)."""

    async def work(client: Client) -> int:
        catalog = await client.task_types() if param else None
        schema = next((t.parameters_schema for t in catalog or [] if t.name == task_type), None)
        try:
            parameters = parse_params(param or [], schema)
        except ValueError as exc:
            err.print(f"[red]error:[/] {exc}", highlight=False)
            return EXIT_REFUSED
        handle = await client.submit(task_type, parameters, name=name)
        if not follow_it:
            out.print(str(handle.id))
            return 0
        task = await follow(handle)
        if task.status == "SUCCESS":
            out.print(json.dumps(task.result), highlight=False, soft_wrap=True)
            return 0
        err.print(f"task {task.id} {task.status}: {task.error or ''}".rstrip(": "), markup=False)
        return EXIT_FAILED

    run(ctx, work)
