"""The supervisor with stand-in services: restarts, prefixed output, stops that leave nothing."""

import asyncio
import re
import signal
import subprocess
import sys
from collections.abc import Callable

import psutil
from taskbus.devrun.supervisor import RestartPolicy, ServiceSpec, Supervisor

WAIT_S = 10.0
FAST = RestartPolicy(first_delay=0.01, max_delay=0.05, stop_grace=0.5)

CRASHES = "print('working', flush=True); raise SystemExit(3)"
IGNORES_SIGTERM = (
    "import os, signal; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
    "print('ignoring SIGTERM', os.getpid(), flush=True); signal.pause()"
)
# A shell that leaves a child of its own behind when SIGTERM ends it.
FORKS = '"$0" -c "import signal; signal.pause()" & echo "forked $!"; wait'

# Runs a supervisor as its own process, as make up does, with two stand-in services.
SUPERVISOR_PROGRAM = f"""
import asyncio, sys
from taskbus.devrun.supervisor import RestartPolicy, ServiceSpec, Supervisor
from taskbus.lifecycle import install_stop_signals

async def main():
    stop = asyncio.Event()
    install_stop_signals(stop)
    services = [
        ServiceSpec("forks", ["sh", "-c", {FORKS!r}, sys.executable]),
        ServiceSpec("stubborn", [sys.executable, "-c", {IGNORES_SIGTERM!r}]),
    ]
    await Supervisor(services, policy=RestartPolicy(stop_grace=1.0)).run(stop)

asyncio.run(main())
"""


class Transcript:
    """Collects output lines and lets a test wait until they satisfy a condition."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._grew = asyncio.Event()

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        self._grew.set()

    def count(self, fragment: str) -> int:
        return sum(fragment in line for line in self.lines)

    async def wait_for(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT_S):
            while not condition():
                self._grew.clear()
                await self._grew.wait()


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs; a zombie waiting for its reaper does not."""
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def pids_in(lines: list[str], pattern: str) -> list[int]:
    return [int(match[1]) for line in lines if (match := re.search(pattern, line))]


async def supervise(
    services: list[ServiceSpec], transcript: Transcript
) -> tuple[asyncio.Event, asyncio.Task[None]]:
    stop = asyncio.Event()
    running = asyncio.create_task(Supervisor(services, policy=FAST, output=transcript).run(stop))
    return stop, running


async def test_a_service_that_exits_is_restarted_with_its_output_prefixed() -> None:
    transcript = Transcript()
    stop, running = await supervise(
        [ServiceSpec("crasher", [sys.executable, "-c", CRASHES])], transcript
    )

    await transcript.wait_for(lambda: transcript.count("crasher | working") >= 3)
    stop.set()
    await running

    assert transcript.count("dev     | crasher exited with code 3; restarting in") >= 2


async def test_a_service_that_cannot_start_is_retried() -> None:
    transcript = Transcript()
    stop, running = await supervise([ServiceSpec("ghost", ["/nonexistent/ghost"])], transcript)

    await transcript.wait_for(lambda: transcript.count("ghost could not start") >= 2)
    stop.set()
    await running


async def test_stop_kills_a_service_that_ignores_sigterm_after_the_grace_period() -> None:
    transcript = Transcript()
    stop, running = await supervise(
        [ServiceSpec("stubborn", [sys.executable, "-c", IGNORES_SIGTERM])], transcript
    )
    await transcript.wait_for(lambda: transcript.count("ignoring SIGTERM") == 1)
    [pid] = pids_in(transcript.lines, r"ignoring SIGTERM (\d+)")

    stop.set()
    await running

    assert transcript.count("stubborn ended by SIGKILL") == 1
    assert not alive(pid)


async def test_sigterm_to_the_supervisor_leaves_no_process_behind() -> None:
    supervisor = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SUPERVISOR_PROGRAM,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert supervisor.stdout is not None
    transcript = Transcript()
    try:
        async with asyncio.timeout(WAIT_S):
            while transcript.count("forked") + transcript.count("ignoring SIGTERM") < 2:
                line = await supervisor.stdout.readline()
                assert line, "the supervisor ended before its services were up"
                transcript(line.decode().rstrip())
        supervisor.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(supervisor.communicate(), WAIT_S)
    finally:
        if supervisor.returncode is None:
            # SIGTERM, not SIGKILL, even here: the stand-in services must not outlive the test.
            supervisor.terminate()
            await supervisor.wait()
    transcript.lines += output.decode().splitlines()

    pids = pids_in(transcript.lines, r"started \(pid (\d+)\)") + pids_in(
        transcript.lines, r"forked (\d+)"
    )
    assert supervisor.returncode == 0
    assert len(pids) == 3
    assert [pid for pid in pids if alive(pid)] == []
    assert transcript.count("stubborn ended by SIGKILL") == 1
