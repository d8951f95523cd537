"""The whole system as processes, for end-to-end tests: five services against real infra.

Each ``System`` gets its own NATS namespace (stream, consumers, buckets) and its own
Postgres database, so systems share one nats-server and one Postgres without seeing each
other's tasks.
"""

import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import nats
from httpx_sse import connect_sse
from nats.errors import Error as NatsError
from taskbus.app import announce_app
from taskbus.connections import close_nats, connect_nats, nats_servers
from taskbus.devrun.postgres import run_coroutine
from taskbus.settings import CommonSettings
from taskbus.subjects import Subjects
from taskbus_worker_csv.tasks import app as csv_app
from taskbus_worker_email.tasks import app as email_app
from taskbus_worker_image.tasks import app as image_app

from support.namespaces import drop_namespace

SERVICES = (
    "taskbus-api",
    "taskbus-projector",
    "taskbus-worker-csv",
    "taskbus-worker-email",
    "taskbus-worker-image",
)
_BIN = Path(sys.executable).parent
_READY_LINES = {
    # Logged once uvicorn listens; "api ready" comes a moment before the socket is bound.
    "taskbus-api": "Uvicorn running",
    "taskbus-projector": "projector following the log",
    "taskbus-worker-csv": "worker ready",
    "taskbus-worker-email": "worker ready",
    "taskbus-worker-image": "worker ready",
    # `taskbus worker MODULE:APP`, a user's app.
    "taskbus": "worker ready",
}

Task = dict[str, Any]
BUILTIN_APPS = (csv_app, email_app, image_app)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class System:
    namespace: str
    env: dict[str, str]
    log_dir: Path
    api_url: str
    service_env: dict[str, dict[str, str]] = field(default_factory=dict)
    """What each service (by its command) gets beyond ``env``: its own credentials."""
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    client: httpx.Client = field(init=False)
    health_ports: dict[str, int] = field(default_factory=dict)
    _lines: dict[str, list[str]] = field(default_factory=dict)
    _output: threading.Condition = field(default_factory=threading.Condition)
    _replica_clients: list[httpx.Client] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.api_url, timeout=30)

    # -- processes ---------------------------------------------------------------------------

    def start(
        self, service: str, *args: str, env: dict[str, str] | None = None, name: str | None = None
    ) -> None:
        """Start a service and return once it logged that it is ready.

        ``name`` (default: the service) tells replicas of one service apart. Workers and the
        projector get a probe port of their own (``probe_url``).
        """
        name = name or service
        after = len(self._lines.setdefault(name, []))
        if service != "taskbus-api":
            self.health_ports.setdefault(name, free_port())
            env = {"HEALTH_PORT": str(self.health_ports[name]), **(env or {})}
        process = subprocess.Popen(
            [str(_BIN / service), *args],
            env={**os.environ, **self.env, **self.service_env.get(service, {}), **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = process
        threading.Thread(target=self._pump_output, args=(name, process), daemon=True).start()
        self.wait_for_log(name, _READY_LINES[service], after=after)

    def start_api_replica(self, name: str) -> httpx.Client:
        """Another API process on a port of its own, as behind a load balancer; its client."""
        port = free_port()
        self.start("taskbus-api", env={"PORT": str(port)}, name=name)
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        self._replica_clients.append(client)
        return client

    def _pump_output(self, service: str, process: subprocess.Popen[bytes]) -> None:
        """Copy a service's output to its log file and wake anyone waiting on a line."""
        assert process.stdout is not None
        with self.log_path(service).open("ab") as log:
            for raw in process.stdout:
                log.write(raw)
                log.flush()
                with self._output:
                    self._lines[service].append(raw.decode(errors="replace"))
                    self._output.notify_all()
        with self._output:
            self._output.notify_all()

    def stop(self, service: str, sig: signal.Signals = signal.SIGTERM, timeout: float = 15) -> int:
        process = self.processes.pop(service)
        if process.poll() is None:
            process.send_signal(sig)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            return process.wait()

    def kill(self, service: str) -> None:
        """kill -9: no shutdown handler runs, in-flight work is simply abandoned."""
        self.stop(service, signal.SIGKILL)

    def close(self) -> None:
        self.client.close()
        for client in self._replica_clients:
            client.close()
        for service in list(self.processes):
            self.stop(service)

    def probe_url(self, service: str) -> str:
        """Where a worker's or the projector's /healthz, /readyz and /metrics answer."""
        return f"http://127.0.0.1:{self.health_ports[service]}"

    def log_path(self, service: str) -> Path:
        return self.log_dir / f"{service}.log"

    def log_lines(self, service: str) -> list[str]:
        with self._output:
            return list(self._lines.get(service, []))

    def wait_for_log(self, service: str, *needles: str, after: int = 0, timeout: float = 30) -> str:
        """Wait for a line of the service's output (from line ``after``) holding every needle."""

        def found() -> str | None:
            for line in self._lines.get(service, [])[after:]:
                if all(needle in line for needle in needles):
                    return line
            return None

        def exited() -> bool:
            process = self.processes.get(service)
            return process is not None and process.poll() is not None

        with self._output:
            self._output.wait_for(lambda: found() is not None or exited(), timeout)
            line = found()
        if line is None:
            tail = "".join(self.log_lines(service)[-40:])
            raise TimeoutError(f"{service} did not log {needles!r}:\n{tail}")
        return line

    # -- API ---------------------------------------------------------------------------------

    def submit(
        self,
        task_type: str,
        parameters: dict[str, Any] | None = None,
        *,
        wait: float = 10,
        **extra: Any,
    ) -> Task:
        """Submit and, unless ``wait`` is 0, answer once the read model shows the task."""
        response = self.client.post(
            "/api/tasks/submit",
            json={"task_type": task_type, "parameters": parameters or {}, **extra},
            params={"wait": wait},
        )
        assert response.status_code == 201, response.text
        task: Task = response.json()
        return task

    def upload(self, data: bytes, name: str, content_type: str) -> str:
        """Upload a file through the API; returns its ``file_id``."""
        response = self.client.post("/api/files", files={"file": (name, data, content_type)})
        assert response.status_code == 201, response.text
        file_id: str = response.json()["file_id"]
        return file_id

    def submit_failing(self, **extra: Any) -> Task:
        """A CSV task bound to fail: its input is a binary file, not CSV text."""
        file_id = self.upload(b"\x00\x01binary", "garbage.csv", "text/csv")
        return self.submit("csv_processing", {"file_id": file_id}, **extra)

    def get(self, task_id: str) -> Task:
        response = self.client.get(f"/api/tasks/{task_id}")
        assert response.status_code == 200, response.text
        task: Task = response.json()
        return task

    def watch(self, task_id: str, *, timeout: float = 60) -> Iterator[Task]:
        """Every state of the task from its current one on, as the SSE stream delivers it.

        Raises TimeoutError when ``timeout`` passes (keep-alive pings do not count).
        """
        client = httpx.Client(base_url=self.api_url, timeout=httpx.Timeout(timeout))
        deadline = threading.Timer(timeout, client.close)
        deadline.start()
        try:
            with connect_sse(
                client,
                "GET",
                "/api/stream",
                params={"task_id": task_id},
                headers={"Last-Event-ID": "0"},
            ) as source:
                for sse in source.iter_sse():
                    if sse.event == "task":
                        yield json.loads(sse.data)
        except (httpx.HTTPError, RuntimeError) as exc:
            if not deadline.is_alive():
                raise TimeoutError(
                    f"no satisfying update of task {task_id} in {timeout} s"
                ) from exc
            raise
        finally:
            deadline.cancel()
            client.close()

    def wait_until(
        self, task_id: str, predicate: Callable[[Task], bool], *, timeout: float = 60
    ) -> Task:
        """Follow the task over SSE until ``predicate`` holds; no polling, no sleeping."""
        for task in self.watch(task_id, timeout=timeout):
            if predicate(task):
                return task
        raise AssertionError(f"the stream of task {task_id} ended early")

    def wait_until_projected(self, *, timeout: float = 30) -> None:
        """Wait until the read model has folded everything in the log so far.

        The lag is only reported, not pushed, so this re-reads ``/api/health``.
        """
        deadline = time.monotonic() + timeout
        while self.client.get("/api/health").json()["projector_lag"] != 0:
            if time.monotonic() > deadline:
                raise TimeoutError("the projector did not catch up with the log")
            time.sleep(0.05)

    def wait_for_status(self, task_id: str, *statuses: str, timeout: float = 60) -> Task:
        return self.wait_until(task_id, lambda t: t["status"] in statuses, timeout=timeout)


def create_database(database_url: str) -> str:
    """A new, empty database on the server of ``database_url``; returns its URL."""
    name = f"t_{secrets.token_hex(6)}"

    async def create() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return urlsplit(database_url)._replace(path=f"/{name}").geturl()


async def announce_builtin_types(nats_url: str, namespace: str) -> None:
    """As a deployment does before it starts the API: the built-in types are in the catalog
    even while no worker of theirs runs, so their tasks are taken and wait PENDING."""
    settings = CommonSettings.model_validate({"nats_url": nats_url, "namespace": namespace})
    nc = await connect_nats(settings.nats_url, name="test-announce")
    try:
        for app in BUILTIN_APPS:
            await announce_app(nc.jetstream(), settings, app)
    finally:
        await close_nats(nc)


async def _quiet(_: Exception) -> None:
    """A refused connection is an answer here, not an error worth a traceback."""


async def _drop(nats_url: str, namespace: str) -> None:
    """Best effort: a test may have stopped its own server for good, leaving nothing to drop."""
    try:
        # nats-py keeps trying a refused first connect: the bound is ours.
        async with asyncio.timeout(3):
            nc = await nats.connect(
                nats_servers(nats_url), allow_reconnect=False, connect_timeout=1, error_cb=_quiet
            )
    except (TimeoutError, OSError, NatsError):
        return
    try:
        await drop_namespace(nc.jetstream(), Subjects(namespace))
    finally:
        await nc.close()


@contextmanager
def running_system(
    *,
    nats_url: str,
    database_url: str,
    smtp_host: str,
    smtp_port: int,
    log_dir: Path,
    services: tuple[str, ...] = SERVICES,
    extra_env: dict[str, str] | None = None,
    namespace: str | None = None,
    service_env: dict[str, dict[str, str]] | None = None,
) -> Iterator[System]:
    """The services against a namespace of their own (``namespace``, or a fresh one) and a new
    database made on ``database_url``'s server, unless ``service_env`` gives each service the
    ``DATABASE_URL`` it must use (a secured system: see tests/security)."""
    fresh = namespace is None
    namespace = namespace or f"t{secrets.token_hex(5)}"
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    given = any("DATABASE_URL" in own for own in (service_env or {}).values())
    env = {
        "NATS_URL": nats_url,
        **({} if given else {"DATABASE_URL": create_database(database_url)}),
        "TASKBUS_NAMESPACE": namespace,
        "PORT": str(port),
        "SMTP_HOST": smtp_host,
        "SMTP_PORT": str(smtp_port),
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        # Short enough that a killed worker's task comes back within seconds.
        "WORKER_ACK_WAIT_S": "3",
        "WORKER_RETRY_BASE_S": "0.2",
        "WORKER_RETRY_MAX_S": "1",
        **(extra_env or {}),
    }
    system = System(namespace, env, log_dir, f"http://127.0.0.1:{port}", service_env or {})
    if fresh:
        # A namespace given is its owner's to provision (the secured servers' admin does).
        run_coroutine(announce_builtin_types(nats_url, namespace))
    try:
        for service in services:
            system.start(service)
        yield system
    finally:
        system.close()
        if fresh:
            run_coroutine(_drop(nats_url, namespace))
