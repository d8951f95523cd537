"""``taskbus-dev`` (``make up``): local servers, then the five services, until Ctrl-C or SIGTERM."""

import asyncio
import fcntl
import os
import shlex
import shutil
import signal
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from taskbus.app import AppNotFound, TaskApp, load_app
from taskbus.devrun import nats_auth
from taskbus.devrun import settings as defaults
from taskbus.devrun.credentials import secret
from taskbus.devrun.nats import start_nats, start_nats_cluster
from taskbus.devrun.ports import LOOPBACK
from taskbus.devrun.postgres import DEFAULT_DATABASE, run_coroutine, start_postgres
from taskbus.devrun.settings import DevSettings
from taskbus.devrun.smtp import MailLog
from taskbus.devrun.supervisor import RUNNER, ServiceSpec, Supervisor, print_line
from taskbus.errors import InfraError
from taskbus.lifecycle import install_stop_signals
from taskbus.provision import provision_nats, provision_postgres
from taskbus.settings import CommonSettings, NatsCredentials

SERVICES = ("api", "projector", "worker-csv", "worker-email", "worker-image")
BUILTIN_APPS = (
    "taskbus_worker_csv.tasks:app",
    "taskbus_worker_email.tasks:app",
    "taskbus_worker_image.tasks:app",
)
"""The apps the worker services serve, entered in the catalog before any service starts, so
the API takes their tasks from its first request."""
CLUSTER_DATABASE = "taskbus_cluster"

_WIDTH = max(len(name) for name in (RUNNER, "smtp", *SERVICES))
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

Say = Callable[[str], None]


@dataclass
class ServerEnv:
    """What the services are told about the servers: all alike, and each its own login."""

    common: dict[str, str] = field(default_factory=dict)
    own: dict[str, dict[str, str]] = field(default_factory=dict)
    workers: dict[str, str] = field(default_factory=dict)
    """The login of a worker of an app ``make up`` was not told of (``nats_auth.DEV_WORKER``),
    started by hand; a service of an app it runs has a login in ``own``, of its app's role."""

    def add_own(self, service: str, env: dict[str, str]) -> None:
        self.own.setdefault(service, {}).update(env)


class StopRequested(BaseException):
    """SIGINT or SIGTERM arrived before the services ran (while the servers were starting)."""


def main() -> None:
    """Start what the environment does not provide, run the services, stop it all on a signal."""
    settings = DevSettings()
    say = line_printer(RUNNER)
    for sig in _STOP_SIGNALS:
        signal.signal(sig, _raise_stop_requested)
    try:
        with ExitStack() as servers:
            try:
                server_env = start_servers(settings, servers, say)
                worker_env = write_worker_env(settings.data_dir.resolve(), server_env)
                say(
                    f"workers of your own apps join with the settings in {worker_env}: "
                    f"set -a; . {worker_env}; set +a; taskbus worker MODULE:APP"
                )
                specs = service_specs(server_env, settings.port, settings.app_targets)
                supervisor = Supervisor(specs, output=print_line)
                asyncio.run(_serve(supervisor, settings.port, say))
            finally:
                # Every stop below has its own timeout: a second Ctrl-C must not cut them short.
                for sig in _STOP_SIGNALS:
                    signal.signal(sig, signal.SIG_IGN)
    except (StopRequested, KeyboardInterrupt):
        pass
    except InfraError as exc:
        say(f"cannot start: {exc}")
        raise SystemExit(1) from None
    say("stopped")


def line_printer(name: str) -> Say:
    """Print lines under ``name``'s prefix, aligned with the services' output."""
    return lambda text: print_line(f"{name:<{_WIDTH}} | {text}")


def start_servers(settings: DevSettings, servers: ExitStack, say: Say) -> ServerEnv:
    """Start each server the environment does not point elsewhere; return the services' env.

    A server started here gets a login per service with only that service's rights (docs/
    design.md, "Threat model"), and is provisioned as its admin before any service starts.
    Each started server's stop is pushed onto ``servers``.
    """
    data_dir = settings.data_dir.resolve()
    _claim(data_dir, servers)
    env = ServerEnv()
    _nats_env(settings, data_dir, servers, say, env)
    if settings.database_url:
        env.common["DATABASE_URL"] = settings.database_url
    else:
        # The cluster keeps a log of its own, so it gets a read model of its own: one folded
        # from the single server's log would stand at a position the cluster's log has not
        # reached.
        database = CLUSTER_DATABASE if settings.starts_nats_cluster else DEFAULT_DATABASE
        _start_postgres(data_dir, database, servers, say, env)
    if not settings.smtp_host:
        env.common.update(_start_smtp_sink(servers, say))
    return env


def service_specs(
    server_env: ServerEnv, port: int, app_targets: Sequence[str] = ()
) -> list[ServiceSpec]:
    """The five services and a worker per app of ``app_targets`` (``app-<name>``), each with
    this process's environment plus where the servers are and its own login to them."""
    base = {key: value for key, value in os.environ.items() if key != "PORT"}
    base.setdefault("LOG_FORMAT", "console")
    # Output goes through a pipe: without this Python would hold log lines in its buffer.
    base.update(server_env.common, PYTHONUNBUFFERED="1")
    specs = []
    for name in SERVICES:
        env = {**base, **server_env.own.get(name, {})}
        if name == "api":
            env["PORT"] = str(port)
        specs.append(ServiceSpec(name, [_console_script(f"taskbus-{name}")], env))
    for target in app_targets:
        command = [_console_script("taskbus"), "worker", target]
        name = app_service(_load(target))
        login = server_env.own.get(name, server_env.workers)
        specs.append(ServiceSpec(name, command, {**base, **login}))
    return specs


def app_service(app: TaskApp) -> str:
    """The service that serves ``app``, one of ``TASKBUS_APPS``."""
    return f"app-{app.name}"


def write_worker_env(data_dir: Path, server_env: ServerEnv) -> Path:
    """``$DATA_DIR/worker.env``: what a ``taskbus worker`` started by hand needs to join.

    ``set -a; . .data/worker.env; set +a`` in a shell, then ``taskbus worker MODULE:APP``.
    It holds a password, so only its owner may read it.
    """
    settings = {**server_env.common, **server_env.workers}
    keep = ("NATS_URL", "NATS_USER", "NATS_PASSWORD", "NATS_STREAM_REPLICAS")
    lines = [f"{key}={shlex.quote(settings[key])}" for key in keep if key in settings]
    if namespace := os.environ.get("TASKBUS_NAMESPACE"):
        lines.append(f"TASKBUS_NAMESPACE={shlex.quote(namespace)}")
    path = data_dir / "worker.env"
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write("\n".join(lines) + "\n")
    return path


def _load(target: str) -> TaskApp:
    try:
        return load_app(target)
    except AppNotFound as exc:
        raise InfraError(f"TASKBUS_APPS: {exc}") from None


async def _serve(supervisor: Supervisor, port: int, say: Say) -> None:
    stop = asyncio.Event()
    install_stop_signals(stop)
    url = f"http://{LOOPBACK}:{port}/"
    say(f"starting the services; taskbus will be at {url}")
    announcer = asyncio.create_task(_announce_when_listening(port, url, stop, say))
    try:
        await supervisor.run(stop)
    finally:
        announcer.cancel()


async def _announce_when_listening(port: int, url: str, stop: asyncio.Event, say: Say) -> None:
    while not stop.is_set():
        try:
            _, writer = await asyncio.open_connection(LOOPBACK, port)
        except OSError:
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.25)
            continue
        writer.close()
        await writer.wait_closed()
        say(f"taskbus is up: {url}")
        return


def _claim(data_dir: Path, servers: ExitStack) -> None:
    """Hold a lock on ``data_dir`` until the servers stop: two runners must not share one."""
    data_dir.mkdir(parents=True, exist_ok=True)
    # Not inherited by the children (PEP 446): the lock dies with this process.
    lock = servers.enter_context((data_dir / "taskbus-dev.lock").open("w"))
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise InfraError(f"another taskbus-dev is running on {data_dir}") from None


def _start_nats(
    data_dir: Path, users: tuple[nats_auth.NatsUser, ...], servers: ExitStack, say: Say
) -> str:
    started = time.monotonic()
    server = start_nats(
        data_dir / "nats",
        port=defaults.DEFAULT_NATS_PORT,
        monitor_port=defaults.DEFAULT_NATS_MONITOR_PORT,
        log_path=data_dir / "logs" / "nats.log",
        users=users,
    )
    servers.callback(server.stop)
    servers.callback(say, "stopping nats-server")
    _say_if_moved(say, "nats", defaults.DEFAULT_NATS_PORT, server.port)
    _say_if_moved(say, "nats monitor", defaults.DEFAULT_NATS_MONITOR_PORT, server.monitor_port)
    say(
        f"nats-server ready in {time.monotonic() - started:.2f}s at {server.url} "
        f"(monitor {server.monitor_url}, log {server.log_path})"
    )
    return server.url


def _nats_env(
    settings: DevSettings, data_dir: Path, servers: ExitStack, say: Say, env: ServerEnv
) -> None:
    """Where the services find NATS: the given URL, or the server or cluster started here,
    provisioned, with a user of its own for each service."""
    if settings.nats_url is not None:
        if settings.nats_cluster_size > 1:
            say("NATS_URL is set: NATS_CLUSTER_SIZE is ignored, no NATS server is started")
        env.common["NATS_URL"] = settings.nats_url
        return
    common = CommonSettings()
    builtin = [_load(target) for target in BUILTIN_APPS]
    own_apps = [_load(target) for target in settings.app_targets]
    try:
        workers = nats_auth.worker_roles([*builtin, *own_apps])
    except ValueError as exc:
        raise InfraError(f"TASKBUS_APPS: {exc}") from None
    roles = (*nats_auth.roles(workers), nats_auth.DEV_WORKER)
    passwords = {role: secret(data_dir, f"nats-{role}") for role in roles}
    users = (
        *nats_auth.users(common.subjects, passwords, workers),
        nats_auth.NatsUser(
            nats_auth.user_name(nats_auth.DEV_WORKER, common.namespace),
            passwords[nats_auth.DEV_WORKER],
            nats_auth.permissions(nats_auth.DEV_WORKER, common.subjects, workers),
        ),
    )
    if settings.starts_nats_cluster:
        env.common.update(
            _start_nats_cluster(data_dir, settings.nats_cluster_size, users, servers, say)
        )
    else:
        env.common["NATS_URL"] = _start_nats(data_dir, users, servers, say)
    admin = NatsCredentials(
        user=nats_auth.user_name(nats_auth.ADMIN, common.namespace),
        password=passwords[nats_auth.ADMIN],
    )
    provisioned = common.model_copy(update={"nats_url": env.common["NATS_URL"]})
    if "NATS_STREAM_REPLICAS" in env.common:
        provisioned.stream_replicas = int(env.common["NATS_STREAM_REPLICAS"])
    run_coroutine(provision_nats(provisioned, admin, apps=[*builtin, *own_apps]))

    def login(role: str) -> dict[str, str]:
        user = nats_auth.user_name(role, common.namespace)
        return {"NATS_USER": user, "NATS_PASSWORD": passwords[role]}

    # The built-ins' services are named as their roles (worker-csv, ...); the worker of an app
    # of TASKBUS_APPS logs in as its app's role too, held to its types as it would be deployed.
    for role in (nats_auth.API, nats_auth.PROJECTOR, *map(nats_auth.worker_role, builtin)):
        env.add_own(role, login(role))
    for app in own_apps:
        env.add_own(app_service(app), login(nats_auth.worker_role(app)))
    env.workers = login(nats_auth.DEV_WORKER)
    say(
        f"nats users {', '.join(nats_auth.service_roles(workers))}, each with only its own "
        f"rights, and {nats_auth.DEV_WORKER} for workers started by hand; passwords in "
        f"{data_dir / 'secrets'}"
    )


def _start_nats_cluster(
    data_dir: Path,
    size: int,
    users: tuple[nats_auth.NatsUser, ...],
    servers: ExitStack,
    say: Say,
) -> dict[str, str]:
    started = time.monotonic()
    wanted = (
        defaults.DEFAULT_NATS_PORT,
        defaults.DEFAULT_NATS_MONITOR_PORT,
        defaults.DEFAULT_NATS_CLUSTER_PORT,
    )
    cluster = start_nats_cluster(
        data_dir / "nats-cluster", size, ports=wanted, log_dir=data_dir / "logs", users=users
    )
    servers.callback(cluster.stop)
    servers.callback(say, f"stopping the {size} nats-servers")
    for i, server in enumerate(cluster.servers):
        name = server.node.server_name or f"nats-server {i + 1}"
        _say_if_moved(say, name, wanted[0] + i, server.port)
        _say_if_moved(say, f"{name} monitor", wanted[1] + i, server.monitor_port)
        say(f"{name} at {server.url} (monitor {server.monitor_url}, log {server.log_path})")
    say(
        f"nats cluster of {size} ready in {time.monotonic() - started:.2f}s, JetStream meta "
        f"leader elected; streams get {size} replicas. Try failover: kill -9 any one of them"
    )
    return {"NATS_URL": cluster.url, "NATS_STREAM_REPLICAS": str(size)}


def _start_postgres(
    data_dir: Path, database: str, servers: ExitStack, say: Say, env: ServerEnv
) -> None:
    """Postgres where every role needs its password: the projector's owns the read model, the
    API's may only read it, and the workers get none."""
    started = time.monotonic()
    server = start_postgres(
        data_dir / "postgres",
        port=defaults.DEFAULT_POSTGRES_PORT,
        database=database,
        log_path=data_dir / "logs" / "postgres.log",
        superuser_password=secret(data_dir, "postgres-superuser"),
    )
    servers.callback(server.stop)
    servers.callback(say, "stopping postgres")
    _say_if_moved(say, "postgres", defaults.DEFAULT_POSTGRES_PORT, server.port)
    projector_url, api_url = run_coroutine(
        provision_postgres(
            server.dsn(database),
            projector_password=secret(data_dir, "postgres-projector"),
            api_password=secret(data_dir, "postgres-api"),
            schema=CommonSettings().readmodel_schema,
        )
    )
    env.add_own("projector", {"DATABASE_URL": projector_url})
    env.add_own("api", {"DATABASE_URL": api_url})
    say(
        f"postgres ready in {time.monotonic() - started:.2f}s at {server.shown_dsn(database)} "
        f"(log {server.log_path}); roles taskbus_projector (owns the read model) and "
        "taskbus_api (reads it)"
    )


def _start_smtp_sink(servers: ExitStack, say: Say) -> dict[str, str]:
    sink = MailLog(line_printer("smtp"), port=defaults.DEFAULT_SMTP_PORT).start()
    servers.callback(sink.stop)
    _say_if_moved(say, "smtp sink", defaults.DEFAULT_SMTP_PORT, sink.port)
    say(f"smtp sink listening on {sink.host}:{sink.port}; mail is logged, not delivered")
    return {"SMTP_HOST": sink.host, "SMTP_PORT": str(sink.port), "SMTP_STARTTLS": "false"}


def _say_if_moved(say: Say, what: str, wanted: int, got: int) -> None:
    if wanted != got:
        say(f"port {wanted} is busy: {what} uses port {got} instead")


def _console_script(name: str) -> str:
    """The service's entry point from this interpreter's environment, else from PATH."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    return found or name


def _raise_stop_requested(signum: int, frame: FrameType | None) -> None:
    raise StopRequested(signal.Signals(signum).name)
