"""``make bench``: every benchmark of bench/README.md in one run, printed as one table.

Starts its own nats-server and Postgres (from the project's wheels, in a temporary folder)
and, for each benchmark, the services it needs in a namespace and database of its own;
stops all of it at the end, on failure and on Ctrl-C or SIGTERM too. The results also go
to ``bench/results/latest.json`` and the services' logs to ``bench/results/logs/``.
"""

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from taskbus.logs import configure_logging

from bench import baseline, cpu, machine
from bench.catchup import CatchupOptions, run_catchup
from bench.consistency import ConsistencyOptions, run_consistency
from bench.fanout import FanoutOptions, run_fanout
from bench.fold_rate import FoldOptions, run_fold_rate
from bench.harness import Servers, local_servers
from bench.list_pages import ListOptions, run_list_pages
from bench.pipeline import PipelineOptions, run_pipeline
from bench.profiling import Profiler
from bench.report import Result, table, write_json
from bench.samejob import SameJobOptions, run_samejob

RESULTS_DIR = Path(__file__).resolve().parent / "results"
BENCHMARKS = ("celery", "samejob", "pipeline", "consistency", "fold", "catchup", "list", "fanout")
# What needs Redis and Celery (installed by celery_baseline/setup.sh when missing).
NEEDS_CELERY = {"celery", "samejob"}
SIZES: dict[str, dict[str, int]] = {
    "full": {
        "tasks": 1000,
        "samejob_tasks": 2000,
        "accept_tasks": 10_000,
        "latency_samples": 200,
        "fold_events": 100_000,
        "catchup_events": 10_000_000,
        "tasks_in_read_model": 10_000_000,
        "list_samples": 200,
        "fanout_clients": 1000,
        "fanout_seconds": 60,
    },
    "quick": {
        "tasks": 300,
        "samejob_tasks": 500,
        "accept_tasks": 2000,
        "latency_samples": 50,
        "fold_events": 20_000,
        "catchup_events": 500_000,
        "tasks_in_read_model": 100_000,
        "list_samples": 50,
        "fanout_clients": 200,
        "fanout_seconds": 10,
    },
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes: a minute or two")
    parser.add_argument("--only", action="append", choices=BENCHMARKS, help="run only these")
    parser.add_argument("--tasks", type=int, help="tasks for throughput (1000; quick 300)")
    parser.add_argument(
        "--accept-tasks",
        type=int,
        help="small tasks sent with submit_many, and one by one, to time accepting (10k; 2k)",
    )
    parser.add_argument("--concurrency", type=int, default=32, help="submits in flight (32)")
    parser.add_argument(
        "--samejob-tasks", type=int, help="tasks per way, same job on both (2000; quick 500)"
    )
    parser.add_argument(
        "--no-install",
        action="store_true",
        help="skip Celery where Redis or Celery is missing, instead of running its setup.sh",
    )
    parser.add_argument("--latency-samples", type=int, help="sequential tasks timed (200; 50)")
    parser.add_argument("--fold-events", type=int, help="events in the log to fold (100k; 20k)")
    parser.add_argument("--fold-lag", type=int, default=1000, help="tasks between stages (1000)")
    parser.add_argument(
        "--catchup-events", type=int, help="events the projector catches up on (10M; quick 500k)"
    )
    parser.add_argument(
        "--catchup-in-flight", type=int, default=20_000, help="publishes in flight filling it (20k)"
    )
    parser.add_argument(
        "--tasks-in-read-model", type=int, help="rows loaded for list pages (10M; quick 100k)"
    )
    parser.add_argument("--list-samples", type=int, help="requests timed per list case (200; 50)")
    parser.add_argument(
        "--fanout-clients", type=int, help="SSE streams held open for fan-out (1000; quick 200)"
    )
    parser.add_argument("--fanout-seconds", type=int, help="seconds of fan-out load (60; 10)")
    parser.add_argument(
        "--fanout-rate", type=int, default=500, help="changes/s submitted during fan-out (500)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "latest.json")
    parser.add_argument(
        "--profile",
        nargs="?",
        type=Path,
        const=RESULTS_DIR / "profiles",
        help="py-spy flame graphs of the services during throughput and fold (needs py-spy)",
    )
    args = parser.parse_args(argv)
    for key, default in SIZES["quick" if args.quick else "full"].items():
        if getattr(args, key) is None:
            setattr(args, key, default)
    args.only = args.only or list(BENCHMARKS)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    profiler = Profiler(args.profile)
    # The library logs through structlog; only its errors belong between the benchmark lines.
    configure_logging("ERROR", "console")
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)
    log_dir = RESULTS_DIR / "logs"
    shutil.rmtree(log_dir, ignore_errors=True)
    started = datetime.now(UTC)
    load_before = machine.load_average()
    if load_before > (os.cpu_count() or 1):
        _say(f"the machine is busy (load {load_before} on {os.cpu_count()} cores): figures suffer")
    try:
        with (
            tempfile.TemporaryDirectory(prefix="taskbus-bench-") as folder,
            local_servers(Path(folder), log_dir, fsync=True) as servers,
        ):
            results = run_selected(servers, args, profiler)
    except KeyboardInterrupt:
        _say("interrupted; everything started was stopped")
        return 130
    context: dict[str, Any] = {
        "started_at": started.isoformat(),
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": machine.describe(),
        "load_average_1m": {"before": load_before, "after": machine.load_average()},
    }
    report(results, args.output, context)
    return 0


def report(results: list[Result], output: Path, context: dict[str, Any]) -> None:
    """The table and the cores each process used on stdout; everything as JSON to ``output``."""
    print(table(results))
    for result in results:
        if "cpu_cores" in result.details:
            print(f"cores busy during «{result.name}»: {cpu.summary(result.details['cpu_cores'])}")
        if "cpu_ms_per_task" in result.details:
            used = result.details["cpu_ms_per_task"]
            print(f"CPU per task during «{result.name}»: {cpu.per_task(used)}")
    write_json(output, results, context)
    met = [r.passed for r in results if r.passed is not None]
    load = context["load_average_1m"]
    _say(f"load average (1 min) before {load['before']}, after {load['after']}")
    _say(f"{sum(met)} of {len(met)} targets met; results in {output}")


def run_selected(servers: Servers, args: argparse.Namespace, profiler: Profiler) -> list[Result]:
    results: list[Result] = []
    celery_rate = None
    reason = celery_missing(args)
    if "celery" in args.only:
        if reason is not None:
            _say(f"skipping the Celery baseline: {reason}")
        else:
            with _step("Celery + Redis baseline"):
                measured = baseline.run_celery_baseline(
                    servers.log_dir / "celery", args.tasks, args.latency_samples
                )
            results += measured.results
            celery_rate = measured.tasks_per_s
    if "samejob" in args.only:
        if reason is not None:
            _say(f"the same job runs on taskbus only: {reason}")
        same = SameJobOptions(args.samejob_tasks, args.concurrency, with_celery=reason is None)
        systems = "taskbus" if reason is not None else "Celery and taskbus"
        with _step(f"the same job, {args.samejob_tasks:,} csv tasks, on {systems}"):
            results += run_samejob(servers, same, profiler)
    if "pipeline" in args.only:
        pipeline = PipelineOptions(args.latency_samples, args.tasks, args.concurrency)
        with _step("taskbus pipeline: latency, then throughput"):
            results += run_pipeline(servers, pipeline, celery_rate, profiler)
    return results + run_projection_and_reads(servers, args, profiler)


def run_projection_and_reads(
    servers: Servers, args: argparse.Namespace, profiler: Profiler
) -> list[Result]:
    """The benchmarks of the read side: commands and reads, folding, lists and streams."""
    results: list[Result] = []
    if "consistency" in args.only:
        commands = ConsistencyOptions(
            args.latency_samples, args.tasks, args.concurrency, args.accept_tasks
        )
        with _step("commands and the reads right after them"):
            results += run_consistency(servers, commands)
    if "fold" in args.only:
        with _step(f"projector fold rate over {args.fold_events:,} events"):
            results += run_fold_rate(
                servers, FoldOptions(args.fold_events, args.fold_lag), profiler
            )
    if "catchup" in args.only:
        with _step(f"projector catch-up over {args.catchup_events:,} events"):
            catchup = CatchupOptions(args.catchup_events, args.fold_lag, args.catchup_in_flight)
            results += run_catchup(servers, catchup, profiler)
    if "list" in args.only:
        with _step(f"list pages over {args.tasks_in_read_model:,} tasks"):
            pages = ListOptions(args.tasks_in_read_model, args.list_samples)
            results += run_list_pages(servers, pages)
    if "fanout" in args.only:
        fanout = FanoutOptions(args.fanout_clients, args.fanout_rate, args.fanout_seconds)
        with _step(f"SSE fan-out to {args.fanout_clients:,} streams at {args.fanout_rate}/s"):
            results += run_fanout(servers, fanout, profiler)
    return results


def celery_missing(args: argparse.Namespace) -> str | None:
    """Why Celery cannot run here, after installing it when it is wanted and allowed."""
    if not NEEDS_CELERY & set(args.only):
        return None
    reason = baseline.unavailable()
    if reason is not None and not args.no_install:
        with _step(f"installing Redis and Celery ({reason})"):
            installed = baseline.install()
        reason = baseline.unavailable() if installed else "celery_baseline/setup.sh failed"
    return reason


@contextmanager
def _step(what: str) -> Iterator[None]:
    _say(f"{what} ...")
    started = time.perf_counter()
    yield
    _say(f"{what}: done in {time.perf_counter() - started:.0f} s")


def _say(text: str) -> None:
    print(f"bench | {text}", file=sys.stderr, flush=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """Stop the run once; further signals must not cut the clean-up short."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt(signal.Signals(signum).name)
