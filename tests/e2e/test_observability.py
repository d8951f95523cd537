"""Operators' view: metrics that move, readiness that follows NATS, one trace per task."""

import json
import re
import secrets
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from support.fixtures import SystemFactory
from support.system import System
from taskbus.devrun.nats import start_nats


def _counter(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}(?:\{{(.*)\}})? (\S+)", line)
        if match and ",".join(sorted((match.group(1) or "").split(","))) == wanted:
            return float(match.group(2))
    return 0.0


def _eventually(check: Callable[[], bool], *, timeout: float = 20) -> None:
    """Re-check an outside condition until it holds (a state change we cannot subscribe to)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("condition never held")
        time.sleep(0.1)


def test_metrics_count_finished_tasks(system: System) -> None:
    probe = system.probe_url("taskbus-worker-csv")
    labels = {"task_type": "csv_processing", "outcome": "succeeded"}
    before = _counter(httpx.get(f"{probe}/metrics").text, "taskbus_tasks_total", **labels)

    task = system.submit("csv_processing", {"num_rows": 10})
    system.wait_for_status(task["id"], "SUCCESS")

    worker_metrics = httpx.get(f"{probe}/metrics").text
    assert _counter(worker_metrics, "taskbus_tasks_total", **labels) == before + 1
    assert "taskbus_queue_wait_seconds_bucket" in worker_metrics
    assert "taskbus_task_duration_seconds_count" in worker_metrics
    projector = httpx.get(f"{system.probe_url('taskbus-projector')}/metrics").text
    assert _counter(projector, "taskbus_projector_events_folded_total") >= 1
    api = system.client.get("/metrics").text
    assert re.search(r'^taskbus_api_commands_total\{command="submit"\} [1-9]', api, re.M)


def test_readiness_follows_nats_and_services_ride_out_its_restart(
    system_factory: SystemFactory, tmp_path: Path
) -> None:
    nats = start_nats(tmp_path / "nats")
    try:
        with system_factory("readiness", nats=nats.url) as s:
            probes = {
                "api": f"{s.api_url}/readyz",
                "worker": f"{s.probe_url('taskbus-worker-csv')}/readyz",
                "projector": f"{s.probe_url('taskbus-projector')}/readyz",
            }
            assert {k: httpx.get(u).status_code for k, u in probes.items()} == dict.fromkeys(
                probes, 200
            )

            nats.stop()

            for url in probes.values():
                _eventually(lambda url=url: httpx.get(url).status_code == 503)
            assert httpx.get(f"{s.api_url}/healthz").status_code == 200

            nats = start_nats(tmp_path / "nats", port=nats.port)
            assert s.env["NATS_URL"] == nats.url, "the restarted server must take the same port"

            for url in probes.values():
                _eventually(lambda url=url: httpx.get(url).status_code == 200)
            task = s.submit("csv_processing", {"num_rows": 10})
            assert s.wait_for_status(task["id"], "SUCCESS")["status"] == "SUCCESS"
            assert {name: p.poll() for name, p in s.processes.items()} == dict.fromkeys(
                s.processes
            ), "no service may exit over a NATS restart"

            nats.stop()
            exits = {name: s.stop(name) for name in list(s.processes)}
            # uvicorn re-raises the SIGTERM it handled once the API has shut down.
            clean = {**dict.fromkeys(exits, 0), "taskbus-api": -signal.SIGTERM}
            assert exits == clean, "SIGTERM with NATS gone must still exit cleanly"
    finally:
        nats.stop()


def test_trace_id_from_submit_is_on_every_services_log_lines(
    system_factory: SystemFactory,
) -> None:
    trace_id = secrets.token_hex(16)
    services = ("taskbus-api", "taskbus-worker-email", "taskbus-projector")
    with system_factory("tracing", extra_env={"LOG_LEVEL": "DEBUG"}) as s:
        response = s.client.post(
            "/api/tasks/submit",
            json={"task_type": "email_sending", "parameters": {"num_emails": 1}},
            headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"},
        )
        task_id = response.json()["id"]
        s.wait_for_status(task_id, "SUCCESS")
        lines = {service: s.wait_for_log(service, trace_id, task_id) for service in services}

    for line in lines.values():
        record = json.loads(line)
        assert record["trace_id"] == trace_id
        assert record["task_id"] == task_id
