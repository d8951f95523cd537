"""Submitting tasks: each type, validation errors naming the field, idempotency."""

import time
import uuid

import httpx
import pytest
from support.system import System


@pytest.mark.parametrize(
    ("task_type", "parameters"),
    [
        ("csv_processing", {"num_rows": 200}),
        ("email_sending", {"num_emails": 2, "subject": "Hi"}),
        ("image_processing", {"num_images": 1, "target_width": 64, "target_height": 64}),
    ],
)
def test_submit_each_type_returns_pending_task(
    system: System, task_type: str, parameters: dict[str, object]
) -> None:
    response = system.client.post(
        "/api/tasks/submit", json={"task_type": task_type, "parameters": parameters}
    )

    assert response.status_code == 201
    task = response.json()
    assert task["task_type"] == task_type
    assert task["status"] == "PENDING"
    assert task["attempts"] == 1
    assert task["parameters"].items() >= parameters.items()
    uuid.UUID(task["id"])


def test_submit_unknown_type_is_422_naming_the_field(system: System) -> None:
    response = system.client.post(
        "/api/tasks/submit", json={"task_type": "video_encoding", "parameters": {}}
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "task_type"]


@pytest.mark.parametrize(
    ("task_type", "parameters", "field"),
    [
        ("csv_processing", {"num_rows": -5}, "num_rows"),
        ("csv_processing", {"num_rowz": 5}, "num_rowz"),
        ("email_sending", {"recipients": ["not-an-address"]}, "recipients"),
        ("email_sending", {"subject": "Hi\r\nBcc: victim@example.com"}, "subject"),
        ("image_processing", {"format": "BMP"}, "format"),
    ],
)
def test_bad_parameters_are_422_naming_the_field(
    system: System, task_type: str, parameters: dict[str, object], field: str
) -> None:
    response = system.client.post(
        "/api/tasks/submit", json={"task_type": task_type, "parameters": parameters}
    )

    assert response.status_code == 422
    locations = [error["loc"] for error in response.json()["detail"]]
    assert any(loc[:3] == ["body", "parameters", field] for loc in locations), locations


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        '["a list"]',
        '{"task_type": "csv_processing", "parameters": "nope"}',
        '{"task_type": "csv_processing", "max_attempts": 0}',
        '{"task_type": "csv_processing", "timeout_s": -1}',
        '{"task_type": "csv_processing", "name": "nul \\u0000 inside"}',
        '{"task_type": "email_sending", "parameters": {"body": "nul \\u0000 inside"}}',
    ],
)
def test_malformed_bodies_are_422_not_500(system: System, body: str) -> None:
    response = system.client.post(
        "/api/tasks/submit", content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 422


def test_same_idempotency_key_returns_the_same_task_once(system: System) -> None:
    key = f"order-{uuid.uuid4()}"
    body = {"task_type": "csv_processing", "parameters": {"num_rows": 10}, "name": key}

    first = system.client.post("/api/tasks/submit", json=body, headers={"Idempotency-Key": key})
    second = system.client.post("/api/tasks/submit", json=body, headers={"Idempotency-Key": key})

    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert first.json()["created_at"] == second.json()["created_at"]
    listed = system.client.get("/api/tasks/", params={"q": key}).json()["items"]
    assert [t["id"] for t in listed] == [first.json()["id"]]
    events = system.client.get(f"/api/tasks/{first.json()['id']}/events").json()["items"]
    assert [e["type"] for e in events].count("TaskSubmitted") == 1


def test_oversized_body_is_413(system: System) -> None:
    huge = {"task_type": "email_sending", "parameters": {"body": "x" * 2_000_000}}

    response = system.client.post("/api/tasks/submit", json=huge)

    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]


def test_an_idle_connection_outlives_the_keep_alive_of_a_client(system: System) -> None:
    """httpx keeps an idle connection 5 s for reuse: the API must keep it longer, or a POST
    sent on it as the server closes it fails, and httpx does not retry a POST."""
    # A client that keeps it longer still, to see whether the server closed it.
    with httpx.Client(base_url=system.api_url, limits=httpx.Limits(keepalive_expiry=60)) as http:
        first = http.get("/api/tasks/", params={"limit": 1})
        first_port = first.extensions["network_stream"].get_extra_info("client_addr")
        time.sleep(6)
        second = http.post(
            "/api/tasks/submit",
            json={"task_type": "csv_processing", "parameters": {"num_rows": 1}},
        )
        second_port = second.extensions["network_stream"].get_extra_info("client_addr")

    assert (first.status_code, second.status_code) == (200, 201)
    assert first_port == second_port, "the API closed the idle connection"
