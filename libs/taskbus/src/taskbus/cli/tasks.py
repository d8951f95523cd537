"""``taskbus tasks list|show|cancel|retry``."""

from typing import Annotated

import typer

from taskbus.cli.render import task_details, task_table
from taskbus.cli.session import out, run
from taskbus.client import Client

tasks = typer.Typer(help="List, show, cancel and retry tasks.", no_args_is_help=True)

TaskId = Annotated[str, typer.Argument(help="The task's id.")]


@tasks.command("list")
def list_tasks(
    ctx: typer.Context,
    status: Annotated[
        str | None, typer.Option(help="PENDING, RUNNING, SUCCESS, FAILED or CANCELLED.")
    ] = None,
    task_type: Annotated[str | None, typer.Option("--type", help="Only this type.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="At most this many.")] = 50,
) -> None:
    """The newest tasks first."""

    async def work(client: Client) -> int:
        page = await client.list_tasks(status=status, task_type=task_type, limit=limit)
        out.print(task_table(page.items))
        return 0

    run(ctx, work)


@tasks.command("show")
def show(ctx: typer.Context, task_id: TaskId) -> None:
    """One task: its state, parameters and result or error."""

    async def work(client: Client) -> int:
        out.print(task_details(await client.get(task_id)))
        return 0

    run(ctx, work)


@tasks.command("cancel")
def cancel(
    ctx: typer.Context,
    task_id: TaskId,
    reason: Annotated[str | None, typer.Option(help="Why, kept with the task.")] = None,
) -> None:
    """Cancel a PENDING or RUNNING task."""

    async def work(client: Client) -> int:
        task = await client.cancel(task_id, reason=reason)
        out.print(f"{task.id} {task.status}", highlight=False)
        return 0

    run(ctx, work)


@tasks.command("retry")
def retry(
    ctx: typer.Context,
    task_id: TaskId,
    reason: Annotated[str | None, typer.Option(help="Why, kept with the task.")] = None,
) -> None:
    """Retry a FAILED or CANCELLED task as its next attempt."""

    async def work(client: Client) -> int:
        task = await client.retry(task_id, reason=reason)
        out.print(f"{task.id} {task.status} attempt {task.attempts}", highlight=False)
        return 0

    run(ctx, work)
