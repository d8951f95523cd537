"""Run with the Celery venv's Python: the Celery + Redis figures, printed as one JSON object.

Throughput: ``--tasks`` no-op tasks sent back to back, timed from the first send until
every result is in the result backend (Celery's read model). Latency: one task at a time,
send → result, after a few unmeasured ones.
"""

import argparse
import json
import time

from celery.result import ResultSet
from noop_app import app, noop
from ping import wait_for_worker

WARMUP_TASKS = 20
RESULT_TIMEOUT_S = 120.0


def throughput(tasks: int) -> dict[str, float]:
    started = time.perf_counter()
    results = [noop.delay() for _ in range(tasks)]
    sent = time.perf_counter()
    ResultSet(results).join_native(timeout=RESULT_TIMEOUT_S)
    done = time.perf_counter()
    return {"seconds": done - started, "submit_seconds": sent - started}


def latency(samples: int) -> list[float]:
    timings = []
    for i in range(WARMUP_TASKS + samples):
        started = time.perf_counter()
        noop.delay().get(timeout=10)
        if i >= WARMUP_TASKS:
            timings.append((time.perf_counter() - started) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--latency-samples", type=int, default=200)
    args = parser.parse_args()
    app.conf.update(broker_url=args.redis_url, result_backend=args.redis_url)
    wait_for_worker(app, timeout=30)
    figures = {
        "latency_ms": latency(args.latency_samples),
        **throughput(args.tasks),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
