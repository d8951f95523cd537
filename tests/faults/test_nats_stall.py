"""nats-server stops answering for 8 s in the middle of an email batch, then carries on.

The worker's calls (checkpoints, progress, heartbeats) fail meanwhile; none of that is the
task's fault, so the batch waits, decides again from the log and ends SUCCESS, each
recipient mailed once (but for one message in flight at the stall, same Message-ID).
"""

import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.fixtures import SystemFactory
from taskbus.devrun.nats import NatsServer, start_nats
from taskbus.devrun.smtp import MailTrap

STALL_S = 8.0


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[NatsServer]:
    """A nats-server of this test's own: pausing the session's would stall every test."""
    server = start_nats(tmp_path / "nats")
    try:
        yield server
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
        server.stop()


def test_an_email_batch_outlives_a_stalled_nats_server(
    system_factory: SystemFactory, own_nats: NatsServer, smtp_server: MailTrap
) -> None:
    tag = uuid.uuid4().hex[:8]
    recipients = [f"r{i}-{tag}@example.com" for i in range(30)]
    with system_factory(
        "nats-stall",
        services=("taskbus-api", "taskbus-projector", "taskbus-worker-email"),
        nats=own_nats.url,
    ) as system:
        task = system.submit("email_sending", {"recipients": recipients, "delay_per_email": 0.1})
        system.wait_until(task["id"], lambda t: t["progress"] >= 20)
        os.kill(own_nats.process.pid, signal.SIGSTOP)
        try:
            # The stall is the case itself: longer than a publish waits for its answer.
            time.sleep(STALL_S)
        finally:
            os.kill(own_nats.process.pid, signal.SIGCONT)
        done = system.wait_for_status(task["id"], "SUCCESS", "FAILED", timeout=90)

    assert done["status"] == "SUCCESS", done["error"]
    assert done["result"]["sent"] == len(recipients)
    delivered = Counter(to for m in smtp_server.messages for to in m.recipients if tag in to)
    assert set(delivered) == set(recipients)
    assert sum(count - 1 for count in delivered.values()) <= 1, delivered
