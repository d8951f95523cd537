"""Server processes the runner owns: each leads its own session; a stop reaches its group."""

import os
import pwd
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path

from taskbus.errors import InfraError

POLL_INTERVAL_S = 0.02


def spawn(
    argv: Sequence[str | Path],
    *,
    log_path: Path,
    run_as: pwd.struct_passwd | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new session, appending its output to ``log_path``.

    A session of its own keeps a terminal's Ctrl-C away from the child, so the runner decides in
    which order things stop, and lets a stop reach every process the child forked.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [str(arg) for arg in argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=cwd,
            user=None if run_as is None else run_as.pw_uid,
            group=None if run_as is None else run_as.pw_gid,
            extra_groups=None if run_as is None else [],
        )


def wait_until_ready(
    process: subprocess.Popen[bytes],
    is_ready: Callable[[], bool],
    *,
    what: str,
    timeout: float,
    log_path: Path,
) -> None:
    """Return once ``is_ready()``; raise with the log's tail if the process dies or times out."""
    deadline = time.monotonic() + timeout
    while not is_ready():
        if process.poll() is not None:
            raise InfraError(
                f"{what} exited with code {process.returncode} while starting; "
                f"end of {log_path}:\n{log_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            raise InfraError(
                f"{what} not ready after {timeout:.0f}s; end of {log_path}:\n{log_tail(log_path)}"
            )
        time.sleep(POLL_INTERVAL_S)


def stop_group(
    process: subprocess.Popen[bytes], first_signal: signal.Signals, grace: float
) -> None:
    """Send ``first_signal`` to the leader, give it ``grace`` seconds, then SIGKILL its group.

    The group is killed even after a clean exit so that nothing the leader forked outlives it.
    """
    if process.poll() is None:
        with suppress(ProcessLookupError):
            process.send_signal(first_signal)
        with suppress(subprocess.TimeoutExpired):
            process.wait(grace)
    kill_group(process.pid)
    process.wait()


def kill_group(pgid: int) -> None:
    """SIGKILL every process left in group ``pgid``; an empty group is fine."""
    # macOS answers EPERM instead of ESRCH when only zombies are left in the group.
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def log_tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:])
