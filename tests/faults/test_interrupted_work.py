"""Work on real inputs survives crashes, bombs, poison and flaky servers without repeats."""

import io
import struct
import time
import uuid
import zlib
from collections import Counter
from typing import Any

from PIL import Image
from support.fixtures import SystemFactory
from support.system import System
from taskbus.devrun.smtp import MailTrap

CSV_WORKER = "taskbus-worker-csv"
EMAIL_WORKER = "taskbus-worker-email"
IMAGE_WORKER = "taskbus-worker-image"


def _png_bomb(width: int, height: int) -> bytes:
    """A valid PNG header claiming ``width`` x ``height`` pixels, with almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\0" * 4096)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


def _jpeg(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (30, 90, 160)).save(buffer, "JPEG")
    return buffer.getvalue()


def _wait_for_starts(system: System, task_id: str, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while sum(e["type"] == "TaskStarted" for e in _events(system, task_id)) < count:
        assert time.monotonic() < deadline, f"task {task_id} was not started {count} times"
        time.sleep(0.05)


def _events(system: System, task_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = system.client.get(f"/api/tasks/{task_id}/events").json()["items"]
    return items


def test_a_decompression_bomb_is_refused_and_the_worker_carries_on(system: System) -> None:
    bomb = system.upload(_png_bomb(30_000, 30_000), "bomb.png", "image/png")
    photo = system.upload(_jpeg((800, 600)), "photo.jpg", "image/jpeg")
    worker = system.processes[IMAGE_WORKER]

    refused = system.submit("image_processing", {"file_ids": [bomb]}, max_attempts=1)
    failed = system.wait_for_status(refused["id"], "SUCCESS", "FAILED")
    after = system.submit("image_processing", {"file_ids": [photo]})
    done = system.wait_for_status(after["id"], "SUCCESS", "FAILED")

    assert failed["status"] == "FAILED"
    assert "image 1: image too large" in failed["error"]
    assert "900000000 pixels" in failed["error"]
    assert done["status"] == "SUCCESS", done["error"]
    assert worker.poll() is None
    assert system.processes[IMAGE_WORKER] is worker


def test_a_transient_smtp_refusal_is_retried_then_succeeds(
    system: System, smtp_server: MailTrap
) -> None:
    address = f"greylisted-{uuid.uuid4().hex[:8]}@example.com"
    smtp_server.fail_temporarily(2, address)

    task = system.submit("email_sending", {"recipients": [address]})
    done = system.wait_for_status(task["id"], "SUCCESS", "FAILED")

    assert done["status"] == "SUCCESS", done["error"]
    assert done["result"]["recipients"][0]["status"] == "sent"
    delivered = [m for m in smtp_server.messages if address in m.recipients]
    assert len(delivered) == 1


def test_a_killed_email_worker_resumes_and_mails_each_recipient_once(
    system_factory: SystemFactory, smtp_server: MailTrap
) -> None:
    tag = uuid.uuid4().hex[:8]
    recipients = [f"r{i}-{tag}@example.com" for i in range(8)]
    with system_factory("kill-email-worker") as system:
        task = system.submit("email_sending", {"recipients": recipients, "delay_per_email": 0.4})
        # Mid-batch: some recipients checkpointed, most not yet mailed.
        system.wait_until(task["id"], lambda t: 25 <= t["progress"] < 75)
        system.kill(EMAIL_WORKER)
        system.start(EMAIL_WORKER)
        done = system.wait_for_status(task["id"], "SUCCESS", "FAILED")

        started = [e for e in _events(system, task["id"]) if e["type"] == "TaskStarted"]

    assert done["status"] == "SUCCESS", done["error"]
    assert done["result"]["sent"] == len(recipients)
    assert len(started) == 2, "the batch should have been picked up again after the kill"
    delivered = Counter(to for m in smtp_server.messages for to in m.recipients if tag in to)
    assert delivered == Counter(recipients)


def test_a_task_that_keeps_killing_its_worker_ends_failed_after_max_deliver(
    system_factory: SystemFactory,
) -> None:
    """What a crash loop looks like from outside: the worker dies each time it takes the task."""
    with system_factory(
        "poison-message",
        services=("taskbus-api", "taskbus-projector", CSV_WORKER),
        extra_env={"WORKER_MAX_DELIVER": "2"},
    ) as system:
        poison = system.submit(
            "csv_processing", {"num_rows": 1000, "processing_time": 600}, max_attempts=1
        )
        for deliveries in (1, 2):
            # Killed once the delivery's TaskStarted is in the log: a first delivery writes it
            # after WORKER_START_EVENT_AFTER_S, a redelivery before its handler runs.
            _wait_for_starts(system, poison["id"], deliveries)
            system.kill(CSV_WORKER)
            system.start(CSV_WORKER)
        failed = system.wait_for_status(poison["id"], "FAILED", timeout=30)
        healthy = system.submit("csv_processing", {"num_rows": 100})
        done = system.wait_for_status(healthy["id"], "SUCCESS", "FAILED")

        failure = next(e for e in _events(system, poison["id"]) if e["type"] == "TaskFailed")

    assert failure["data"]["reason"] == "max_deliver"
    assert "gave up after 2 deliveries" in failed["error"]
    assert done["status"] == "SUCCESS", done["error"]
