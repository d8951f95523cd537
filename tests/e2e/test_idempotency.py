"""``Idempotency-Key`` holds for as long as the task exists, not only within NATS's dedupe window.

The stream here forgets message ids after one second; a key reused after that must still
answer with the first task and append nothing, so no mail goes out twice.
"""

import time
import uuid
from collections.abc import Iterator

import pytest
from support.fixtures import SystemFactory
from support.system import System
from taskbus.devrun.smtp import MailTrap

pytestmark = pytest.mark.e2e

_WINDOW_S = 1.0


@pytest.fixture(scope="module")
def short_window(system_factory: SystemFactory) -> Iterator[System]:
    with system_factory(
        "idempotency",
        services=("taskbus-api", "taskbus-projector", "taskbus-worker-email"),
        extra_env={"NATS_DUPLICATE_WINDOW_S": str(_WINDOW_S)},
    ) as system:
        yield system


def test_a_key_reused_after_the_dedupe_window_sends_nothing_twice(
    short_window: System, smtp_server: MailTrap
) -> None:
    system = short_window
    subject = f"once {uuid.uuid4()}"
    recipients = [f"idem-{i}-{uuid.uuid4().hex[:8]}@example.test" for i in range(3)]
    body = {
        "task_type": "email_sending",
        "parameters": {"recipients": recipients, "subject": subject, "body": "hi {email}"},
    }
    key = {"Idempotency-Key": f"mail-{uuid.uuid4()}"}

    first = system.client.post("/api/tasks/submit", json=body, headers=key)
    submitted_at = time.monotonic()
    assert first.status_code == 201, first.text
    done = system.wait_for_status(first.json()["id"], "SUCCESS")
    # The dedupe window is a span of time: nothing to wait on but the clock.
    time.sleep(max(0.0, submitted_at + 2 * _WINDOW_S - time.monotonic()))
    again = system.client.post("/api/tasks/submit", json=body, headers=key)

    assert again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["status"] == "SUCCESS"
    assert again.json()["seq"] == done["seq"]
    events = system.client.get(f"/api/tasks/{first.json()['id']}/events").json()["items"]
    assert [event["type"] for event in events].count("TaskSubmitted") == 1
    sent = [m for m in smtp_server.messages if m.subject == subject]
    assert sorted(r for m in sent for r in m.recipients) == sorted(recipients)


def test_a_key_names_its_task_whatever_else_the_request_says(short_window: System) -> None:
    system = short_window
    key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    email = {"task_type": "email_sending", "parameters": {"num_emails": 1}, "name": "first"}
    csv = {"task_type": "csv_processing", "parameters": {"num_rows": 5}, "name": "second"}

    first = system.client.post("/api/tasks/submit", json=email, headers=key)
    second = system.client.post("/api/tasks/submit", json=csv, headers=key)

    assert first.status_code == second.status_code == 201
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["task_type"] == "email_sending"
    assert second.json()["name"] == "first"
