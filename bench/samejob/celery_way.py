"""Celery's side: ``celery_baseline/samejob_client.py`` against a prefork worker of two
processes and Redis, each process tree metered around the measured part only."""

import subprocess
from pathlib import Path

from pydantic import BaseModel

from bench.baseline import HERE, celery_venv, celery_worker, redis_server
from bench.cpu import CpuMeter
from bench.samejob.measured import Measured

WARMUP_TASKS = 50
_EXIT_TIMEOUT_S = 30


class ClientFigures(BaseModel):
    """What ``samejob_client.py`` prints once done."""

    seconds: float
    submit_seconds: float


def run_celery(log_dir: Path, tasks: int) -> Measured:
    with (
        redis_server(log_dir) as redis,
        celery_worker(redis.url, log_dir, "samejob_app") as worker,
        (log_dir / "samejob-client.log").open("w") as client_log,
    ):
        argv = [str(celery_venv() / "bin" / "python"), str(HERE / "samejob_client.py")]
        argv += ["--redis-url", redis.url, "--tasks", str(tasks)]
        argv += ["--warmup", str(WARMUP_TASKS)]
        client = subprocess.Popen(
            argv,
            cwd=HERE,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=client_log,
            text=True,
        )
        try:
            pids = {
                "celery worker": worker.pid,
                "redis-server": redis.pid,
                "celery client": client.pid,
            }
            return _measure(client, pids, tasks, log_dir / "samejob-client.log")
        finally:
            if client.poll() is None:
                client.kill()
            client.wait()


def _measure(
    client: "subprocess.Popen[str]", pids: dict[str, int], tasks: int, log_path: Path
) -> Measured:
    assert client.stdin is not None
    assert client.stdout is not None
    _expect(client.stdout.readline(), "ready", log_path)
    # The client runs the job in its own process: this one only waits, so it is not counted.
    meter = CpuMeter(lambda: pids, count_self=False)
    with meter:
        client.stdin.write("go\n")
        client.stdin.flush()
        line = client.stdout.readline()
    _expect(line, "{", log_path)
    client.stdin.close()
    client.wait(_EXIT_TIMEOUT_S)
    figures = ClientFigures.model_validate_json(line)
    return Measured(tasks, figures.seconds, figures.submit_seconds, meter.seconds)


def _expect(line: str, start: str, log_path: Path) -> None:
    if not line.startswith(start):
        tail = log_path.read_text()[-2000:] if log_path.exists() else ""
        raise RuntimeError(f"the Celery client said {line!r}, not {start!r}…:\n{tail}")
