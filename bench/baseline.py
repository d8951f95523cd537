"""The bar to beat : Celery 5 with a prefork pool of 2 and Redis, no-op tasks.

Celery lives in a venv of its own (``CELERY_VENV``, made by ``celery_baseline/setup.sh``),
never in the project's; Redis is Debian's ``redis-server``. Both run on loopback for the
measurement only. Without either, the baseline is skipped and says why.
"""

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel
from taskbus.devrun.ports import LOOPBACK, accepts_connections, free_port
from taskbus.devrun.processes import spawn, stop_group, wait_until_ready

from bench.report import Result, percentile

HERE = Path(__file__).resolve().parent / "celery_baseline"
DEFAULT_VENV = Path("/tmp/taskbus-celery-venv")
MEASURE_TIMEOUT_S = 600


class CeleryFigures(BaseModel):
    """What ``celery_baseline/measure.py`` prints."""

    latency_ms: list[float]
    seconds: float
    submit_seconds: float


@dataclass(frozen=True)
class Baseline:
    """What the baseline measured, to print beside taskbus and to set its throughput bar."""

    results: list[Result]
    tasks_per_s: float


def celery_venv() -> Path:
    return Path(os.environ.get("CELERY_VENV", DEFAULT_VENV))


def unavailable() -> str | None:
    """Why the baseline cannot run here, or None when it can."""
    if shutil.which("redis-server") is None:
        return "redis-server not found; run bench/celery_baseline/setup.sh"
    if not (celery_venv() / "bin" / "celery").exists():
        return f"no Celery in {celery_venv()}; run bench/celery_baseline/setup.sh"
    return None


def install() -> bool:
    """Run ``celery_baseline/setup.sh``: Debian's redis-server (apt) and the Celery venv (pip).

    Its output goes to stderr with the run's progress; returns whether it succeeded.
    """
    argv = ["bash", str(HERE / "setup.sh"), str(celery_venv())]
    return subprocess.run(argv, stdout=sys.stderr, check=False).returncode == 0


def run_celery_baseline(log_dir: Path, tasks: int, latency_samples: int) -> Baseline:
    with redis_server(log_dir) as redis, celery_worker(redis.url, log_dir, "noop_app"):
        measured = subprocess.run(
            [
                str(celery_venv() / "bin" / "python"),
                str(HERE / "measure.py"),
                *("--redis-url", redis.url),
                *("--tasks", str(tasks), "--latency-samples", str(latency_samples)),
            ],
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=MEASURE_TIMEOUT_S,
            check=False,
        )
    if measured.returncode != 0:
        raise RuntimeError(f"the Celery baseline failed:\n{measured.stderr[-2000:]}")
    return _results(CeleryFigures.model_validate_json(measured.stdout), tasks, latency_samples)


def _results(figures: CeleryFigures, tasks: int, samples: int) -> Baseline:
    seconds, latencies = figures.seconds, figures.latency_ms
    rate = tasks / seconds
    results = [
        Result(
            f"Celery + Redis: end-to-end throughput, {tasks} no-op tasks",
            round(rate, 1),
            "tasks/s",
            note=f"send → all results in the backend, {seconds:.2f} s; prefork 2",
        ),
        Result("Celery + Redis: send rate", round(tasks / figures.submit_seconds, 1), "tasks/s"),
        Result(
            "Celery + Redis: send → result, p50",
            round(percentile(latencies, 50), 2),
            "ms",
            note=f"p99 {percentile(latencies, 99):.1f} ms over {samples} sequential tasks",
        ),
    ]
    return Baseline(results, rate)


@dataclass(frozen=True)
class RedisServer:
    url: str
    pid: int


@contextmanager
def redis_server(log_dir: Path) -> Iterator[RedisServer]:
    """A throwaway redis-server on a free loopback port (nothing saved)."""
    port = free_port()
    log_path = log_dir / "redis.log"
    argv = ["redis-server", "--bind", LOOPBACK, "--port", str(port)]
    argv += ["--save", "", "--appendonly", "no", "--dir", str(log_dir)]
    with _running(argv, log_path, cwd=log_dir) as process:
        wait_until_ready(
            process,
            lambda: accepts_connections(port),
            what="redis-server",
            timeout=30,
            log_path=log_path,
        )
        yield RedisServer(f"redis://{LOOPBACK}:{port}/0", process.pid)


@contextmanager
def celery_worker(
    redis_url: str, log_dir: Path, app_module: str
) -> Iterator[subprocess.Popen[bytes]]:
    """``celery worker`` of ``celery_baseline/<app_module>.py`` with the prefork pool of two
    processes, until the block ends."""
    argv = [str(celery_venv() / "bin" / "celery"), "-A", app_module]
    argv += ["-b", redis_url, "--result-backend", redis_url]
    argv += ["worker", "--pool=prefork", "--concurrency=2", "--loglevel=INFO"]
    with _running(argv, log_dir / f"celery-worker-{app_module}.log", cwd=HERE) as process:
        yield process


@contextmanager
def _running(argv: list[str], log_path: Path, *, cwd: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``argv`` in a session of its own; SIGTERM (then SIGKILL) to its whole group after."""
    process = spawn(argv, log_path=log_path, cwd=cwd)
    try:
        yield process
    finally:
        stop_group(process, signal.SIGTERM, 10.0)
