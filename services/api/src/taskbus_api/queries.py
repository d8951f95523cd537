"""Read-model queries: everything the API answers comes from here."""

import json
import re
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
from taskbus.readmodel.database import Connection
from taskbus.readmodel.rows import TASK_COLUMNS, state_from_row
from taskbus.tasks import TaskStatus, TaskType

from taskbus_api.schemas import Task, TaskEventOut

_ID_PREFIX = re.compile(r"^[0-9a-f-]{4,36}$")


def task_from_row(row: asyncpg.Record) -> Task:
    return Task.of(state_from_row(row))


async def get_task(conn: Connection, task_id: UUID) -> Task | None:
    row = await conn.fetchrow(f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1", task_id)
    return None if row is None else task_from_row(row)


@dataclass(frozen=True)
class TaskFilter:
    status: TaskStatus | None = None
    task_type: TaskType | None = None
    q: str | None = None
    task_id: UUID | None = None

    def where(self, params: list[Any]) -> str:
        """SQL conditions for this filter, appending their values to ``params``."""
        clauses: list[str] = []
        if self.status is not None:
            params.append(self.status.value)
            clauses.append(f"status = ${len(params)}")
        if self.task_type is not None:
            params.append(self.task_type.value)
            clauses.append(f"task_type = ${len(params)}")
        if self.task_id is not None:
            params.append(self.task_id)
            clauses.append(f"id = ${len(params)}")
        if self.q:
            clauses.append(self._search(params, self.q))
        return " AND ".join(clauses) or "TRUE"

    @staticmethod
    def _search(params: list[Any], q: str) -> str:
        """Match the name (substring, trigram-indexed) or, for hex input, an id prefix."""
        escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params.append(f"%{escaped}%")
        name_match = f"name ILIKE ${len(params)}"
        needle = q.strip().lower()
        if not _ID_PREFIX.match(needle):
            return name_match
        params.append(f"{needle}%")
        return f"({name_match} OR id::text LIKE ${len(params)})"


async def list_tasks(
    conn: Connection, flt: TaskFilter, *, limit: int, before_seq: int | None
) -> tuple[list[Task], int | None]:
    """One page, newest first; returns the tasks and the cursor of the next page."""
    params: list[Any] = []
    where = flt.where(params)
    if before_seq is not None:
        params.append(before_seq)
        where += f" AND created_seq < ${len(params)}"
    params.append(limit + 1)
    rows = await conn.fetch(
        f"SELECT {TASK_COLUMNS} FROM tasks WHERE {where}"
        f" ORDER BY created_seq DESC LIMIT ${len(params)}",
        *params,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return [task_from_row(r) for r in rows], (rows[-1]["created_seq"] if more else None)


async def changed_since(
    conn: Connection, after_seq: int, flt: TaskFilter, *, limit: int = 1000
) -> list[Task]:
    """Tasks whose last change is after ``after_seq``, in log order (the change feed)."""
    params: list[Any] = [after_seq]
    where = flt.where(params)
    params.append(limit)
    rows = await conn.fetch(
        f"SELECT {TASK_COLUMNS} FROM tasks WHERE last_seq > $1 AND {where}"
        f" ORDER BY last_seq LIMIT ${len(params)}",
        *params,
    )
    return [task_from_row(r) for r in rows]


async def task_events(conn: Connection, task_id: UUID) -> list[TaskEventOut]:
    rows = await conn.fetch(
        "SELECT seq, type, time, data FROM task_events WHERE task_id = $1 ORDER BY seq", task_id
    )
    return [
        TaskEventOut(seq=r["seq"], type=r["type"], time=r["time"], data=json.loads(r["data"]))
        for r in rows
    ]


async def projected_position(conn: Connection) -> int:
    seq = await conn.fetchval("SELECT seq FROM projection_position WHERE projection = 'tasks'")
    return int(seq or 0)
