"""``--follow``: a live progress bar of one task, from the SSE stream, until it ends."""

from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

from taskbus.cli.session import err
from taskbus.client import Task, TaskHandle


async def follow(handle: TaskHandle) -> Task:
    """Show the task's progress on stderr until it ends; its final state."""
    final = handle.task
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[message]}", markup=False),
    )
    with Progress(*columns, console=err) as bar:
        row = bar.add_task(f"{handle.id} PENDING", total=100, message="")
        async for task in handle.events():
            final = task
            message = task.progress_message or ""
            description = f"{task.id} {task.status}"
            bar.update(row, completed=task.progress, description=description, message=message)
    assert final is not None  # events() ends only after a state, the final one
    return final
