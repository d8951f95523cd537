"""An email batch's log stays small whatever its recipients do, and what servers answer is
reported as it came, whatever its bytes (issue 9, "bounded work")."""

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator

import nats
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from support.fixtures import SystemFactory
from support.system import System, free_port
from taskbus.devrun.smtp import MailTrap
from taskbus.subjects import Subjects

EMAIL_SERVICES = ("taskbus-api", "taskbus-projector", "taskbus-worker-email")
EMAIL_WORKER = "taskbus-worker-email"
LATIN1_REFUSAL = b"550 Empf\xe4nger unbekannt"


async def _log_bytes(system: System, task_id: str) -> tuple[int, int]:
    """The task's events in the stream: how many, and the payload bytes of all but its submit
    (which holds the recipients)."""
    nc = await nats.connect(system.env["NATS_URL"])
    try:
        subject = Subjects(system.namespace).history(uuid.UUID(task_id))
        sub = await nc.jetstream().subscribe(subject, ordered_consumer=True)
        count = size = 0
        while True:
            msg = await sub.next_msg(timeout=10)
            count += 1
            if ".submitted." not in msg.subject:
                size += len(msg.data)
            if msg.metadata.num_pending == 0:
                return count, size
    finally:
        await nc.close()


def test_2000_refused_recipients_log_kilobytes_and_end_failed(
    system: System, smtp_server: MailTrap
) -> None:
    tag = uuid.uuid4().hex[:8]
    recipients = [f"gone{i}-{tag}@example.com" for i in range(2000)]
    smtp_server.reject(*recipients)

    task = system.submit("email_sending", {"recipients": recipients})
    done = system.wait_for_status(task["id"], "SUCCESS", "FAILED", timeout=120)
    events, size = asyncio.run(_log_bytes(system, task["id"]))

    assert done["status"] == "FAILED"
    assert done["error"] == (
        f"no recipient was sent a message: gone0-{tag}@example.com failed with "
        "550 5.1.1 Mailbox unavailable (and 1999 others)"
    )
    # Every checkpoint used to list every failed index: 8.7 MB in 2,013 events.
    assert size < 30_000, (events, size)


def test_a_mixed_batch_killed_midway_resumes_exactly_with_small_checkpoints(
    system_factory: SystemFactory, smtp_server: MailTrap
) -> None:
    tag = uuid.uuid4().hex[:8]
    recipients = [f"m{i}-{tag}@example.com" for i in range(200)]
    refused = recipients[::3]
    smtp_server.reject(*refused)
    with system_factory("email-bounded-kill", services=EMAIL_SERVICES) as system:
        task = system.submit("email_sending", {"recipients": recipients, "delay_per_email": 0.02})
        system.wait_until(task["id"], lambda t: 25 <= t["progress"] < 75)
        system.kill(EMAIL_WORKER)
        system.start(EMAIL_WORKER)
        done = system.wait_for_status(task["id"], "SUCCESS", "FAILED")
        events = system.client.get(f"/api/tasks/{task['id']}/events").json()["items"]

    assert done["status"] == "SUCCESS", done["error"]
    assert [e["type"] for e in events].count("TaskStarted") == 2
    result = done["result"]
    assert (result["sent"], result["failed"]) == (200 - len(refused), len(refused))
    statuses = {row["to"]: row["status"] for row in result["recipients"]}
    assert {to for to, status in statuses.items() if status == "failed"} == set(refused)
    described = [row for row in result["recipients"] if row["error"]]
    assert len(described) == 10
    assert result["errors_not_listed"] == len(refused) - 10
    delivered = Counter(to for m in smtp_server.messages for to in m.recipients if tag in to)
    assert delivered == Counter(set(recipients) - set(refused))
    checkpoints = [e for e in events if e["type"] == "TaskCheckpoint"]
    assert max(len(str(e["data"])) for e in checkpoints) < 2_000


class _Latin1Server:
    """Refuses addresses starting with "unknown" in Latin-1, as some servers still do."""

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str | bytes:
        if address.startswith("unknown"):
            return LATIN1_REFUSAL
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return "250 OK"


@pytest.fixture
def latin1_smtp() -> Iterator[int]:
    port = free_port()
    controller = Controller(
        _Latin1Server(), hostname="127.0.0.1", port=port, server_hostname="latin1"
    )
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def test_a_reply_that_is_not_utf8_is_reported_with_its_byte_shown(
    system_factory: SystemFactory, latin1_smtp: int
) -> None:
    recipients = ["ada@example.com", "unknown@example.com", "bob@example.com"]
    with system_factory(
        "email-latin1",
        services=EMAIL_SERVICES,
        extra_env={"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(latin1_smtp)},
    ) as system:
        task = system.submit("email_sending", {"recipients": recipients})
        done = system.wait_for_status(task["id"], "SUCCESS", "FAILED")

    assert done["status"] == "SUCCESS", done["error"]
    assert (done["result"]["sent"], done["result"]["failed"]) == (2, 1)
    refused = done["result"]["recipients"][1]
    assert (refused["to"], refused["status"]) == ("unknown@example.com", "failed")
    assert refused["error"] == "550 Empf\\xe4nger unbekannt"
