"""Who may do what on NATS: one user per service, each allowed only its own subjects.

NATS authorizes by subject, and every JetStream call is a request on a ``$JS.API`` subject
naming the stream and consumer it acts on, so a role is a list of the subjects its service
publishes to. Everyone subscribes only to its own replies (``_INBOX.>``): events reach services
through consumers, never through core subscriptions. docs/design.md, "Threat model", says what
each role allows and what a leaked credential of it would.

The worker roles are not listed here: they come from the apps a deployment runs
(:func:`worker_roles`), one ``worker-<app>`` per ``taskbus.TaskApp`` with the rights of its task
types. ``make up`` passes the built-in apps and ``TASKBUS_APPS``'s; the shipped configurations
are generated for the apps they run (``python -m taskbus.devrun.nats_auth --app MODULE:APP ...``).

The admin creates the stream and the buckets (``taskbus.provision``) and may do anything;
services create only their own consumers. Nobody else can delete or purge a stream or a
bucket, or delete another service's consumer.
"""

import argparse
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taskbus.app import AppNotFound, TaskApp, load_app
from taskbus.subjects import Subjects, worker_consumer

ADMIN = "admin"
API = "api"
PROJECTOR = "projector"
DEV_WORKER = "dev-worker"
"""``make up``'s login for a ``taskbus worker`` started by hand (``$DATA_DIR/worker.env``),
whose app it cannot know ahead: the worker rights of every type. Not shipped for compose or
Kubernetes, where each worker Deployment gets the role of its own app."""

WorkerRoles = Mapping[str, tuple[str, ...]]
"""Each worker role and the task types it serves, as :func:`worker_roles` makes them."""

COMMAND_KINDS = ("submitted", "cancelled", "retried")
# A worker's retried event is the retry it schedules after a retryable failure.
WORKER_KINDS = ("started", "progress", "checkpoint", "succeeded", "failed", "retried")

_JS = "$JS.API"
_REPLIES = "_INBOX.>"
# A NATS user, a file name under DATA_DIR/secrets, a Kubernetes name and (upper-cased) part
# of an environment variable's: worker-<app>.
_APP_NAME = re.compile(r"[a-z][a-z0-9_-]{0,54}")

Permissions = dict[str, dict[str, list[str]]]


@dataclass(frozen=True, slots=True)
class NatsUser:
    """A user of the server's ``authorization`` block; no permissions means every right."""

    name: str
    password: str
    permissions: Permissions | None


def worker_role(app: TaskApp) -> str:
    """The NATS role of the workers of ``app``."""
    if _APP_NAME.fullmatch(app.name) is None:
        raise ValueError(f"app name {app.name!r} cannot name a NATS role: {_APP_NAME.pattern}")
    return f"worker-{app.name}"


def worker_roles(apps: Iterable[TaskApp]) -> dict[str, tuple[str, ...]]:
    """A role per app of ``apps`` (``worker-<app.name>``), allowed its app's task types.

    Sorted by role, each role's types sorted, so the same apps make the same configuration
    whatever their order. The same app given twice is one role; two apps of one name, or two
    apps serving one type (whose durable consumer they would share), are refused.
    """
    roles: dict[str, tuple[str, ...]] = {}
    served_by: dict[str, str] = {}
    for app in apps:
        role, task_types = worker_role(app), tuple(sorted(app.tasks))
        if not task_types:
            raise ValueError(f"app {app.name!r} declares no task type")
        if roles.get(role, task_types) != task_types:
            raise ValueError(f"two apps are named {app.name!r}: each needs a role of its own")
        for task_type in task_types:
            if served_by.setdefault(task_type, role) != role:
                raise ValueError(
                    f"task type {task_type!r} is served by {served_by[task_type]} and {role}"
                )
        roles[role] = task_types
    variables = [password_variable(role) for role in roles]
    if len(set(variables)) != len(variables):
        raise ValueError(f"two worker roles share a password variable: {sorted(roles)}")
    return dict(sorted(roles.items()))


def service_roles(workers: WorkerRoles) -> tuple[str, ...]:
    """The roles of the services: the API, the projector and a role per app of ``workers``."""
    return (API, PROJECTOR, *workers)


def roles(workers: WorkerRoles) -> tuple[str, ...]:
    """Every role a deployment of ``workers`` needs: the admin's and the services'."""
    return (ADMIN, *service_roles(workers))


def user_name(role: str, namespace: str) -> str:
    """Installations sharing a server (a namespace each) get users of their own."""
    return f"{namespace}-{role}" if namespace else role


def users(subjects: Subjects, passwords: Mapping[str, str], workers: WorkerRoles) -> list[NatsUser]:
    """The users of one namespace, from a password per role in ``roles(workers)``."""
    return [
        NatsUser(
            user_name(role, subjects.namespace),
            passwords[role],
            None if role == ADMIN else permissions(role, subjects, workers),
        )
        for role in roles(workers)
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


def permissions(role: str, subjects: Subjects, workers: WorkerRoles) -> Permissions:
    """What ``role`` (a service's, not the admin's) may publish, and that it may subscribe
    only to its replies. The projector keeps off the work consumers of ``workers``' types."""
    if role == API:
        allow = _api(subjects)
        deny: list[str] = []
    elif role == PROJECTOR:
        allow, deny = _projector(subjects, [t for types in workers.values() for t in types])
    elif role in workers:
        allow = _worker(subjects, workers[role])
        deny = []
    elif role == DEV_WORKER:
        allow, deny = _worker(subjects, ["*"], consumers=["*"]), []
    else:
        known = ", ".join((*service_roles(workers), DEV_WORKER))
        raise ValueError(f"no NATS role {role!r}; roles: {known}")
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


def _worker(
    subjects: Subjects, task_types: Sequence[str], consumers: Sequence[str] | None = None
) -> list[str]:
    stream = subjects.stream
    if consumers is None:
        consumers = [worker_consumer(task_type) for task_type in task_types]
    events = [
        f"{_root(subjects)}.{task_type}.{kind}.*"
        for task_type in task_types
        for kind in WORKER_KINDS
    ]
    return [
        *events,
        *_stream_reads(stream),
        *(subject for consumer in consumers for subject in _consumer_use(stream, consumer)),
        # The ordered consumer on its type's cancels: ephemeral, so it has no name to allow.
        # An ephemeral consumer reads what direct gets already may, and steals no work.
        f"{_JS}.CONSUMER.CREATE.{stream}",
        f"$JS.FC.{stream}.>",
        *_files(subjects),
        *_workers_read(subjects),
        f"$KV.{subjects.workers_bucket}.>",
        # Announcing its types: read the entries, put one when it changed.
        *_stream_reads(f"KV_{subjects.catalog_bucket}"),
        *(f"$KV.{subjects.catalog_bucket}.{task_type}" for task_type in task_types),
    ]


def _projector(subjects: Subjects, work_types: Sequence[str]) -> tuple[list[str], list[str]]:
    """Reads, and consumers of its own: one per lease epoch, so their names are not known
    ahead and every name but the work consumers' (of ``work_types``) is allowed."""
    stream = subjects.stream
    allow = [*_stream_reads(stream), *_consumer_use(stream, "*")]
    allow.append(f"{_JS}.CONSUMER.DELETE.{stream}.*")
    deny: list[str] = []
    for task_type in work_types:
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
    """Read the live workers: the bucket stream's subjects, then each key's last entry."""
    return _stream_reads(f"KV_{subjects.workers_bucket}")


def _catalog_watch(subjects: Subjects) -> list[str]:
    """Follow the task types' catalog: a watch is an ordered consumer on the bucket."""
    stream = f"KV_{subjects.catalog_bucket}"
    return [
        *_stream_reads(stream),
        f"{_JS}.CONSUMER.CREATE.{stream}",
        f"{_JS}.CONSUMER.INFO.{stream}.*",
        f"$JS.FC.{stream}.>",
    ]


# -- the shipped configurations ----------------------------------------------------------------

PASSWORDS_SECRET = "taskbus-nats"
"""The Kubernetes Secret holding a key per role, each that role's password."""
COMPOSE_CONFIG = "nats-auth.conf"
HELM_VALUES = "nats-values.yaml"
_HELM_REGIONS = ("authorization", "env")


def password_variable(role: str) -> str:
    """The environment variable a deployed nats-server reads ``role``'s password from."""
    return f"NATS_{role.upper().replace('-', '_')}_PASSWORD"


def deployed_authorization(subjects: Subjects, workers: WorkerRoles) -> str:
    """The ``authorization`` block of compose's server configuration (deploy/nats.conf
    includes it): passwords are variables of the server's environment, which it refuses to
    start without."""
    placeholders = {role: f"<{password_variable(role)}>" for role in roles(workers)}
    block = json.dumps(authorization(users(subjects, placeholders, workers)), indent=2)
    for role, placeholder in placeholders.items():
        # Unquoted, "$NAME" is a variable reference; quoted, it would be the password itself.
        block = block.replace(f'"{placeholder}"', f"${password_variable(role)}")
    return f"authorization: {block}\n"


def compose_config(targets: Sequence[str], subjects: Subjects, workers: WorkerRoles) -> str:
    """deploy/nats-auth.conf for the apps ``targets`` name (whose roles are ``workers``)."""
    return "".join(f"# {line}\n" for line in _provenance(targets)) + deployed_authorization(
        subjects, workers
    )


def helm_users(subjects: Subjects, workers: WorkerRoles) -> dict[str, Any]:
    """The Helm values' ``config.merge.authorization``: the chart turns ``<< $NAME >>`` into
    a variable reference of the server's configuration."""
    variables = {role: f"<< ${password_variable(role)} >>" for role in roles(workers)}
    return authorization(users(subjects, variables, workers))


def helm_env(workers: WorkerRoles) -> dict[str, Any]:
    """The Helm values' ``container.env``: each password variable from its key of Secret
    :data:`PASSWORDS_SECRET`."""
    return {
        password_variable(role): {
            "valueFrom": {"secretKeyRef": {"name": PASSWORDS_SECRET, "key": role}}
        }
        for role in roles(workers)
    }


def helm_values(text: str, targets: Sequence[str], subjects: Subjects, workers: WorkerRoles) -> str:
    """``text`` (deploy/nats-values.yaml) with its generated regions made anew.

    A region runs from ``# BEGIN taskbus.devrun.nats_auth NAME`` to the matching ``# END``
    line; it is written at its BEGIN line's indentation: ``authorization`` (under
    ``config.merge``) and ``env`` (under ``container``). The rest is the file's own.
    """
    generated = {"authorization": helm_users(subjects, workers), "env": helm_env(workers)}
    for name in _HELM_REGIONS:
        begin = re.compile(rf"^( *)# BEGIN taskbus\.devrun\.nats_auth {name}\n", re.MULTILINE)
        found = begin.search(text)
        if found is None:
            raise ValueError(f"no '# BEGIN taskbus.devrun.nats_auth {name}' line")
        indent = found.group(1)
        end = re.compile(rf"^{indent}# END taskbus\.devrun\.nats_auth {name}\n", re.MULTILINE)
        ended = end.search(text, found.end())
        if ended is None:
            raise ValueError(f"no '# END taskbus.devrun.nats_auth {name}' after its BEGIN")
        lines = [f"# {line}" for line in _provenance(targets)] if name == _HELM_REGIONS[0] else []
        lines += _yaml({name: generated[name]})
        body = "".join(f"{indent}{line}\n" for line in lines)
        text = text[: found.end()] + body + text[ended.start() :]
    return text


def _provenance(targets: Sequence[str]) -> list[str]:
    """How the configuration was made: the command, with every app it was made for."""
    apps = [f"    --app {target}" for target in sorted(set(targets))]
    return [
        "Generated for the apps this deployment runs: rather than edit it, run again with",
        'each app (deploy/README.md, "Add your own task type"; tests/security checks it):',
        "  python -m taskbus.devrun.nats_auth --write deploy \\",
        *(f"{line} \\" for line in apps[:-1]),
        *apps[-1:],
        "One user per service with only its rights, the admin with all. The passwords are",
        "variables of nats-server's environment; it refuses to start while one is unset.",
    ]


def _yaml(value: Any, indent: str = "") -> list[str]:
    """Block YAML of mappings, lists and strings, laid out as PyYAML's ``safe_dump`` does."""
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str):
                lines.append(f"{indent}{key}: {_scalar(item)}")
            else:
                lines.append(f"{indent}{key}:")
                # A list under a key is not indented further.
                lines += _yaml(item, indent if isinstance(item, list) else f"{indent}  ")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, str):
                lines.append(f"{indent}- {_scalar(item)}")
            else:
                first, *rest = _yaml(item, f"{indent}  ")
                lines += [f"{indent}- {first.removeprefix(f'{indent}  ')}", *rest]
    else:
        raise TypeError(f"no YAML for {value!r}")
    return lines


def _scalar(text: str) -> str:
    """``text`` plain when YAML reads it back as that string, else double-quoted (JSON)."""
    plain = re.fullmatch(r"[A-Za-z0-9_$<.][^:#'\"\\]*", text) and not text.endswith(" ")
    special = re.fullmatch(r"(?i)true|false|yes|no|on|off|null|~|[-+.0-9][-+.0-9_eE]*", text)
    return text if plain and not special else json.dumps(text)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m taskbus.devrun.nats_auth --app MODULE:APP ... [--write DIR]``."""
    parser = argparse.ArgumentParser(
        prog="python -m taskbus.devrun.nats_auth",
        description=(
            "The NATS users of a deployment running the apps given (every worker app it "
            "runs): prints compose's nats-auth.conf, or writes it and the users of the Helm "
            "values into DIR."
        ),
    )
    parser.add_argument(
        "--app",
        dest="targets",
        action="append",
        required=True,
        metavar="MODULE:APP",
        help="a taskbus.TaskApp the deployment runs workers of; once per app",
    )
    parser.add_argument(
        "--write",
        type=Path,
        metavar="DIR",
        help=f"rewrite DIR/{COMPOSE_CONFIG} and the generated users of DIR/{HELM_VALUES}",
    )
    args = parser.parse_args(argv)
    try:
        workers = worker_roles(load_app(target) for target in args.targets)
    except (AppNotFound, ValueError) as exc:
        parser.error(str(exc))
    subjects = Subjects()
    config = compose_config(args.targets, subjects, workers)
    if args.write is None:
        sys.stdout.write(config)
        return
    values = args.write / HELM_VALUES
    try:
        helm = helm_values(values.read_text(), args.targets, subjects, workers)
    except (OSError, ValueError) as exc:
        parser.error(f"{values}: {exc}")
    (args.write / COMPOSE_CONFIG).write_text(config)
    values.write_text(helm)
    print(f"wrote {args.write / COMPOSE_CONFIG} and {values}: roles {', '.join(roles(workers))}")


if __name__ == "__main__":
    main()
