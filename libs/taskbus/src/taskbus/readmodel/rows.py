"""Rows of the ``tasks`` table as task states, for the projector and the API alike."""

import json

import asyncpg

from taskbus.readmodel.state import TaskState
from taskbus.tasks import TaskStatus

TASK_COLUMNS = (
    "id, task_type, name, status, progress, progress_message, parameters, result, error,"
    " attempts, max_attempts, timeout_s, created_at, started_at, completed_at, updated_at,"
    " created_seq, last_seq"
)


def state_from_row(row: asyncpg.Record) -> TaskState:
    return TaskState(
        id=row["id"],
        task_type=row["task_type"],
        name=row["name"],
        status=TaskStatus(row["status"]),
        progress=row["progress"],
        progress_message=row["progress_message"],
        parameters=json.loads(row["parameters"]),
        result=None if row["result"] is None else json.loads(row["result"]),
        error=row["error"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        timeout_s=row["timeout_s"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        completed_at=row["completed_at"],
        updated_at=row["updated_at"],
        created_seq=row["created_seq"],
        last_seq=row["last_seq"],
    )
