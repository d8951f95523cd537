"""Leaving a shared nats-server as a test found it.

Every file store on the server reserves its ``max_bytes`` against the server's JetStream
storage whether or not it holds anything, so namespaces that outlive their tests use up what
later tests may create (``insufficient storage resources available``).
"""

from contextlib import suppress

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from taskbus.subjects import Subjects


async def drop_namespace(js: JetStreamContext, subjects: Subjects) -> None:
    """The namespace's stream and buckets go; what was never made is no error."""
    # Stream and buckets alike are streams to JetStream; a bucket ``b`` is stream ``KV_b``
    # or ``OBJ_b``.
    names = (
        subjects.stream,
        f"KV_{subjects.workers_bucket}",
        f"KV_{subjects.catalog_bucket}",
        f"OBJ_{subjects.files_bucket}",
    )
    for name in names:
        with suppress(NotFoundError):
            await js.delete_stream(name)
