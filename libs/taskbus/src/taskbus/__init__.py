"""taskbus: declare task types in Python and run them as their own services.

```python
import taskbus

app = taskbus.TaskApp("media")

@app.task("thumbnail", max_attempts=3, timeout_s=60)
async def thumbnail(ctx: taskbus.TaskContext, params: ThumbnailIn) -> ThumbnailOut: ...
```

Run with ``taskbus worker mymodule:app``.
"""

from taskbus.app import FileRef, TaskApp, TaskDef, accepts
from taskbus.errors import Fail, Retry
from taskbus.worker.context import TaskContext

__all__ = ["Fail", "FileRef", "Retry", "TaskApp", "TaskContext", "TaskDef", "accepts"]
