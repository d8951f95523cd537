"""Tasks lost and duplicated across leader kills: ``.venv/bin/python bench/failover.py``.

Starts a 3-node JetStream cluster and Postgres (as ``make up`` and the tests do, in a temporary
folder), the csv pipeline with ``NATS_STREAM_REPLICAS=3``, and a steady load of small csv
tasks over HTTP; SIGKILLs the TASKS stream's leader ``--kills`` times (restarting it after each
takeover), then prints how many submits were accepted and refused, and how many accepted tasks
were lost, left unfinished or succeeded twice. The services' logs go to
``bench/results/logs/failover/``. Not part of ``make bench`` or ``make test``.
"""

import argparse
import signal
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parents[1]
LOG_DIR = ROOT / "bench" / "results" / "logs" / "failover"
CSV_PIPELINE = ("taskbus-api", "taskbus-projector", "taskbus-worker-csv")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20, help="leader kills (default 20)")
    parser.add_argument(
        "--interval", type=float, default=0.04, help="seconds between submits (default 0.04)"
    )
    args = parser.parse_args()
    # Run as a script: tests/ holds the harness (the services as processes, the drill).
    sys.path[:0] = [str(ROOT / "tests")]
    signal.signal(signal.SIGTERM, _interrupt)
    with tempfile.TemporaryDirectory(prefix="taskbus-failover-") as folder:
        return run(Path(folder), kills=args.kills, interval=args.interval)


def run(folder: Path, *, kills: int, interval: float) -> int:
    """The drill; 0 when nothing accepted was lost, left unfinished or run twice."""
    from infra import ClusterNodes
    from support.failover import SteadyLoad, audit, kill_stream_leader
    from support.system import running_system
    from taskbus.devrun.nats import start_nats_cluster
    from taskbus.devrun.postgres import start_postgres
    from taskbus.subjects import Subjects

    with ExitStack() as running:
        cluster = ClusterNodes(start_nats_cluster(folder / "nats", 3))
        running.callback(cluster.close)
        postgres = start_postgres(folder / "postgres", fsync=False)
        running.callback(postgres.stop)
        system = running.enter_context(
            running_system(
                nats_url=cluster.url,
                database_url=postgres.dsn(),
                # Only the email worker sends mail, and it does not run here.
                smtp_host="127.0.0.1",
                smtp_port=25,
                log_dir=LOG_DIR,
                services=CSV_PIPELINE,
                extra_env={"NATS_STREAM_REPLICAS": "3"},
            )
        )
        stream = Subjects(system.namespace).stream
        cluster.wait_until_stream_is_current(stream)
        with SteadyLoad(system.api_url, interval=interval) as load:
            for kill in range(1, kills + 1):
                failover = kill_stream_leader(cluster, stream, load)
                print(
                    f"kill {kill}/{kills}: {failover.killed}; accepting again after "
                    f"{failover.accepting_after_s:.1f} s, rejoined after "
                    f"{failover.rejoined_after_s:.1f} s",
                    flush=True,
                )
        result = audit(system, load.submissions.accepted)
    refused = sum(load.submissions.refused.values())
    print(f"leader kills        {kills}")
    print(f"submits accepted    {result.accepted}")
    print(f"submits refused     {refused} {dict(load.submissions.refused)}")
    print(f"tasks lost          {len(result.lost)}")
    print(f"tasks unfinished    {len(result.unfinished)} {result.unfinished or ''}")
    print(f"tasks duplicated    {len(result.duplicated)} {result.duplicated or ''}")
    return 1 if result.lost or result.unfinished or result.duplicated else 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # As an interrupt, SIGTERM unwinds the ExitStack: no server or service outlives the run.
    raise KeyboardInterrupt(signal.Signals(signum).name)


if __name__ == "__main__":
    sys.exit(main())
