"""One way of doing the job, timed and metered: what both sides of the comparison report."""

from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class Measured:
    tasks: int
    seconds: float
    """From the first submit until the last task's result was seen by the client."""
    submit_seconds: float
    """From the first submit until the last one was accepted."""
    cpu_seconds: dict[str, float]
    """CPU each process tree used meanwhile, by name (see ``bench.cpu.CpuMeter``)."""

    @property
    def tasks_per_s(self) -> float:
        return self.tasks / self.seconds

    @property
    def submits_per_s(self) -> float:
        return self.tasks / self.submit_seconds

    def cpu_ms_per_task(self, *names: str) -> float:
        """CPU per task of the named process trees together, in milliseconds."""
        return sum(self.cpu_seconds[name] for name in names) * 1000 / self.tasks

    @property
    def total_cpu_ms_per_task(self) -> float:
        return self.cpu_ms_per_task(*self.cpu_seconds)

    def cpu_ms_by_process(self) -> dict[str, float]:
        """CPU per task of each process tree (ms), busiest first."""
        by_process = {name: round(self.cpu_ms_per_task(name), 3) for name in self.cpu_seconds}
        return dict(sorted(by_process.items(), key=lambda item: -item[1]))


def combined(runs: list[Measured]) -> Measured:
    """The runs as one: their tasks, times and CPU added up."""
    cpu: Counter[str] = Counter()
    for run in runs:
        cpu.update(run.cpu_seconds)
    return Measured(
        sum(run.tasks for run in runs),
        sum(run.seconds for run in runs),
        sum(run.submit_seconds for run in runs),
        dict(cpu),
    )
