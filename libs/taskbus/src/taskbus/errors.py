"""The taskbus error hierarchy, shared by the runtime and the services."""


class TaskbusError(Exception):
    """Root of every error taskbus raises on purpose."""


class TaskError(TaskbusError):
    """Raised by a handler to end its attempt; the runtime turns it into an event."""


class Fail(TaskError):
    """The attempt failed for good: retrying cannot help (bad input, refused content)."""


class Retry(TaskError):
    """The attempt failed for a passing reason; retry after ``delay`` seconds if attempts remain."""

    def __init__(self, message: str, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay


class TaskCancelledError(TaskbusError):
    """The task was cancelled while its handler ran."""


class InfraError(TaskbusError):
    """A local dependency (NATS, Postgres, SMTP sink) could not be started or reached."""
