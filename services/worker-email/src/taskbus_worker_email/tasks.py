"""The ``email`` app: the ``email_sending`` task type."""

from functools import cache

from taskbus import TaskApp, TaskContext

from taskbus_worker_email.handler import EmailResult, handle
from taskbus_worker_email.parameters import EmailParameters
from taskbus_worker_email.settings import EmailWorkerSettings

app = TaskApp("email")


@cache
def _settings() -> EmailWorkerSettings:
    return EmailWorkerSettings()


@app.task("email_sending", max_attempts=5)
async def email_sending(ctx: TaskContext, params: EmailParameters) -> EmailResult:
    """Mail each recipient one message from the subject and body templates."""
    return await handle(ctx, params, settings=_settings())
