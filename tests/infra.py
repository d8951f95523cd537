"""Real servers for the whole test session: one nats-server, one Postgres, one SMTP trap.

By default NATS and Postgres run from the wheels, as child processes on free ports in a temporary
folder (Postgres without fsync: its data is thrown away). With ``TEST_INFRA=containers`` they run in
Docker through testcontainers instead, and the tests that need them are skipped, with the reason,
when no Docker engine answers. The SMTP trap is always an in-process aiosmtpd server. A 3-node
JetStream cluster (``nats_cluster``) starts only for the tests that ask for it.
"""

import os
import secrets
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import nats
import pytest
from nats.aio.client import Client as NATS
from support.namespaces import drop_namespace
from taskbus.connections import nats_servers
from taskbus.devrun.nats import (
    NatsCluster,
    NatsServer,
    monitor_json,
    start_nats,
    start_nats_cluster,
    start_node,
)
from taskbus.devrun.postgres import DEFAULT_DATABASE, create_database, start_postgres
from taskbus.devrun.processes import POLL_INTERVAL_S, kill_group
from taskbus.devrun.smtp import MailTrap
from taskbus.files import FileStore, ensure_file_bucket
from taskbus.settings import CommonSettings

NATS_IMAGE = "nats:2.11"

_T = TypeVar("_T")
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
    with _sigterm_interrupts():
        yield from _servers(mode, tmp_path_factory)


@pytest.fixture(scope="session")
def nats_url(servers: Servers) -> str:
    """The session's nats-server, JetStream enabled."""
    return servers.nats_url


@pytest.fixture
async def nats_client(nats_url: str) -> AsyncIterator[NATS]:
    """A connection to the session's nats-server, closed after the test."""
    nc = await nats.connect(nats_servers(nats_url))
    yield nc
    await nc.close()


@pytest.fixture
async def file_store(nats_client: NATS) -> AsyncIterator[FileStore]:
    """A file store of its own: its bucket is in a namespace no other test uses."""
    settings = CommonSettings(namespace=f"f{secrets.token_hex(4)}")
    yield await ensure_file_bucket(nats_client.jetstream(), settings)
    await drop_namespace(nats_client.jetstream(), settings.subjects)


class ClusterNodes:
    """A running JetStream cluster whose members a test can kill, stop, pause and restart.

    Members are numbered from 0 in the order of ``urls``; a restarted one keeps its ports and
    store, so it rejoins as itself.
    """

    def __init__(self, cluster: NatsCluster) -> None:
        self._cluster = cluster
        self._paused: set[int] = set()

    @property
    def urls(self) -> list[str]:
        return self._cluster.urls

    @property
    def url(self) -> str:
        """Every member, comma-separated, as ``NATS_URL`` takes them."""
        return self._cluster.url

    @property
    def size(self) -> int:
        return len(self._cluster.servers)

    def server(self, i: int) -> NatsServer:
        return self._cluster.servers[i]

    def is_up(self, i: int) -> bool:
        """Running and not paused."""
        return self.server(i).process.poll() is None and i not in self._paused

    def kill(self, i: int) -> None:
        """SIGKILL: no shutdown, no flush; what the OS already holds of the store survives."""
        process = self.server(i).process
        kill_group(process.pid)
        process.wait()
        self._paused.discard(i)

    def stop(self, i: int) -> None:
        """A graceful shutdown (SIGTERM)."""
        self.resume(i)
        self.server(i).stop()

    def restart(self, i: int, timeout: float = 30.0) -> None:
        """Start a stopped or killed member again and wait until it has caught up."""
        if self.server(i).process.poll() is None:
            raise RuntimeError(f"node {i} is still running")
        self._cluster.servers[i] = start_node(self.server(i).node, timeout=timeout)

    def pause(self, i: int) -> None:
        """SIGSTOP: the member hangs with its connections open, as a stalled machine would."""
        os.killpg(self.server(i).process.pid, signal.SIGSTOP)
        self._paused.add(i)

    def resume(self, i: int) -> None:
        if i in self._paused:
            os.killpg(self.server(i).process.pid, signal.SIGCONT)
            self._paused.discard(i)

    def node_named(self, server_name: str) -> int:
        """The member whose ``server_name`` this is (as JetStream reports leaders and peers)."""
        names = [server.node.server_name for server in self._cluster.servers]
        return names.index(server_name)

    def stream_leader(self, stream: str) -> int | None:
        """The member leading ``stream`` now, by its own account, or None during an election."""
        for i in range(self.size):
            cluster = self._stream_cluster(i, stream) if self.is_up(i) else None
            if cluster is not None and cluster.get("leader") == self.server(i).node.server_name:
                return i
        return None

    def stream_is_current(self, stream: str) -> bool:
        """A leader is elected and every other member follows it, current."""
        leader = self.stream_leader(stream)
        if leader is None:
            return False
        peers = (self._stream_cluster(leader, stream) or {}).get("replicas", [])
        return len(peers) == self.size - 1 and all(
            peer.get("current") and not peer.get("offline") for peer in peers
        )

    def wait_for_stream_leader(self, stream: str, timeout: float = 30.0) -> int:
        return _wait_for(lambda: self.stream_leader(stream), timeout, f"leader of {stream}")

    def wait_until_stream_is_current(self, stream: str, timeout: float = 30.0) -> None:
        _wait_for(
            lambda: self.stream_is_current(stream) or None,
            timeout,
            f"{stream} with every replica current",
        )

    def close(self) -> None:
        for i in list(self._paused):
            self.resume(i)
        self._cluster.stop()

    def _stream_cluster(self, i: int, stream: str) -> dict[str, Any] | None:
        """Member ``i``'s view of the stream's raft group (``/jsz?streams=true``)."""
        jsz = monitor_json(self.server(i).monitor_url, "/jsz?streams=true")
        for account in (jsz or {}).get("account_details", []):
            for detail in account.get("stream_detail", []):
                if detail.get("name") == stream:
                    cluster: dict[str, Any] = detail.get("cluster", {})
                    return cluster
        return None


def _wait_for(condition: Callable[[], _T | None], timeout: float, what: str) -> _T:
    """``condition()`` once it is not None; TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while (result := condition()) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {timeout:.0f} s")
        time.sleep(POLL_INTERVAL_S)
    return result


@pytest.fixture(scope="session")
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterNodes]:
    """A 3-node JetStream cluster on loopback, started the way ``make up`` starts one.

    Shared by the session: a test that kills, stops or pauses a member restarts or resumes it
    before it ends.
    """
    with _sigterm_interrupts():
        nodes = ClusterNodes(start_nats_cluster(tmp_path_factory.mktemp("nats-cluster"), 3))
        try:
            yield nodes
        finally:
            nodes.close()


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


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM as an interrupt while the block runs.

    pytest ends on SIGTERM (`timeout`, a CI's stop) without tearing fixtures down, which would
    leave the servers running; as an interrupt, it tears them down first.
    """
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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
