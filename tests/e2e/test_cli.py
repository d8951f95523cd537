"""The ``taskbus`` console script, run as a user runs it, against the system's API."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from support.system import System

TASKBUS = Path(sys.executable).parent / "taskbus"


def taskbus(system: System, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TASKBUS_API_URL": system.api_url, "COLUMNS": "200"}
    return subprocess.run(
        [str(TASKBUS), *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def test_follow_exits_0_and_prints_the_result_on_success(system: System) -> None:
    done = taskbus(system, "submit", "csv_processing", "-p", "num_rows=10", "--follow")

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows"] == 10
    assert "SUCCESS" in done.stderr


def test_follow_exits_1_when_the_task_fails(system: System) -> None:
    file_id = system.upload(b"\x00\x01binary", "garbage.csv", "text/csv")

    done = taskbus(system, "submit", "csv_processing", "-p", f"file_id={file_id}", "-f")

    assert done.returncode == 1
    assert "FAILED" in done.stderr


def test_a_refused_submit_exits_2_with_the_apis_message(system: System) -> None:
    done = taskbus(system, "submit", "csv_processing", "-p", "num_rows=-5")

    assert done.returncode == 2
    assert "HTTP 422" in done.stderr
    assert "parameters.num_rows" in done.stderr


def test_an_unreachable_api_exits_1(system: System) -> None:
    done = taskbus(system, "--api-url", "http://127.0.0.1:9", "tasks", "list")

    assert done.returncode == 1
    assert "cannot reach the API at http://127.0.0.1:9" in done.stderr


def test_submit_prints_the_id_and_show_lists_the_task(system: System) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    submitted = taskbus(system, "submit", "csv_processing", "-p", "num_rows=12", "--name", name)
    assert submitted.returncode == 0, submitted.stderr
    task_id = submitted.stdout.strip()
    system.wait_for_status(task_id, "SUCCESS")

    shown = taskbus(system, "tasks", "show", task_id)
    assert shown.returncode == 0, shown.stderr
    assert task_id in shown.stdout
    assert "SUCCESS" in shown.stdout
    assert '"rows": 12' in shown.stdout

    listed = taskbus(system, "tasks", "list", "--status", "SUCCESS", "--type", "csv_processing")
    assert listed.returncode == 0, listed.stderr
    assert task_id in listed.stdout
    assert name in listed.stdout


def test_cancel_and_retry(system: System) -> None:
    task = system.submit("csv_processing", {"num_rows": 1000, "processing_time": 60}, wait=0)

    cancelled = taskbus(system, "tasks", "cancel", task["id"], "--reason", "from the CLI")
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout.split() == [task["id"], "CANCELLED"]

    retried = taskbus(system, "tasks", "retry", task["id"])
    assert retried.returncode == 0, retried.stderr
    assert retried.stdout.split() == [task["id"], "PENDING", "attempt", "2"]

    taskbus(system, "tasks", "cancel", task["id"])
    again = taskbus(system, "tasks", "retry", str(uuid.uuid4()))
    assert again.returncode == 2
    assert "HTTP 404" in again.stderr


def test_types_without_a_catalog_says_so(system: System) -> None:
    done = taskbus(system, "types")

    if done.returncode == 0:  # an API with the catalog lists the built-in types
        assert "csv_processing" in done.stdout
    else:
        assert done.returncode == 1
        assert "no task catalog" in done.stderr
