"""Real servers for the whole test session: one nats-server, one Postgres, one SMTP trap.

By default NATS and Postgres run from the wheels, as child processes on free ports in a temporary
folder (Postgres without fsync: its data is thrown away). With ``TEST_INFRA=containers`` they run in
Docker through testcontainers instead, and the tests that need them are skipped, with the reason,
when no Docker engine answers. The SMTP trap is always an in-process aiosmtpd server.
"""

import os
import secrets
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import nats
import pytest
from nats.aio.client import Client as NATS
from taskbus.devrun.nats import start_nats
from taskbus.devrun.postgres import DEFAULT_DATABASE, create_database, start_postgres
from taskbus.devrun.smtp import MailTrap
from taskbus.files import FileStore, ensure_file_bucket
from taskbus.settings import CommonSettings

NATS_IMAGE = "nats:2.11"
POSTGRES_IMAGE = "postgres:17"


@dataclass(frozen=True)
class Servers:
    """Where the session's NATS and Postgres listen."""

    nats_url: str
    database_url: str


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """NATS and Postgres for the session, as ``TEST_INFRA`` (``local`` or ``containers``) says."""
    mode = os.environ.get("TEST_INFRA", "local")
    # pytest ends on SIGTERM (`timeout`, a CI's stop) without tearing fixtures down, which
    # would leave the servers running; as an interrupt, it tears them down first.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield from _servers(mode, tmp_path_factory)
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="session")
def nats_url(servers: Servers) -> str:
    """The session's nats-server, JetStream enabled."""
    return servers.nats_url


@pytest.fixture
async def nats_client(nats_url: str) -> AsyncIterator[NATS]:
    """A connection to the session's nats-server, closed after the test."""
    nc = await nats.connect(nats_url)
    yield nc
    await nc.close()


@pytest.fixture
async def file_store(nats_client: NATS) -> FileStore:
    """A file store of its own: its bucket is in a namespace no other test uses."""
    settings = CommonSettings(namespace=f"f{secrets.token_hex(4)}")
    return await ensure_file_bucket(nats_client.jetstream(), settings)


@pytest.fixture(scope="session")
def database_url(servers: Servers) -> str:
    """The session's ``taskbus`` database; a test that needs isolation makes its own."""
    return servers.database_url


@pytest.fixture(scope="session")
def new_database(database_url: str) -> Callable[[], str]:
    """Make a new, empty database on the session's Postgres and return its URL.

    For a database per module, call it from a module-scoped fixture; per test, use
    ``fresh_database_url``.
    """

    def create() -> str:
        return create_database(database_url, f"test_{secrets.token_hex(6)}")

    return create


@pytest.fixture
def fresh_database_url(new_database: Callable[[], str]) -> str:
    """A new, empty database for this test alone."""
    return new_database()


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[MailTrap]:
    """The session's SMTP trap: what it accepted, and refusals tests can ask it for."""
    trap = MailTrap().start()
    try:
        yield trap
    finally:
        trap.stop()


@pytest.fixture
def fresh_smtp_server(smtp_server: MailTrap) -> MailTrap:
    """The session's SMTP trap with no message kept and no refusal set.

    Services still running from earlier tests may deliver more mail after the reset, so tests
    should look for their own recipients or subject rather than count everything.
    """
    smtp_server.reset()
    return smtp_server


def _servers(mode: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    if mode == "local":
        yield from _local_servers(tmp_path_factory.mktemp("servers"))
    elif mode == "containers":
        yield from _container_servers()
    else:
        raise pytest.UsageError(f"TEST_INFRA must be 'local' or 'containers', not {mode!r}")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _local_servers(folder: Path) -> Iterator[Servers]:
    with ExitStack() as running:
        nats = start_nats(folder / "nats")
        running.callback(nats.stop)
        postgres = start_postgres(folder / "postgres", fsync=False)
        running.callback(postgres.stop)
        yield Servers(nats_url=nats.url, database_url=postgres.dsn())


def _container_servers() -> Iterator[Servers]:
    unreachable = _docker_unreachable()
    if unreachable is not None:
        pytest.skip(f"TEST_INFRA=containers but Docker is not reachable: {unreachable}")
    # Imported here: testcontainers talks to Docker, which the default path never needs.
    from testcontainers.community.nats import NatsContainer
    from testcontainers.community.postgres import PostgresContainer

    postgres_container = PostgresContainer(
        POSTGRES_IMAGE, username="postgres", password="postgres", dbname=DEFAULT_DATABASE
    ).with_command("-c max_connections=200 -c fsync=off")
    with NatsContainer(NATS_IMAGE, jetstream=True) as nats, postgres_container as postgres:
        yield Servers(
            nats_url=nats.nats_uri(), database_url=postgres.get_connection_url(driver=None)
        )


def _docker_unreachable() -> str | None:
    """Why no Docker engine answers, or None when one does."""
    import docker

    try:
        docker.from_env().ping()
    except docker.errors.DockerException as exc:
        return str(exc)
    return None
