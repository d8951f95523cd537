"""``POST /api/tasks/batch``: each item answered on its own, the valid ones stored together."""

import json
import uuid
from typing import Any

import httpx
from httpx_sse import connect_sse
from support.system import System

SMALL = {"task_type": "csv_processing", "parameters": {"num_rows": 10}}


def batch(system: System, tasks: list[Any]) -> httpx.Response:
    return system.client.post("/api/tasks/batch", json={"tasks": tasks})


def test_each_item_gets_its_own_answer(system: System) -> None:
    key = f"batch-{uuid.uuid4()}"
    items = [
        SMALL,
        {"task_type": "csv_processing", "parameters": {"num_rows": -5}},
        "not an object",
        {"task_type": "video_encoding"},
        {**SMALL, "idempotency_key": key},
        {"task_type": "csv_processing", "parameters": {"num_rows": 99}, "idempotency_key": key},
        {**SMALL, "idempotency_key": "has spaces"},
        {"task_type": "csv_processing", "parameters": {"file_id": "f" * 32}},
        {**SMALL, "name": "named"},
    ]

    response = batch(system, items)

    assert response.status_code == 200, response.text
    answers = response.json()["items"]
    assert [a["status"] for a in answers] == [201, 422, 422, 422, 201, 201, 422, 422, 201]
    locations = {i: [e["loc"] for e in answers[i]["detail"]] for i in (1, 2, 3, 6, 7)}
    assert ["body", "tasks", 1, "parameters", "num_rows"] in locations[1]
    assert locations[2] == [["body", "tasks", 2]]
    assert ["body", "tasks", 3, "task_type"] in locations[3]
    assert ["body", "tasks", 6, "idempotency_key"] in locations[6]
    assert ["body", "tasks", 7, "parameters", "file_id"] in locations[7]
    assert answers[4]["task"]["id"] == answers[5]["task"]["id"]
    assert answers[5]["task"]["parameters"]["num_rows"] == 10
    assert answers[8]["task"]["name"] == "named"
    assert answers[0]["task"]["status"] == "PENDING"


def test_a_key_used_by_a_single_submit_names_the_same_task(system: System) -> None:
    key = f"single-{uuid.uuid4()}"
    single = system.client.post("/api/tasks/submit", json=SMALL, headers={"Idempotency-Key": key})
    assert single.status_code == 201

    answers = batch(system, [{**SMALL, "idempotency_key": key}]).json()["items"]

    assert answers == [{"status": 201, "task": answers[0]["task"]}]
    assert answers[0]["task"]["id"] == single.json()["id"]


def test_more_than_a_thousand_items_is_refused_saying_so(system: System) -> None:
    response = batch(system, [SMALL] * 1001)

    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"] == ["body", "tasks"]
    assert "1000" in error["msg"]


def test_a_thousand_tasks_are_readable_at_once_and_all_succeed(system: System) -> None:
    name = f"thousand-{uuid.uuid4().hex[:8]}"
    tasks = [
        {**SMALL, "name": name, "parameters": {"num_rows": 10, "seed": i}} for i in range(1000)
    ]

    response = batch(system, tasks)

    assert response.status_code == 200, response.text
    created = [answer["task"] for answer in response.json()["items"]]
    assert [task["parameters"]["seed"] for task in created] == list(range(1000))
    # Read-your-writes: a plain read right after the batch sees each task.
    for task in created[::50] + created[-1:]:
        read = system.client.get(f"/api/tasks/{task['id']}")
        assert read.status_code == 200
        assert read.json()["id"] == task["id"]
    ids = {task["id"] for task in created}
    assert ids == _successes(system, ids, after=min(task["seq"] for task in created) - 1)


def _successes(system: System, ids: set[str], *, after: int) -> set[str]:
    """Follow the stream of SUCCESS tasks from ``after`` until every one of ``ids`` is in it."""
    seen: set[str] = set()
    with (
        httpx.Client(base_url=system.api_url, timeout=httpx.Timeout(10, read=120)) as client,
        connect_sse(
            client,
            "GET",
            "/api/stream",
            params={"status": "SUCCESS"},
            headers={"Last-Event-ID": str(after)},
        ) as source,
    ):
        for sse in source.iter_sse():
            if sse.event == "task" and (task_id := json.loads(sse.data)["id"]) in ids:
                seen.add(task_id)
                if seen == ids:
                    break
    return seen
