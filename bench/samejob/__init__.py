"""The same user-visible job on taskbus and on Celery + Redis, in one run (issue 12).

The job: ``tasks`` small csv tasks (ten rows drawn, written and parsed as CSV, statistics
per numeric column), each system driven by its natural client, timed until the client has
seen every result. Besides tasks/s, every process tree's CPU per task is reported, the
client's own included: on two cores the client competes with the system it measures.
"""

from dataclasses import dataclass

from bench.harness import Servers
from bench.profiling import Profiler
from bench.report import Result, Target
from bench.samejob.celery_way import run_celery
from bench.samejob.client_floor import httpx_floor
from bench.samejob.measured import Measured, combined
from bench.samejob.taskbus_ways import run_taskbus
from bench.samejob.taskbus_ways import ways as taskbus_ways

ISSUE = "issue 12"
# taskbus ÷ Celery, tasks/s end to end, per way.
RATIO_TARGETS = {"a": Target(">=", 2, ISSUE), "b": Target(">=", 1, ISSUE)}
# (way, what, process trees, at most ms of CPU per task): the issue's CPU budget.
CPU_TARGETS = (
    ("a", "api, per task in a batch", ("taskbus-api",), 0.05),
    ("b", "api, per single submit", ("taskbus-api",), 0.5),
    ("a", "worker-csv", ("taskbus-worker-csv",), 1.0),
    ("a", "projector", ("taskbus-projector",), 0.15),
    ("a", "nats-server + postgres", ("nats-server", "postgres"), 0.6),
)


@dataclass(frozen=True)
class SameJobOptions:
    tasks: int
    concurrency: int
    with_celery: bool
    """False when Redis or Celery is missing: taskbus is then measured without a bar."""


def run_samejob(servers: Servers, options: SameJobOptions, profiler: Profiler) -> list[Result]:
    """Celery before and after taskbus: the machine's speed drifts while others use it, and
    bracketing keeps a drift from favouring either side of the ratio."""
    log_dir = servers.log_dir / "samejob-celery"
    celery_runs = []
    if options.with_celery:
        celery_runs.append(run_celery(log_dir / "before", options.tasks))
    taskbus = run_taskbus(servers, options.tasks, options.concurrency, profiler)
    if options.with_celery:
        celery_runs.append(run_celery(log_dir / "after", options.tasks))
    return [*_rows(options, celery_runs, taskbus), httpx_floor(options.tasks, options.concurrency)]


def _rows(
    options: SameJobOptions, celery_runs: list[Measured], taskbus: dict[str, Measured]
) -> list[Result]:
    size = f"{options.tasks:,} csv tasks of 10 rows"
    celery = combined(celery_runs) if celery_runs else None
    rows = []
    if celery is not None:
        each = " and ".join(f"{run.tasks_per_s:.0f}" for run in celery_runs)
        note = f"{size}, before and after taskbus ({each}/s); prefork 2"
        note += f"; apply_async {celery.submits_per_s:,.0f}/s"
        rows.append(_throughput("Celery + Redis, apply_async + .get()", celery, note))
    for way in taskbus_ways(options.concurrency):
        measured = taskbus[way.key]
        note = f"{size}; submit {measured.submits_per_s:,.0f}/s; until all SUCCESS on SSE"
        rows.append(_throughput(f"taskbus ({way.key}) {way.label}", measured, note))
    if celery is not None:
        for key, target in RATIO_TARGETS.items():
            rows.append(_ratio(key, taskbus[key], celery, target))
    for key, what, names, budget in CPU_TARGETS:
        rows.append(
            Result(
                f"same job: CPU per task, {what} ({key})",
                round(taskbus[key].cpu_ms_per_task(*names), 3),
                "ms",
                Target("<=", budget, ISSUE),
            )
        )
    return rows


def _ratio(key: str, taskbus: Measured, celery: Measured, target: Target) -> Result:
    """tasks/s of a taskbus way over Celery's; the note also compares all CPU per task, which
    on two full cores is what the ratio of tasks/s follows."""
    return Result(
        f"same job: taskbus ({key}) ÷ Celery, tasks/s",
        round(taskbus.tasks_per_s / celery.tasks_per_s, 2),
        "times",
        target,
        note=f"{taskbus.tasks_per_s:.0f} vs {celery.tasks_per_s:.0f} tasks/s; all CPU per task"
        f" {taskbus.total_cpu_ms_per_task:.1f} vs {celery.total_cpu_ms_per_task:.1f} ms",
    )


def _throughput(label: str, measured: Measured, note: str) -> Result:
    return Result(
        f"same job: {label}",
        round(measured.tasks_per_s, 1),
        "tasks/s",
        note=note,
        details={
            "seconds": round(measured.seconds, 3),
            "submits_per_s": round(measured.submits_per_s, 1),
            "cpu_ms_per_task": measured.cpu_ms_by_process(),
        },
    )


__all__ = ["SameJobOptions", "run_samejob"]
