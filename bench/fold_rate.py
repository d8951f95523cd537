"""Projector fold rate: a log filled beforehand, folded by a projector process from scratch.

The log holds the four events of a small task's life (submitted, started, progress,
succeeded) for ``events / 4`` tasks, interleaved as a busy system writes them: each stage
trails the one before by ``lag`` tasks, so a task's events land in different fetched
batches and the projector must load the states it folded before back from Postgres.
The rate is taken between the projector's first and last commit (it NOTIFYs each one),
so process start-up and migrations are left out; the note gives the rate with them.
"""

import asyncio
import time
from dataclasses import dataclass

from bench.harness import Servers, new_namespace
from bench.lives import EVENTS_PER_TASK, fill_log, interleaved_lives
from bench.profiling import Profiler
from bench.projector_run import check_read_model, run_projector
from bench.report import Result, Target

TARGET = Target(">=", 20_000)


@dataclass(frozen=True)
class FoldOptions:
    events: int
    lag: int


def run_fold_rate(servers: Servers, options: FoldOptions, profiler: Profiler) -> list[Result]:
    namespace = new_namespace()
    tasks = options.events // EVENTS_PER_TASK
    filled = time.perf_counter()
    last_seq = asyncio.run(
        fill_log(servers.nats_url, namespace, interleaved_lives(tasks, options.lag))
    )
    fill_s = time.perf_counter() - filled
    database_url = servers.new_database()
    run = run_projector(servers, "fold", namespace, database_url, last_seq, profiler)
    asyncio.run(check_read_model(database_url, tasks))
    (first_at, first_position), (last_at, _) = run.commits.seen[0], run.commits.seen[-1]
    rate = (last_seq - first_position) / (last_at - first_at)
    from_start = last_at - run.spawned
    note = f"{len(run.commits.seen)} commits; {last_seq / from_start:,.0f}/s counting start-up"
    if run.batch_seconds is not None:
        note += f"; fold+write+commit {run.batch_seconds:.1f} s of {from_start:.1f} s"
    details = {
        "events": last_seq,
        "tasks": tasks,
        "lag_tasks": options.lag,
        "commits": len(run.commits.seen),
        "fill_events_per_s": round(last_seq / fill_s),
        "seconds_first_to_last_commit": round(last_at - first_at, 3),
        "seconds_from_process_start": round(from_start, 3),
        "seconds_folding_and_committing": run.batch_seconds,
        "cpu_cores": run.cores,
    }
    return [
        Result(
            f"projector fold rate, {last_seq:,} events",
            round(rate),
            "events/s",
            TARGET,
            note=note,
            details=details,
        )
    ]
