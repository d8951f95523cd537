"""One logging setup for every service: structured, one line per event."""

import logging
import sys
from collections.abc import Sequence

import structlog


def configure_logging(
    level: str = "INFO",
    fmt: str = "json",
    service: str = "",
    *,
    before_rendering: Sequence[structlog.types.Processor] = (),
) -> None:
    """Render structlog and stdlib logging as one JSON (or console) line per event on stdout.

    taskbus's own lines go through structlog alone, filtered by level before any work is
    done: the stdlib route (a LogRecord, a handler, a formatter per line) cost a worker a
    tenth of its CPU on small tasks. Libraries' stdlib lines (uvicorn, nats, asyncpg) are
    rendered by the same processors; ``before_rendering`` sees every line of both.
    """
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    threshold = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            *before_rendering,
            renderer,
        ],
        logger_factory=structlog.WriteLoggerFactory(sys.stdout),
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            *before_rendering,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(threshold)
    if service:
        structlog.contextvars.bind_contextvars(service=service)
