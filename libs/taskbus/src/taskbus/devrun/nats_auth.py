"""Who may do what on NATS: one user per service, each allowed only its own subjects.

NATS authorizes by subject, and every JetStream call is a request on a ``$JS.API`` subject
naming the stream and consumer it acts on, so a role is a list of the subjects its service
publishes to. Everyone subscribes only to its own replies (``_INBOX.>``): events reach services
through consumers, never through core subscriptions. docs/design.md, "Threat model", says what
each role allows and what a leaked credential of it would.

The admin creates the stream and the buckets (``taskbus.provision``) and may do anything;
services create only their own consumers. Nobody else can delete or purge a stream or a
bucket, or delete another service's consumer.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from taskbus.subjects import Subjects, worker_consumer

ADMIN = "admin"
API = "api"
PROJECTOR = "projector"
WORKERS: dict[str, str] = {
    "worker-csv": "csv_processing",
    "worker-email": "email_sending",
    "worker-image": "image_processing",
}
"""The worker services ``make up`` runs, and the task type each serves."""
SERVICE_ROLES = (API, PROJECTOR, *WORKERS)
ROLES = (ADMIN, *SERVICE_ROLES)
DEV_WORKER = "dev-worker"
"""``make up``'s login for workers of apps it cannot know ahead (``TASKBUS_APPS``, a
``taskbus worker`` started by hand): the worker rights of every type. Not shipped for
compose or Kubernetes, where each worker Deployment gets a role of its own type."""

COMMAND_KINDS = ("submitted", "cancelled", "retried")
# A worker's retried event is the retry it schedules after a retryable failure.
WORKER_KINDS = ("started", "progress", "checkpoint", "succeeded", "failed", "retried")

_JS = "$JS.API"
_REPLIES = "_INBOX.>"

Permissions = dict[str, dict[str, list[str]]]


@dataclass(frozen=True, slots=True)
class NatsUser:
    """A user of the server's ``authorization`` block; no permissions means every right."""

    name: str
    password: str
    permissions: Permissions | None


def user_name(role: str, namespace: str) -> str:
    """Installations sharing a server (a namespace each) get users of their own."""
    return f"{namespace}-{role}" if namespace else role


def users(subjects: Subjects, passwords: dict[str, str]) -> list[NatsUser]:
    """The users of one namespace, from a password per role in :data:`ROLES`."""
    return [
        NatsUser(
            user_name(role, subjects.namespace),
            passwords[role],
            None if role == ADMIN else permissions(role, subjects),
        )
        for role in ROLES
    ]


def authorization(all_users: Iterable[NatsUser]) -> dict[str, Any]:
    """The server configuration's ``authorization`` block."""
    entries: list[dict[str, Any]] = []
    for user in all_users:
        entry: dict[str, Any] = {"user": user.name, "password": user.password}
        if user.permissions is not None:
            entry["permissions"] = user.permissions
        entries.append(entry)
    return {"users": entries}


def permissions(role: str, subjects: Subjects) -> Permissions:
    """What ``role`` (a service's, not the admin's) may publish, and that it may subscribe
    only to its replies."""
    if role == API:
        allow = _api(subjects)
        deny: list[str] = []
    elif role == PROJECTOR:
        allow, deny = _projector(subjects)
    elif role in WORKERS:
        allow = _worker(subjects, WORKERS[role])
        deny = []
    elif role == DEV_WORKER:
        allow, deny = _worker(subjects, "*", consumer="*"), []
    else:
        raise ValueError(f"no NATS role {role!r}; roles: {', '.join(SERVICE_ROLES)}")
    publish = {"allow": allow, "deny": deny} if deny else {"allow": allow}
    return {"publish": publish, "subscribe": {"allow": [_REPLIES]}}


def _api(subjects: Subjects) -> list[str]:
    stream = subjects.stream
    commands = [f"{_root(subjects)}.*.{kind}.*" for kind in COMMAND_KINDS]
    return [
        *commands,
        *_stream_reads(stream),
        # GET /api/stats: each work consumer's backlog.
        f"{_JS}.CONSUMER.INFO.{stream}.*",
        *_files(subjects),
        *_workers_read(subjects),
        *_catalog_watch(subjects),
    ]


def _worker(subjects: Subjects, task_type: str, consumer: str | None = None) -> list[str]:
    stream = subjects.stream
    consumer = consumer or worker_consumer(task_type)
    events = [f"{_root(subjects)}.{task_type}.{kind}.*" for kind in WORKER_KINDS]
    return [
        *events,
        *_stream_reads(stream),
        *_consumer_use(stream, consumer),
        # The ordered consumer on its type's cancels: ephemeral, so it has no name to allow.
        # An ephemeral consumer reads what direct gets already may, and steals no work.
        f"{_JS}.CONSUMER.CREATE.{stream}",
        f"$JS.FC.{stream}.>",
        *_files(subjects),
        *_workers_read(subjects),
        f"$KV.{subjects.workers_bucket}.>",
        # Announcing its type: read the entry, put it when it changed.
        *_stream_reads(f"KV_{subjects.catalog_bucket}"),
        f"$KV.{subjects.catalog_bucket}.{task_type}",
    ]


def _projector(subjects: Subjects) -> tuple[list[str], list[str]]:
    """Reads, and consumers of its own: one per lease epoch, so their names are not known
    ahead and every name but the work consumers' is allowed."""
    stream = subjects.stream
    allow = [*_stream_reads(stream), *_consumer_use(stream, "*")]
    allow.append(f"{_JS}.CONSUMER.DELETE.{stream}.*")
    deny: list[str] = []
    for task_type in WORKERS.values():
        consumer = worker_consumer(task_type)
        deny += [*_consumer_use(stream, consumer), f"{_JS}.CONSUMER.DELETE.{stream}.{consumer}"]
    return allow, deny


def _root(subjects: Subjects) -> str:
    return subjects.all_events.removesuffix(".>")


def _stream_reads(stream: str) -> list[str]:
    return [
        f"{_JS}.STREAM.INFO.{stream}",
        f"{_JS}.STREAM.MSG.GET.{stream}",
        f"{_JS}.DIRECT.GET.{stream}",
        f"{_JS}.DIRECT.GET.{stream}.>",
    ]


def _consumer_use(stream: str, consumer: str) -> list[str]:
    """Create (or update), look up, pull from and acknowledge on one durable consumer."""
    return [
        f"{_JS}.CONSUMER.DURABLE.CREATE.{stream}.{consumer}",
        f"{_JS}.CONSUMER.CREATE.{stream}.{consumer}",
        f"{_JS}.CONSUMER.CREATE.{stream}.{consumer}.>",
        f"{_JS}.CONSUMER.INFO.{stream}.{consumer}",
        f"{_JS}.CONSUMER.MSG.NEXT.{stream}.{consumer}",
        f"$JS.ACK.{stream}.{consumer}.>",
    ]


def _files(subjects: Subjects) -> list[str]:
    """Put and read files: chunks and metadata are published to the object store's subjects."""
    bucket = subjects.files_bucket
    return [f"$O.{bucket}.>", *_stream_reads(f"OBJ_{bucket}")]


def _workers_read(subjects: Subjects) -> list[str]:
    """Read the live workers; listing the keys takes an ordered consumer on the bucket."""
    stream = f"KV_{subjects.workers_bucket}"
    return [
        *_stream_reads(stream),
        f"{_JS}.CONSUMER.CREATE.{stream}",
        f"{_JS}.CONSUMER.INFO.{stream}.*",
        f"$JS.FC.{stream}.>",
    ]


def _catalog_watch(subjects: Subjects) -> list[str]:
    """Follow the task types' catalog: a watch is an ordered consumer on the bucket."""
    stream = f"KV_{subjects.catalog_bucket}"
    return [
        *_stream_reads(stream),
        f"{_JS}.CONSUMER.CREATE.{stream}",
        f"{_JS}.CONSUMER.INFO.{stream}.*",
        f"$JS.FC.{stream}.>",
    ]


def password_variable(role: str) -> str:
    """The environment variable a deployed nats-server reads ``role``'s password from."""
    return f"NATS_{role.upper().replace('-', '_')}_PASSWORD"


def deployed_authorization(subjects: Subjects) -> str:
    """The ``authorization`` block of the shipped server configurations (compose's
    deploy/nats.conf, the Helm values): passwords are variables of the server's environment,
    which it refuses to start without."""
    placeholders = {role: f"<{password_variable(role)}>" for role in ROLES}
    block = json.dumps(authorization(users(subjects, placeholders)), indent=2)
    for role, placeholder in placeholders.items():
        # Unquoted, "$NAME" is a variable reference; quoted, it would be the password itself.
        block = block.replace(f'"{placeholder}"', f"${password_variable(role)}")
    return f"authorization: {block}\n"
