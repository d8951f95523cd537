"""The ``csv`` app: the ``csv_processing`` task type."""

from taskbus import TaskApp, TaskContext

from taskbus_worker_csv.column_stats import CsvResult
from taskbus_worker_csv.handler import handle
from taskbus_worker_csv.parameters import CsvParameters

app = TaskApp("csv")


@app.task("csv_processing", max_attempts=3)
async def csv_processing(ctx: TaskContext, params: CsvParameters) -> CsvResult:
    """Summarise a CSV file (or synthetic rows): per-column counts, sums, means, min and max."""
    return await handle(ctx, params)
