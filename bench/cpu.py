"""Which process used the CPU during a measurement: on two cores, this says what limits it."""

import os
import time
from collections.abc import Callable, Mapping
from types import TracebackType

import psutil

BENCH_CLIENT = "bench client"


def _cpu_seconds(pid: int, *, with_children: bool) -> float:
    """CPU time of a process (user + system), with its whole tree when ``with_children``.

    Children that already ended count through their parent's ``children_*`` times.
    """
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)] if with_children else [root]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
        if with_children:
            total += times.children_user + times.children_system
    return total


class CpuMeter:
    """Cores used by each named process tree between entering and leaving the block.

    ``processes`` names the process ids, asked anew at each end of the block: a process
    started inside it counts from its start. The benchmark's own process is counted
    without its children, which are the servers and services measured separately, unless
    ``count_self`` is false (when the load comes from another process, named in ``processes``).
    """

    def __init__(
        self, processes: Callable[[], Mapping[str, int]], *, count_self: bool = True
    ) -> None:
        self._processes = processes
        self._count_self = count_self
        self._before: dict[str, float] = {}
        self._started = 0.0
        self.cores: dict[str, float] = {}
        self.seconds: dict[str, float] = {}
        """CPU seconds each process tree used within the block."""

    def _snapshot(self) -> dict[str, float]:
        pids = self._processes()
        shot = {name: _cpu_seconds(pid, with_children=True) for name, pid in pids.items()}
        if self._count_self:
            shot[BENCH_CLIENT] = _cpu_seconds(os.getpid(), with_children=False)
        return shot

    def __enter__(self) -> "CpuMeter":
        self._before = self._snapshot()
        self._started = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        wall = time.perf_counter() - self._started
        after = self._snapshot()
        self.seconds = {name: after[name] - self._before.get(name, 0.0) for name in after}
        self.cores = {name: round(used / wall, 2) for name, used in self.seconds.items()}


def summary(cores: Mapping[str, float]) -> str:
    """``api 0.93, worker-csv 0.61, …``: cores used, busiest first."""
    busiest = sorted(cores.items(), key=lambda item: -item[1])
    return ", ".join(f"{name.removeprefix('taskbus-')} {used:.2f}" for name, used in busiest)


def per_task(ms: Mapping[str, float]) -> str:
    """``worker-csv 6.20, api 2.40, … = 19.5 ms``: CPU per task, busiest first, and the sum."""
    busiest = sorted(ms.items(), key=lambda item: -item[1])
    listed = ", ".join(f"{name.removeprefix('taskbus-')} {used:.2f}" for name, used in busiest)
    return f"{listed} = {sum(ms.values()):.2f} ms"
