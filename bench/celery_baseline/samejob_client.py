"""Run with the Celery venv's Python: the Celery side of the same-job comparison.

Sends ``--tasks`` csv tasks with ``apply_async``, then collects each with ``.get()``, as a
Celery user would. The parent meters the CPU of every process around the measured part,
so the client says ``ready`` after its warm-up, starts on a line from stdin, prints its
figures as one JSON line and stays alive until stdin closes (a process that has exited
has no CPU times left to read).
"""

import argparse
import json
import sys
import time

from ping import wait_for_worker
from samejob_app import app, small_csv

PARAMETERS = {"num_rows": 10}
RESULT_TIMEOUT_S = 300.0


def run(tasks: int) -> dict[str, float]:
    started = time.perf_counter()
    results = [small_csv.apply_async(kwargs=PARAMETERS) for _ in range(tasks)]
    sent = time.perf_counter()
    for result in results:
        if result.get(timeout=RESULT_TIMEOUT_S)["rows"] != PARAMETERS["num_rows"]:
            raise SystemExit(f"task {result.id} did not count {PARAMETERS['num_rows']} rows")
    return {"seconds": time.perf_counter() - started, "submit_seconds": sent - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()
    app.conf.update(broker_url=args.redis_url, result_backend=args.redis_url)
    wait_for_worker(app, timeout=30)
    run(args.warmup)
    print("ready", flush=True)
    sys.stdin.readline()
    print(json.dumps(run(args.tasks)), flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
