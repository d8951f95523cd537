"""The Celery application of the same-job comparison: taskbus's small csv task, done the
way a Celery user would write it.

The work matches a ``csv_processing`` task of ``{"num_rows": 10}``: draw the rows from a
seeded generator (the same four columns, a few empty cells), write them as CSV and parse
them back with the standard library's ``csv``, then count, sum, mean, min and max each
numeric column. Broker and result backend come from the command line, as in ``noop_app``.
"""

import csv
import io
import random
from typing import Any

from celery import Celery

app = Celery("taskbus_samejob")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
)

CATEGORIES = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
NUMERIC = ("amount", "quantity", "temperature")
NULL_RATE = 0.03


def _rows(num_rows: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)

    def cell(value: str) -> str:
        # An empty cell is a null, as taskbus's synthetic tables write them.
        return "" if rng.random() < NULL_RATE else value

    return [
        [
            cell(f"{rng.random() * 1000:.2f}"),
            cell(str(rng.randrange(1, 101))),
            cell(f"{rng.random() * 60 - 20:.1f}"),
            cell(CATEGORIES[int(rng.random() ** 2 * len(CATEGORIES))]),
        ]
        for _ in range(num_rows)
    ]


def _small_csv(num_rows: int = 10, seed: int = 0) -> dict[str, Any]:
    written = io.StringIO()
    writer = csv.writer(written)
    writer.writerow((*NUMERIC, "category"))
    writer.writerows(_rows(num_rows, seed))
    values: dict[str, list[float]] = {name: [] for name in NUMERIC}
    rows = 0
    for record in csv.DictReader(io.StringIO(written.getvalue())):
        rows += 1
        for name in NUMERIC:
            if record[name]:
                values[name].append(float(record[name]))
    columns = {
        name: {
            "count": len(column),
            "nulls": rows - len(column),
            "sum": sum(column),
            "mean": sum(column) / len(column) if column else None,
            "min": min(column, default=None),
            "max": max(column, default=None),
        }
        for name, column in values.items()
    }
    return {"rows": rows, "columns": columns}


small_csv: Any = app.task(name="samejob.small_csv")(_small_csv)
