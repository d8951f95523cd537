"""``GET /api/tasks/{id}/events`` in pages: from the read model and from the log alike."""

import time
import uuid
from typing import Any

import pytest
from support.fixtures import SystemFactory
from support.system import System

# Each email sent is checkpointed: a batch of 40 logs about 50 events.
BATCH = {"num_emails": 40}


def _pages(system: System, task_id: str, limit: int) -> list[dict[str, Any]]:
    pages, after = [], "0"
    while after is not None:
        response = system.client.get(
            f"/api/tasks/{task_id}/events", params={"after": after, "limit": limit}
        )
        assert response.status_code == 200, response.text
        pages.append(response.json())
        after = pages[-1]["next_cursor"]
    return pages


def _finished_from_the_log(system: System, task_id: str, timeout: float = 60) -> None:
    """Wait until a read (folded from the log while the projector is away) shows it done."""
    deadline = time.monotonic() + timeout
    while system.get(task_id)["status"] != "SUCCESS":
        if time.monotonic() > deadline:
            raise TimeoutError(f"task {task_id} did not finish")
        time.sleep(0.05)


def test_pages_follow_one_another_to_the_end_of_the_history(system: System) -> None:
    task = system.submit("email_sending", BATCH)
    system.wait_for_status(task["id"], "SUCCESS")

    whole = system.client.get(f"/api/tasks/{task['id']}/events").json()
    pages = _pages(system, task["id"], limit=7)

    assert whole["next_cursor"] is None
    assert len(whole["items"]) > 40
    assert [e for page in pages for e in page["items"]] == whole["items"]
    assert all(len(page["items"]) == 7 for page in pages[:-1])
    assert [page["next_cursor"] for page in pages[:-1]] == [
        str(page["items"][-1]["seq"]) for page in pages[:-1]
    ]
    last_seq = whole["items"][-1]["seq"]
    after_the_end = system.client.get(
        f"/api/tasks/{task['id']}/events", params={"after": last_seq}
    ).json()
    assert after_the_end == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"after": -1}, "after")],
)
def test_a_page_out_of_bounds_is_refused(
    system: System, params: dict[str, int], field: str
) -> None:
    response = system.client.get(f"/api/tasks/{uuid.uuid4()}/events", params=params)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", field]


def test_the_log_and_the_read_model_page_alike(system_factory: SystemFactory) -> None:
    with system_factory(
        "events-paging",
        services=("taskbus-api", "taskbus-projector", "taskbus-worker-email"),
    ) as system:
        system.stop("taskbus-projector")
        task = system.submit("email_sending", BATCH, wait=0)
        _finished_from_the_log(system, task["id"])
        from_the_log = _pages(system, task["id"], limit=9)

        system.start("taskbus-projector")
        system.wait_until_projected()
        from_the_read_model = _pages(system, task["id"], limit=9)

    assert len(from_the_log) > 1
    assert from_the_log == from_the_read_model
