"""A read model of many tasks, loaded straight into Postgres with COPY.

The rows look like a system that has run for a month: mostly SUCCESS, a few percent
FAILED, CANCELLED or still in flight; half csv, the rest email and image; most tasks
named after a job and a customer (``newsletter vantoria #48213``): a customer's name
matches about 0.2 % of the tasks, a job's name 2 to 12 %.
Secondary indexes are dropped for the load and rebuilt from their own definitions
after it (much faster than maintaining them row by row), then the table is analysed.
"""

import itertools
import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from taskbus.readmodel.schema import migrate, quote_ident

COLUMNS = (
    "id", "task_type", "name", "status", "progress", "progress_message", "parameters",
    "result", "error", "attempts", "max_attempts", "timeout_s", "created_at", "started_at",
    "completed_at", "updated_at", "created_seq", "last_seq",
)  # fmt: skip
STATUSES = {"SUCCESS": 0.90, "FAILED": 0.05, "CANCELLED": 0.02, "PENDING": 0.02, "RUNNING": 0.01}
JOBS = {
    "csv_processing": ("daily-sales-report", "inventory-export", "ledger-reconcile"),
    "email_sending": ("welcome-mail", "password-reset", "newsletter"),
    "image_processing": ("thumbnail", "avatar-resize", "banner-render"),
}
TYPE_WEIGHTS = {"csv_processing": 0.5, "email_sending": 0.3, "image_processing": 0.2}
NAMED_SHARE = 0.7
_SYLLABLES = ("van", "tor", "bel", "qui", "mar", "dex", "lum", "sor", "kal", "fen",
              "rho", "zin", "pax", "ull", "gro", "tam", "wey", "nox", "ira", "cob")  # fmt: skip
CUSTOMERS = tuple(f"{a}{b}ia" for a in _SYLLABLES for b in _SYLLABLES)
PARAMETERS = {
    "csv_processing": json.dumps({"num_rows": 10_000, "seed": 7}),
    "email_sending": json.dumps({"num_emails": 50, "subject": "Hello", "body": "Hi {name}"}),
    "image_processing": json.dumps({"num_images": 4, "target_width": 320, "target_height": 240}),
}
RESULTS = {
    "csv_processing": json.dumps({"rows": 10_000, "columns": {"amount": {"count": 10_000}}}),
    "email_sending": json.dumps({"sent": 50, "failed": 0}),
    "image_processing": json.dumps({"images": [{"width": 320, "height": 240}] * 4}),
}
# The position the projector records (as the API reads it): a read model loaded here is one
# the projector is caught up with, so the API's change feed has nothing old to broadcast.
PROJECTION = "tasks"
_CHUNK = 50_000
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_SPACING = timedelta(seconds=2.6)
# Memory for each index rebuild's sort: with the default 64 MB, the trigram index over
# 7 million names (10 million tasks) spills to disk in many passes; this machine has plenty.
_INDEX_BUILD_MEMORY = "1GB"

_SECONDARY_INDEXES = """
SELECT indexrelid::regclass::text AS name, pg_get_indexdef(indexrelid) AS definition
FROM pg_index
WHERE indrelid = $1::regclass
  AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conindid = indexrelid)
"""


def task_rows(count: int, seed: int = 1) -> Iterator[tuple[Any, ...]]:
    """``count`` task rows, oldest first, the same for the same seed."""
    rng = random.Random(seed)
    types = rng.choices(list(TYPE_WEIGHTS), weights=list(TYPE_WEIGHTS.values()), k=count)
    statuses = rng.choices(list(STATUSES), weights=list(STATUSES.values()), k=count)
    for i, (task_type, status) in enumerate(zip(types, statuses, strict=True)):
        yield _row(rng, i, task_type, status)


def _row(rng: random.Random, i: int, task_type: str, status: str) -> tuple[Any, ...]:
    created = _EPOCH + _SPACING * i
    started = None if status == "PENDING" else created + timedelta(milliseconds=40)
    done = status in ("SUCCESS", "FAILED", "CANCELLED")
    completed = created + timedelta(seconds=rng.uniform(0.1, 30)) if done else None
    name = None
    if rng.random() < NAMED_SHARE:
        name = f"{rng.choice(JOBS[task_type])} {rng.choice(CUSTOMERS)} #{i}"
    created_seq = 4 * i + 1
    return (
        uuid.UUID(int=rng.getrandbits(128), version=4),
        task_type,
        name,
        status,
        {"SUCCESS": 100.0, "PENDING": 0.0}.get(status, 40.0),
        None,
        PARAMETERS[task_type],
        RESULTS[task_type] if status == "SUCCESS" else None,
        "RuntimeError: upstream refused the request" if status == "FAILED" else None,
        1,
        3,
        None,
        created,
        started,
        completed,
        completed or started or created,
        created_seq,
        created_seq + (3 if done else 1 if started else 0),
    )


async def fill_read_model(database_url: str, schema: str, count: int) -> None:
    """Create the read model in ``schema`` (the services' migrations) and load ``count`` tasks."""
    conn = await asyncpg.connect(database_url)
    try:
        await migrate(conn, schema)
        table = f"{quote_ident(schema)}.tasks"
        indexes = await conn.fetch(_SECONDARY_INDEXES, table)
        for index in indexes:
            await conn.execute(f"DROP INDEX {index['name']}")
        rows = task_rows(count)
        while chunk := list(itertools.islice(rows, _CHUNK)):
            await conn.copy_records_to_table(
                "tasks", schema_name=schema, columns=COLUMNS, records=chunk
            )
        await conn.execute(f"SET maintenance_work_mem = '{_INDEX_BUILD_MEMORY}'")
        for index in indexes:
            await conn.execute(index["definition"])
        await conn.execute(
            f"INSERT INTO {quote_ident(schema)}.projection_position (projection, seq)"
            f" SELECT $1, max(last_seq) FROM {table}",
            PROJECTION,
        )
        await conn.execute(f"VACUUM ANALYZE {table}")
    finally:
        await conn.close()
