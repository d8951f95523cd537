"""The SSE stream: transitions arrive live, and a reconnect resumes without a gap."""

import json

import httpx
from httpx_sse import connect_sse
from support.system import System

Received = list[tuple[int, dict[str, object]]]


def _read(
    system: System, *, headers: dict[str, str], params: dict[str, str], count: int
) -> Received:
    """The first ``count`` task events of a fresh connection, as (id, task)."""
    received: Received = []
    with (
        httpx.Client(base_url=system.api_url, timeout=60) as client,
        connect_sse(client, "GET", "/api/stream", headers=headers, params=params) as source,
    ):
        assert source.response.headers["content-type"].startswith("text/event-stream")
        for sse in source.iter_sse():
            if sse.event == "task":
                received.append((int(sse.id), json.loads(sse.data)))
            if len(received) == count:
                return received
    return received


def test_stream_delivers_each_transition_with_log_sequence_ids(system: System) -> None:
    task = system.submit("csv_processing", {"num_rows": 1000, "processing_time": 1})

    states = []
    for state in system.watch(task["id"]):
        states.append(state)
        if state["status"] == "SUCCESS":
            break

    seqs = [s["seq"] for s in states]
    assert seqs == sorted(set(seqs))
    assert "RUNNING" in {s["status"] for s in states}


def test_last_event_id_resumes_without_gaps(system: System) -> None:
    anchor = system.submit("csv_processing", {"num_rows": 10})["seq"]
    ours = [system.submit("email_sending", {"num_emails": 1}) for _ in range(3)]
    for task in ours:
        system.wait_for_status(task["id"], "SUCCESS")
    only_email = {"task_type": "email_sending"}

    first = _read(system, headers={"Last-Event-ID": str(anchor)}, params=only_email, count=2)
    resumed = _read(
        system, headers={"Last-Event-ID": str(first[-1][0])}, params=only_email, count=1
    )

    ids = [seq for seq, _ in first + resumed]
    assert ids == sorted(set(ids)), "in log order, each change once"
    assert sorted(t["id"] for _, t in first + resumed) == sorted(t["id"] for t in ours)
    assert all(t["status"] == "SUCCESS" for _, t in first + resumed)


def test_bad_last_event_id_is_422(system: System) -> None:
    response = system.client.get("/api/stream", headers={"Last-Event-ID": "abc"})

    assert response.status_code == 422
