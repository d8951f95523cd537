"""Read-model queries: everything the API answers comes from here."""

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any
from uuid import UUID

import asyncpg
from pydantic import TypeAdapter
from taskbus.readmodel.database import Connection
from taskbus.readmodel.rows import TASK_COLUMNS, state_from_row
from taskbus.tasks import TaskStatus, TaskTypeName

from taskbus_api.schemas import AuditEntry, Task, TaskEventOut

_ID_PREFIX = re.compile(r"^[0-9a-f-]{4,36}$")
_TASK_JSON = TypeAdapter(Task)


def task_from_row(row: asyncpg.Record) -> Task:
    return Task.of(state_from_row(row))


async def get_task(conn: Connection, task_id: UUID) -> Task | None:
    row = await conn.fetchrow(f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1", task_id)
    return None if row is None else task_from_row(row)


@dataclass(frozen=True)
class TaskFilter:
    """The filters of the list and of the stream: one SQL predicate, evaluated by Postgres.

    Its conditions name the columns ``id``, ``task_type``, ``name`` and ``status`` of the
    ``tasks`` table; :func:`filter_changes` evaluates them over a relation of the same names
    and types.
    """

    status: TaskStatus | None = None
    task_type: TaskTypeName | None = None
    q: str | None = None
    task_id: UUID | None = None

    def where(self, params: list[Any]) -> str:
        """SQL conditions for this filter, appending their values to ``params``."""
        return " AND ".join(self._clauses(params)) or "TRUE"

    @property
    def matches_all(self) -> bool:
        return not self._clauses([])

    def fixed_part(self) -> "TaskFilter":
        """This filter on the fields a task keeps from its submit on: all but the status.

        A task outside it never matched this filter; one inside it may have, before its
        status changed.
        """
        return replace(self, status=None)

    def _clauses(self, params: list[Any]) -> list[str]:
        clauses: list[str] = []
        if self.status is not None:
            params.append(self.status.value)
            clauses.append(f"status = ${len(params)}")
        if self.task_type is not None:
            params.append(self.task_type)
            clauses.append(f"task_type = ${len(params)}")
        if self.task_id is not None:
            params.append(self.task_id)
            clauses.append(f"id = ${len(params)}")
        if self.q:
            clauses.append(self._search(params, self.q))
        return clauses

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


class TaskVersion:
    """A changed task as one read of the ``tasks`` table saw it.

    The fields a filter reads come straight from the row; the task is decoded and encoded
    only when some stream sends it, and then once for all of them: a change feed hands one
    version to every subscriber, and most changes go to few of them (a stream filtered on
    SUCCESS only learns that the others left it).
    """

    def __init__(self, row: asyncpg.Record) -> None:
        self._row = row
        self.seq: int = row["last_seq"]
        self.id: UUID = row["id"]
        self.task_type: str = row["task_type"]
        self.name: str | None = row["name"]
        self.status: str = row["status"]

    @cached_property
    def task(self) -> Task:
        return task_from_row(self._row)

    @cached_property
    def task_json(self) -> bytes:
        return _TASK_JSON.dump_json(self.task)

    @cached_property
    def left_json(self) -> bytes:
        """What a stream says when the task no longer matches its filter."""
        return json.dumps({"id": str(self.id), "seq": self.seq}).encode()


@dataclass(frozen=True, slots=True)
class Change:
    """A task's change as a stream with a filter tells it."""

    version: TaskVersion
    matches: bool
    """False: the task does not match the filter (any more), so a client drops it."""


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
) -> list[Change]:
    """Changes after ``after_seq`` in log order (the change feed), as ``flt`` sees them:
    the tasks that match it, and those that may have matched it before (``matches`` False).
    """
    params: list[Any] = [after_seq]
    matches = flt.where(params)
    fixed = flt.fixed_part().where(params)
    params.append(limit)
    rows = await conn.fetch(
        f"SELECT {TASK_COLUMNS}, ({matches}) IS TRUE AS matches"
        f" FROM tasks WHERE last_seq > $1 AND {fixed}"
        f" ORDER BY last_seq LIMIT ${len(params)}",
        *params,
    )
    return [Change(TaskVersion(r), r["matches"]) for r in rows]


async def filter_changes(
    conn: Connection, versions: Sequence[TaskVersion], flt: TaskFilter
) -> list[Change]:
    """``versions`` (changes in log order) as :func:`changed_since` would have seen them.

    The filter is evaluated over these versions' own values, not over the rows, which may
    have changed again since. Equalities are compared here; a search (``q``: ILIKE, an id
    prefix) is left to Postgres, over a relation with the columns and types of ``tasks``,
    so that it answers as the list does.
    """
    if not flt.q:
        return _filter_equalities(versions, flt)
    params: list[Any] = [
        [v.id for v in versions],
        [v.task_type for v in versions],
        [v.name for v in versions],
        [v.status for v in versions],
    ]
    matches = flt.where(params)
    fixed = flt.fixed_part().where(params)
    rows = await conn.fetch(
        f"SELECT ord, ({matches}) IS TRUE AS matches"
        " FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY"
        f" AS tasks (id, task_type, name, status, ord) WHERE {fixed} ORDER BY ord",
        *params,
    )
    return [Change(versions[r["ord"] - 1], r["matches"]) for r in rows]


def _filter_equalities(versions: Sequence[TaskVersion], flt: TaskFilter) -> list[Change]:
    """:func:`filter_changes` for a filter without a search: what its SQL would answer."""
    status = None if flt.status is None else flt.status.value
    return [
        Change(version, status is None or version.status == status)
        for version in versions
        if (flt.task_type is None or version.task_type == flt.task_type)
        and (flt.task_id is None or version.id == flt.task_id)
    ]


async def task_events(
    conn: Connection, task_id: UUID, *, after: int, limit: int
) -> tuple[list[TaskEventOut], int]:
    """Up to ``limit`` + 1 of the task's events after ``after``, in log order (the extra one
    says another page follows), and the sequence of the last event of it the model holds."""
    last = await conn.fetchval("SELECT max(seq) FROM task_events WHERE task_id = $1", task_id)
    rows = await conn.fetch(
        "SELECT seq, type, time, data FROM task_events WHERE task_id = $1 AND seq > $2"
        " ORDER BY seq LIMIT $3",
        task_id,
        after,
        limit + 1,
    )
    events = [
        TaskEventOut(seq=r["seq"], type=r["type"], time=r["time"], data=json.loads(r["data"]))
        for r in rows
    ]
    return events, int(last or 0)


async def projected_position(conn: Connection) -> int:
    seq = await conn.fetchval("SELECT seq FROM projection_position WHERE projection = 'tasks'")
    return int(seq or 0)


_COMMANDS = {"TaskSubmitted": "submit", "TaskCancelled": "cancel", "TaskRetried": "retry"}


async def audit(
    conn: Connection, *, actor: str | None, limit: int, before_seq: int | None
) -> tuple[list[AuditEntry], int | None]:
    """Command events that name their actor, newest first (migration 0003's indexes); and the
    cursor of the next page, None when this is the last."""
    rows = await conn.fetch(
        "SELECT seq, task_id, type, time, data ->> 'task_type' AS task_type,"
        " data ->> 'actor' AS actor, data ->> 'via' AS via, data ->> 'reason' AS reason"
        " FROM task_events WHERE data ->> 'actor' IS NOT NULL"
        " AND ($1::text IS NULL OR data ->> 'actor' = $1) AND ($2::bigint IS NULL OR seq < $2)"
        " ORDER BY seq DESC LIMIT $3",
        actor,
        before_seq,
        limit + 1,
    )
    entries = [
        AuditEntry(
            seq=r["seq"],
            time=r["time"],
            task_id=r["task_id"],
            task_type=r["task_type"],
            command=_COMMANDS.get(r["type"], r["type"]),
            actor=r["actor"],
            via=r["via"],
            reason=r["reason"],
        )
        for r in rows[:limit]
    ]
    return entries, entries[-1].seq if len(rows) > limit else None
