"""Keeps services running as child processes, as compose's ``restart: unless-stopped`` would."""

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass

from taskbus.devrun.processes import kill_group

RUNNER = "dev"

# Longest output line read whole; a longer one is dropped with a note instead of ending the pump.
_LINE_LIMIT = 1 << 20

Output = Callable[[str], None]


@dataclass(frozen=True)
class ServiceSpec:
    """A service to keep running: its name (the output prefix), command and environment."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] | None = None


@dataclass(frozen=True)
class RestartPolicy:
    """Restart delays double from ``first_delay`` to ``max_delay``; a long run resets them."""

    first_delay: float = 0.5
    max_delay: float = 15.0
    stable_after: float = 10.0
    stop_grace: float = 10.0


def print_line(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Supervisor:
    """Runs services until told to stop, restarting any that exits, prefixing their output."""

    def __init__(
        self,
        services: Sequence[ServiceSpec],
        *,
        policy: RestartPolicy | None = None,
        output: Output = print_line,
    ) -> None:
        self._services = services
        self._policy = policy or RestartPolicy()
        self._output = output
        self._width = max([len(RUNNER), *(len(spec.name) for spec in services)])

    def say(self, name: str, text: str) -> None:
        """Write one line of output under ``name``'s prefix."""
        self._output(f"{name:<{self._width}} | {text}")

    async def run(self, stop: asyncio.Event) -> None:
        """Run every service until ``stop`` is set, then stop them all and return."""
        async with asyncio.TaskGroup() as group:
            for spec in self._services:
                group.create_task(self._keep_running(spec, stop))
            group.create_task(self._announce_stop(stop))
        self.say(RUNNER, "all services stopped")

    async def _announce_stop(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.say(RUNNER, f"stopping the services (SIGKILL after {self._policy.stop_grace:g}s)")

    async def _keep_running(self, spec: ServiceSpec, stop: asyncio.Event) -> None:
        delay = self._policy.first_delay
        while not stop.is_set():
            started = time.monotonic()
            outcome = await self._run_once(spec, stop)
            if stop.is_set():
                self.say(RUNNER, f"{spec.name} {outcome}")
                return
            if time.monotonic() - started >= self._policy.stable_after:
                delay = self._policy.first_delay
            self.say(RUNNER, f"{spec.name} {outcome}; restarting in {delay:.1f}s")
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, self._policy.max_delay)

    async def _run_once(self, spec: ServiceSpec, stop: asyncio.Event) -> str:
        """Run the service until it exits or ``stop`` is set; describe how it ended."""
        try:
            process = await asyncio.create_subprocess_exec(
                *spec.argv,
                env=spec.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                # Its own session: a terminal's Ctrl-C reaches only the runner, which stops the
                # services before the servers they use, and a stop reaches all the service forked.
                start_new_session=True,
                limit=_LINE_LIMIT,
            )
        except OSError as exc:
            return f"could not start ({exc})"
        self.say(RUNNER, f"{spec.name} started (pid {process.pid})")
        assert process.stdout is not None
        pump = asyncio.create_task(self._pump(spec.name, process.stdout))
        exited = asyncio.create_task(process.wait())
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not exited.done():
                await self._terminate(process, exited)
        finally:
            stopping.cancel()
            kill_group(process.pid)
        # A process that left the group may hold the pipe open: do not wait on it for ever.
        with suppress(TimeoutError):
            await asyncio.wait_for(pump, 1.0)
        return _describe(await exited)

    async def _terminate(
        self, process: asyncio.subprocess.Process, exited: asyncio.Task[int]
    ) -> None:
        """SIGTERM the service itself (it drains), then SIGKILL its group after the grace period."""
        # Only the leader gets SIGTERM: a pool it forked must not die under it while it drains.
        with suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(asyncio.shield(exited), self._policy.stop_grace)
        except TimeoutError:
            kill_group(process.pid)
            await exited

    async def _pump(self, name: str, stream: asyncio.StreamReader) -> None:
        while True:
            try:
                raw = await stream.readline()
            except ValueError:
                self.say(name, f"(a line over {_LINE_LIMIT} bytes was dropped)")
                continue
            if not raw:
                return
            self.say(name, raw.decode(errors="replace").rstrip("\r\n"))


def _describe(returncode: int) -> str:
    if returncode < 0:
        return f"ended by {signal.Signals(-returncode).name}"
    return f"exited with code {returncode}"
