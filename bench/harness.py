"""What a benchmark runs against: nats-server and Postgres from the wheels, and taskbus
services as processes, each run in a namespace and a database of its own.

Servers come from ``taskbus.devrun`` and services from the end-to-end tests' ``System``
(``tests/support/system.py``), so the benchmarks start the system exactly as the tests do.
Everything listens on loopback and is stopped when its ``with`` block ends, on errors and
Ctrl-C too.
"""

import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from support.system import System, announce_builtin_types
from taskbus.devrun.nats import start_nats
from taskbus.devrun.ports import LOOPBACK, accepts_connections, free_port
from taskbus.devrun.postgres import create_database, run_coroutine, start_postgres
from taskbus.devrun.processes import wait_until_ready

# The read model's schema in every benchmark database (the services' default, made explicit).
READMODEL_SCHEMA = "taskbus"

API = "taskbus-api"
PROJECTOR = "taskbus-projector"
WORKER_CSV = "taskbus-worker-csv"

# The services a csv task passes through, submit to read model; the email and image
# workers are left out: they would only idle beside it.
CSV_PIPELINE = (API, PROJECTOR, WORKER_CSV)


@dataclass(frozen=True)
class Servers:
    """The benchmark run's nats-server and Postgres, and where services write their logs."""

    nats_url: str
    postgres_dsn: str
    log_dir: Path
    pids: dict[str, int]
    """The servers' process ids by name, for accounting their CPU."""

    def new_database(self) -> str:
        """A new, empty database on the run's Postgres; returns its URL."""
        return create_database(self.postgres_dsn, f"bench_{secrets.token_hex(5)}")


@contextmanager
def local_servers(folder: Path, log_dir: Path, *, fsync: bool) -> Iterator[Servers]:
    """nats-server and Postgres storing under ``folder``, until the block ends."""
    with ExitStack() as running:
        nats = start_nats(folder / "nats", log_path=log_dir / "nats.log")
        running.callback(nats.stop)
        postgres = start_postgres(
            folder / "postgres", fsync=fsync, log_path=log_dir / "postgres.log"
        )
        running.callback(postgres.stop)
        pids = {"nats-server": nats.process.pid, "postgres": postgres.process.pid}
        yield Servers(nats.url, postgres.dsn(), log_dir, pids)


def new_namespace() -> str:
    """A namespace of its own: a stream, consumers and buckets no other run sees."""
    return f"b{secrets.token_hex(5)}"


@contextmanager
def services(
    servers: Servers,
    name: str,
    *,
    namespace: str,
    database_url: str,
    start: tuple[str, ...] = (),
) -> Iterator[System]:
    """A ``System`` in ``namespace`` on ``database_url``, with ``start`` running (in order).

    More services can be started on the handle; all of them stop when the block ends.
    """
    port = free_port()
    env = {
        "NATS_URL": servers.nats_url,
        "DATABASE_URL": database_url,
        "TASKBUS_NAMESPACE": namespace,
        "READMODEL_SCHEMA": READMODEL_SCHEMA,
        "PORT": str(port),
        # The probe ports of workers and projector listen on every interface by default.
        "HEALTH_HOST": LOOPBACK,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
    }
    system = System(namespace, env, servers.log_dir / name, f"http://{LOOPBACK}:{port}")
    system.log_dir.mkdir(parents=True, exist_ok=True)
    # As a deployment does: the built-in types are known before any worker of theirs runs,
    # so an API without workers (the consistency run) takes their tasks.
    run_coroutine(announce_builtin_types(servers.nats_url, namespace))
    try:
        for service in start:
            system.start(service)
        if API in start:
            wait_until_listening(system, port)
        yield system
    finally:
        system.close()


def wait_until_listening(system: System, port: int) -> None:
    """The API logs that it is ready from its lifespan, a moment before uvicorn listens."""
    wait_until_ready(
        system.processes[API],
        lambda: accepts_connections(port),
        what=API,
        timeout=30,
        log_path=system.log_path(API),
    )


def process_ids(servers: Servers, system: System) -> dict[str, int]:
    """Every server's and service's process id by name."""
    return {**servers.pids, **{name: p.pid for name, p in system.processes.items()}}
