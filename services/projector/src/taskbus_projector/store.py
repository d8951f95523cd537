"""The projector's writes: one batch of folded events, set-based, in one statement.

A batch is a single statement of data-modifying CTEs, each taking whole columns as arrays
(``unnest``): the lease's fence, the new tasks, the changed ones, the history, what was set
aside, the position and the NOTIFY. One round trip whatever the batch's size, and atomic
without an explicit transaction: every write is conditional on the fence's row, so a deposed
leader's batch writes nothing at all (docs/design.md, "The projector"). It took a
transaction of seven round trips before (BEGIN, the fence, four writes, COMMIT).
"""

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import Any
from uuid import UUID

from pydantic_core import PydanticSerializationError, to_json
from taskbus.events import TaskEvent
from taskbus.readmodel.database import Connection
from taskbus.readmodel.rows import TASK_COLUMNS, state_from_row
from taskbus.readmodel.state import TaskState

from taskbus_projector.quarantine import Quarantined

_NEW = (
    ("id", "uuid"), ("task_type", "text"), ("name", "text"), ("status", "text"),
    ("progress", "real"), ("progress_message", "text"), ("parameters", "text"),
    ("result", "text"), ("error", "text"), ("attempts", "int"), ("max_attempts", "int"),
    ("timeout_s", "float8"), ("created_at", "timestamptz"), ("started_at", "timestamptz"),
    ("completed_at", "timestamptz"), ("updated_at", "timestamptz"), ("created_seq", "bigint"),
    ("last_seq", "bigint"),
)  # fmt: skip
"""A new task's row: every column (``TASK_COLUMNS``' order) and the array type it is sent as."""

_CHANGED = (
    ("id", "uuid"), ("status", "text"), ("progress", "real"), ("progress_message", "text"),
    ("result", "text"), ("error", "text"), ("attempts", "int"), ("max_attempts", "int"),
    ("started_at", "timestamptz"), ("completed_at", "timestamptz"),
    ("updated_at", "timestamptz"), ("last_seq", "bigint"),
)  # fmt: skip
"""What a fold may change in a task's row (its id first): the rest is fixed at its submit."""

_JSONB = frozenset({"parameters", "result"})

_HISTORY = (
    ("seq", "bigint"), ("task_id", "uuid"), ("type", "text"), ("time", "timestamptz"),
    ("data", "text"),
)  # fmt: skip
_SET_ASIDE = (
    ("seq", "bigint"), ("subject", "text"), ("event_type", "text"), ("task_id", "uuid"),
    ("error", "text"), ("raw", "bytea"), ("raw_size", "int"),
)  # fmt: skip

QUARANTINE_MARKER = "EventQuarantined"
"""The type of the history row that stands, in its task's timeline, for an event set aside."""


class _Params:
    """Numbers the statement's parameters in the order their values are passed."""

    def __init__(self, first: int) -> None:
        self.next = first

    def arrays(self, columns: Sequence[tuple[str, str]]) -> str:
        """``unnest(...) AS u(...)`` over one array parameter per column."""
        arrays = ", ".join(f"{self.one()}::{kind}[]" for _, kind in columns)
        return f"unnest({arrays}) AS u({', '.join(name for name, _ in columns)})"

    def one(self) -> str:
        self.next += 1
        return f"${self.next - 1}"


class Outcome(Enum):
    """What became of a batch's statement."""

    WRITTEN = "written"
    FENCED_OUT = "fenced out"
    """The fence found the lease taken over: nothing was written."""
    NOT_NEW = "not new"
    """A task taken for new (its first event here a TaskSubmitted, and no state of it known)
    has a row after all: nothing was written; fold it again from its row."""


@lru_cache(maxsize=64)
def batch_statement(
    fence: str | None, *, new: bool, changed: bool, history: bool, set_aside: bool
) -> str:
    """The statement that writes a batch; ``fence`` is the lease's UPDATE (taking $1 to $3,
    returning a row while the lease holds), None for a write no lease guards.

    Its parameters, after the fence's: the columns of the new tasks (:data:`_NEW`), of the
    changed ones (:data:`_CHANGED`), of the history and of what was set aside, each group
    only where its flag asks for it (a small batch sends a few dozen values, not 48 arrays);
    then the projection, the new position and the NOTIFY channel. Every write is conditional
    on ``go``: the fence held and no new task has a row already. It answers one row: whether
    the fence held, and whether it wrote.
    """
    p = _Params(4 if fence is not None else 1)
    parts = [f"fence AS ({fence or 'SELECT'})"]
    go = "SELECT FROM fence"
    if new:
        new_values = ", ".join(f"{c}::jsonb" if c in _JSONB else c for c, _ in _NEW)
        ids = f"${p.next}::uuid[]"
        go += f" WHERE NOT EXISTS (SELECT FROM tasks WHERE id = ANY({ids}))"
        parts.append(
            f"created AS (INSERT INTO tasks ({TASK_COLUMNS}) SELECT {new_values}"
            f" FROM {p.arrays(_NEW)} WHERE EXISTS (SELECT FROM go)"
            # Never taken (go checked it); kept so that a replay could never go backwards.
            f" ON CONFLICT (id) DO UPDATE SET"
            f" {', '.join(f'{c} = EXCLUDED.{c}' for c, _ in _CHANGED[1:])}"
            f" WHERE tasks.last_seq < EXCLUDED.last_seq)"
        )
    parts.insert(1, f"go AS ({go})")
    held = "EXISTS (SELECT FROM go)"
    if changed:
        assignments = ", ".join(
            f"{c} = u.{c}::jsonb" if c in _JSONB else f"{c} = u.{c}" for c, _ in _CHANGED[1:]
        )
        parts.append(
            f"changed AS (UPDATE tasks SET {assignments} FROM {p.arrays(_CHANGED)}"
            f" WHERE tasks.id = u.id AND tasks.last_seq < u.last_seq AND {held})"
        )
    if history:
        # A history row is the event's JSON as the log holds it, less what has columns.
        parts.append(
            "history AS (INSERT INTO task_events (seq, task_id, type, time, data)"
            " SELECT seq, task_id, type, time, data::jsonb - '{type,task_id,time}'::text[]"
            f" FROM {p.arrays(_HISTORY)} WHERE {held} ON CONFLICT (seq) DO NOTHING)"
        )
    if set_aside:
        parts.append(
            f"set_aside AS (INSERT INTO quarantined_events"
            f" ({', '.join(c for c, _ in _SET_ASIDE)}) SELECT * FROM {p.arrays(_SET_ASIDE)}"
            f" WHERE {held} ON CONFLICT (seq) DO NOTHING)"
        )
    projection, position, channel = p.one(), p.one(), p.one()
    parts.append(
        f"moved AS (INSERT INTO projection_position (projection, seq)"
        f" SELECT {projection}::text, {position}::bigint WHERE {held}"
        " ON CONFLICT (projection) DO UPDATE SET seq = EXCLUDED.seq)"
    )
    return (
        f"WITH {', '.join(parts)}"
        f" SELECT EXISTS (SELECT FROM fence) AS held, {held} AS wrote,"
        # Delivered on commit, so listeners only ever see positions that are visible.
        f" (SELECT pg_notify({channel}::text, {position}::text) FROM go) IS NULL AS notified"
    )


@dataclass(frozen=True, slots=True)
class Delivered:
    """An event as the log delivered it: decoded for the fold, and its JSON for the history."""

    seq: int
    subject: str
    task_id: UUID
    event: TaskEvent
    json: str


async def load_position(conn: Connection, projection: str) -> int:
    seq = await conn.fetchval(
        "SELECT seq FROM projection_position WHERE projection = $1", projection
    )
    return int(seq or 0)


@dataclass(frozen=True, slots=True)
class Folded:
    """What the read model recorded at one sequence: the task of its event (None: none)."""

    task_id: UUID | None


async def load_task_at(conn: Connection, seq: int) -> Folded | None:
    """The record of the event at ``seq`` (history or quarantine), None if there is none."""
    row = await conn.fetchrow(
        "SELECT task_id FROM task_events WHERE seq = $1"
        " UNION ALL SELECT task_id FROM quarantined_events WHERE seq = $1 LIMIT 1",
        seq,
    )
    return None if row is None else Folded(row["task_id"])


async def load_states(conn: Connection, ids: Collection[UUID]) -> dict[UUID, TaskState]:
    if not ids:
        return {}
    rows = await conn.fetch(
        f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = ANY($1::uuid[])", list(ids)
    )
    return {row["id"]: state_from_row(row) for row in rows}


async def write_batch(
    conn: Connection,
    *,
    fence: tuple[str, Sequence[Any]] | None,
    projection: str,
    states: Sequence[TaskState],
    events: Sequence[Delivered],
    quarantined: Sequence[Quarantined],
    committed: int,
    position: int,
    channel: str,
) -> Outcome:
    """Write folded states, the events' history rows, what was set aside and the new
    position, then notify: all or nothing, in one statement, unless ``fence`` (the lease's
    UPDATE and its three values) finds the lease taken over or a new task has a row.

    A task created after the ``committed`` position is new: it is inserted whole. Any other
    has a row, and only what a fold can change is sent for it.
    """
    new = [s for s in states if s.created_seq > committed]
    changed = [s for s in states if s.created_seq <= committed]
    markers = [q for q in quarantined if q.task_id is not None]
    has_history = bool(events or markers)
    statement = batch_statement(
        None if fence is None else fence[0],
        new=bool(new),
        changed=bool(changed),
        history=has_history,
        set_aside=bool(quarantined),
    )
    args: list[Any] = [] if fence is None else list(fence[1])
    if new:
        args += _new_columns(new)
    if changed:
        args += _changed_columns(changed)
    if has_history:
        args += _event_columns(events, markers)
    if quarantined:
        args += _quarantine_columns(quarantined)
    row = await conn.fetchrow(statement, *args, projection, position, channel)
    assert row is not None  # the statement always answers one row
    if row["wrote"]:
        return Outcome.WRITTEN
    return Outcome.NOT_NEW if row["held"] else Outcome.FENCED_OUT


def _text(value: str | None) -> str | None:
    """Postgres text cannot hold NUL; a worker's error message may (it can quote input)."""
    return None if value is None else value.replace("\x00", "\ufffd")


def _json(value: Any) -> str:
    """JSON for a jsonb column, which rejects the \\u0000 escape the same way.

    Non-finite numbers are written as NaN and Infinity (as ``json.dumps`` does), which
    jsonb refuses: such an event is set aside, not stored with a null in their place.
    """
    try:
        text = to_json(value).decode()
    except (PydanticSerializationError, ValueError):
        text = json.dumps(value)
    return json.dumps(_scrub(value)) if "\\u0000" in text else text


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, dict):
        return {_text(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _new_columns(states: Sequence[TaskState]) -> list[list[Any]]:
    return [
        [s.id for s in states],
        [s.task_type for s in states],
        [_text(s.name) for s in states],
        [s.status.value for s in states],
        [s.progress for s in states],
        [_text(s.progress_message) for s in states],
        [_json(s.parameters) for s in states],
        [None if s.result is None else _json(s.result) for s in states],
        [_text(s.error) for s in states],
        [s.attempts for s in states],
        [s.max_attempts for s in states],
        [s.timeout_s for s in states],
        [s.created_at for s in states],
        [s.started_at for s in states],
        [s.completed_at for s in states],
        [s.updated_at for s in states],
        [s.created_seq for s in states],
        [s.last_seq for s in states],
    ]


def _changed_columns(states: Sequence[TaskState]) -> list[list[Any]]:
    return [
        [s.id for s in states],
        [s.status.value for s in states],
        [s.progress for s in states],
        [_text(s.progress_message) for s in states],
        [None if s.result is None else _json(s.result) for s in states],
        [_text(s.error) for s in states],
        [s.attempts for s in states],
        [s.max_attempts for s in states],
        [s.started_at for s in states],
        [s.completed_at for s in states],
        [s.updated_at for s in states],
        [s.last_seq for s in states],
    ]


def _event_columns(events: Sequence[Delivered], markers: Sequence[Quarantined]) -> list[list[Any]]:
    return [
        [e.seq for e in events] + [m.seq for m in markers],
        [e.task_id for e in events] + [m.task_id for m in markers],
        [e.event.type for e in events] + [QUARANTINE_MARKER] * len(markers),
        [e.event.time for e in events] + [m.time for m in markers],
        [_history_json(e) for e in events] + [_marker_json(m) for m in markers],
    ]


def _marker_json(quarantined: Quarantined) -> str:
    return _json(
        {
            "event_type": quarantined.event_type,
            "error": quarantined.error,
            "subject": quarantined.subject,
        }
    )


def _quarantine_columns(quarantined: Sequence[Quarantined]) -> list[list[Any]]:
    return [
        [q.seq for q in quarantined],
        [_text(q.subject) for q in quarantined],
        [_text(q.event_type) for q in quarantined],
        [q.task_id for q in quarantined],
        [_text(q.error) for q in quarantined],
        [q.raw for q in quarantined],
        [q.raw_size for q in quarantined],
    ]


def _history_json(delivered: Delivered) -> str:
    """The event's JSON as delivered: re-encoding it took about 7 % of the projector's CPU."""
    if "\\u0000" in delivered.json:
        return _json(delivered.event.model_dump(mode="json"))
    return delivered.json
