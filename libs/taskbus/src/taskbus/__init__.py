"""taskbus: declare task types in Python, run them as services, submit and await them.

```python
import taskbus

app = taskbus.TaskApp("media")

@app.task("thumbnail", max_attempts=3, timeout_s=60)
async def thumbnail(ctx: taskbus.TaskContext, params: ThumbnailIn) -> ThumbnailOut: ...
```

Run it with ``taskbus worker mymodule:app``; submit and await from code with
``taskbus.Client``. ``taskbus.TaskFailed`` and ``taskbus.TaskCancelled`` are the client's
exceptions (the log's events of those names live in ``taskbus.events``).
"""

from taskbus.app import FileRef, TaskApp, TaskDef, accepts
from taskbus.client import (
    ApiError,
    BatchRefused,
    Client,
    ClientError,
    Task,
    TaskCancelled,
    TaskFailed,
    TaskHandle,
)
from taskbus.errors import Fail, Retry
from taskbus.worker.context import TaskContext

__all__ = [
    "ApiError",
    "BatchRefused",
    "Client",
    "ClientError",
    "Fail",
    "FileRef",
    "Retry",
    "Task",
    "TaskApp",
    "TaskCancelled",
    "TaskContext",
    "TaskDef",
    "TaskFailed",
    "TaskHandle",
    "accepts",
]
