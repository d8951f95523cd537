"""A worker stalled past ack_wait, then resumed: its old delivery is fenced by the new one.

JetStream redelivers a message whose worker stopped answering; when the stalled process
wakes up, it holds the old delivery and fetches the new one, and both run side by side.
The old one must stop before its next side effect; the new one resumes from the checkpoint.
"""

import os
import signal
import time
import uuid
from collections import Counter

from support.fixtures import SystemFactory
from taskbus.devrun.smtp import MailTrap

EMAIL_WORKER = "taskbus-worker-email"
ACK_WAIT_S = 2.0


def test_a_worker_stalled_past_ack_wait_mails_no_recipient_twice_once_resumed(
    system_factory: SystemFactory, smtp_server: MailTrap
) -> None:
    tag = uuid.uuid4().hex[:8]
    recipients = [f"r{i}-{tag}@example.com" for i in range(20)]
    with system_factory(
        "stalled-email-worker", extra_env={"WORKER_ACK_WAIT_S": str(ACK_WAIT_S)}
    ) as system:
        task = system.submit("email_sending", {"recipients": recipients, "delay_per_email": 0.2})
        system.wait_until(task["id"], lambda t: t["progress"] >= 20)
        pid = system.processes[EMAIL_WORKER].pid
        after = len(system.log_lines(EMAIL_WORKER))
        os.kill(pid, signal.SIGSTOP)
        try:
            # The stall is the case itself: long enough for JetStream to give the work up.
            time.sleep(ACK_WAIT_S * 2)
        finally:
            os.kill(pid, signal.SIGCONT)
        done = system.wait_for_status(task["id"], "SUCCESS", "FAILED")
        system.wait_for_log(EMAIL_WORKER, "standing down", task["id"], after=after)

    assert done["status"] == "SUCCESS", done["error"]
    assert done["result"]["sent"] == len(recipients)
    delivered = Counter(to for m in smtp_server.messages for to in m.recipients if tag in to)
    assert set(delivered) == set(recipients)
    # Only a message in flight when the worker stopped can go out twice (same Message-ID).
    twice = [to for to, count in delivered.items() if count > 1]
    assert len(twice) <= 1, twice
    assert max(delivered.values()) <= 2
