"""How tasks look on the terminal. Text from tasks (names, errors, messages) is shown as
text, never read as rich markup."""

import json

from rich.console import RenderableType
from rich.json import JSON
from rich.table import Table
from rich.text import Text

from taskbus.client import Task

STATUS_STYLES = {
    "PENDING": "yellow",
    "RUNNING": "cyan",
    "SUCCESS": "green",
    "FAILED": "red",
    "CANCELLED": "magenta",
}


def status(task: Task) -> Text:
    return Text(task.status, style=STATUS_STYLES.get(task.status, ""))


def task_table(tasks: list[Task]) -> Table:
    table = Table(box=None, header_style="bold")
    # Whole ids, whatever the width: they are what the other commands take.
    table.add_column("ID", no_wrap=True, min_width=36)
    table.add_column("TYPE")
    table.add_column("NAME")
    table.add_column("STATUS")
    table.add_column("PROGRESS", justify="right")
    table.add_column("ATTEMPT", justify="right")
    table.add_column("CREATED")
    for task in tasks:
        table.add_row(
            str(task.id),
            Text(task.task_type),
            Text(task.name or ""),
            status(task),
            f"{task.progress:.0f}%",
            f"{task.attempts}/{task.max_attempts}",
            task.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        )
    return table


def task_details(task: Task) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    rows: list[tuple[str, RenderableType]] = [
        ("id", str(task.id)),
        ("type", Text(task.task_type)),
        ("name", Text(task.name or "")),
        ("status", status(task)),
        ("progress", Text(f"{task.progress:.0f}% {task.progress_message or ''}".rstrip())),
        ("attempt", f"{task.attempts} of {task.max_attempts}"),
        ("created", task.created_at.isoformat()),
        ("started", task.started_at.isoformat() if task.started_at else ""),
        ("completed", task.completed_at.isoformat() if task.completed_at else ""),
        ("parameters", JSON(json.dumps(task.parameters))),
    ]
    if task.error:
        rows.append(("error", Text(task.error, style="red")))
    if task.result is not None:
        rows.append(("result", JSON(json.dumps(task.result))))
    for label, value in rows:
        grid.add_row(label, value)
    return grid
