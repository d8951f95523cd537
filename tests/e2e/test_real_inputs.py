"""Tasks on the user's own data: an uploaded CSV, a real mailing, uploaded photos."""

import csv
import io
import math
import random
import statistics
import uuid
from collections import Counter
from typing import Any

from PIL import Image
from support.system import System
from taskbus.devrun.smtp import MailTrap

NUMERIC = ("price", "quantity")


def _sales_csv(rows: int) -> bytes:
    rng = random.Random(42)
    cities = ["Oslo", "Lima", "Pune", "Kyiv", "Accra", 'São "Paulo", SP']
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["price", "quantity", "city"])
    for _ in range(rows):
        price = "" if rng.random() < 0.1 else f"{rng.uniform(-50, 500):.2f}"
        quantity = "" if rng.random() < 0.05 else str(rng.randint(1, 40))
        city = "" if rng.random() < 0.08 else rng.choice(cities)
        writer.writerow([price, quantity, city])
    return out.getvalue().encode()


def _finished(system: System, task_id: str) -> dict[str, Any]:
    task: dict[str, Any] = system.wait_for_status(task_id, "SUCCESS", "FAILED", timeout=120)
    return task


def test_csv_statistics_of_an_upload_equal_an_independent_computation(system: System) -> None:
    data = _sales_csv(20_000)
    file_id = system.upload(data, "sales.csv", "text/csv")

    task = system.submit("csv_processing", {"file_id": file_id})
    done = _finished(system, task["id"])

    assert done["status"] == "SUCCESS", done["error"]
    result = done["result"]
    rows = list(csv.DictReader(io.StringIO(data.decode(), newline="")))
    assert result["rows"] == len(rows) == 20_000
    for name in NUMERIC:
        values = [float(row[name]) for row in rows if row[name]]
        column = result["columns"][name]
        assert column["kind"] == "numeric"
        assert (column["count"], column["nulls"]) == (len(values), len(rows) - len(values))
        assert math.isclose(column["sum"], math.fsum(values), rel_tol=1e-12)
        assert math.isclose(column["mean"], statistics.fmean(values), rel_tol=1e-12)
        assert math.isclose(column["std"], statistics.stdev(values), rel_tol=1e-9)
        assert (column["min"], column["max"]) == (min(values), max(values))
    cities = Counter(row["city"] for row in rows if row["city"])
    city = result["columns"]["city"]
    assert city["kind"] == "text"
    assert (city["count"], city["nulls"]) == (cities.total(), len(rows) - cities.total())
    assert city["distinct"] == len(cities) == 6
    ranked = sorted(cities.items(), key=lambda item: (-item[1], item[0]))
    assert [(top["value"], top["count"]) for top in city["top"]] == ranked[:5]
    assert done["progress"] == 100


def test_binary_garbage_as_csv_fails_with_a_readable_error(system: System) -> None:
    garbage = random.Random(7).randbytes(300_000)
    file_id = system.upload(garbage, "report.csv", "text/csv")

    task = system.submit("csv_processing", {"file_id": file_id}, max_attempts=1)
    failed = _finished(system, task["id"])

    assert failed["status"] == "FAILED"
    assert "NUL byte: this looks like a binary file, not CSV text" in failed["error"]
    assert failed["error"].startswith("line ")


def test_a_malformed_row_fails_naming_its_line(system: System) -> None:
    data = _sales_csv(50) + b"12.5,3,Oslo,extra\n"
    file_id = system.upload(data, "sales.csv", "text/csv")

    task = system.submit("csv_processing", {"file_id": file_id}, max_attempts=1)
    failed = _finished(system, task["id"])

    assert failed["error"] == "line 52: 4 fields where the table has 3 columns"


def test_an_email_batch_arrives_with_the_right_headers(
    system: System, smtp_server: MailTrap
) -> None:
    tag = uuid.uuid4().hex[:8]
    recipients = [
        {"email": f"ada-{tag}@example.com", "name": "Ada Lovelace"},
        f"bob-{tag}@example.com",
    ]

    task = system.submit(
        "email_sending",
        {"recipients": recipients, "subject": "Report {name}", "body": "Hi {name} <{email}>"},
    )
    done = _finished(system, task["id"])

    assert done["status"] == "SUCCESS", done["error"]
    by_id = {r["message_id"]: r for r in done["result"]["recipients"]}
    received = [m for m in smtp_server.messages if m.message["Message-ID"] in by_id]
    assert len(received) == 2
    ada = next(m for m in received if m.recipients == (f"ada-{tag}@example.com",))
    message = ada.message
    assert set(message.keys()) == {
        "From", "To", "Subject", "Date", "Message-ID", "Content-Type",
        "Content-Transfer-Encoding", "MIME-Version",
    }  # fmt: skip
    assert message["From"] == "taskbus@localhost"
    assert message["To"] == f"Ada Lovelace <ada-{tag}@example.com>"
    assert message["Subject"] == "Report Ada Lovelace"
    assert f"Hi Ada Lovelace <ada-{tag}@example.com>" in message.get_content()
    assert by_id[message["Message-ID"]]["status"] == "sent"


def test_header_injection_is_refused_at_submit(system: System) -> None:
    injected: list[dict[str, Any]] = [
        {"subject": "Hello\r\nBcc: eve@example.com", "recipients": ["a@example.com"]},
        {"recipients": [{"email": "a@example.com", "name": "Ada\nBcc: eve@example.com"}]},
        {"recipients": ["a@example.com\r\nBcc: eve@example.com"]},
    ]

    for parameters in injected:
        response = system.client.post(
            "/api/tasks/submit", json={"task_type": "email_sending", "parameters": parameters}
        )
        assert response.status_code == 422, parameters
        assert response.json()["detail"][0]["loc"][:3] == [
            "body",
            "parameters",
            next(iter(parameters)),
        ]


def test_a_rejected_recipient_is_reported_while_the_rest_are_sent(
    system: System, smtp_server: MailTrap
) -> None:
    tag = uuid.uuid4().hex[:8]
    addresses = [f"{who}-{tag}@example.com" for who in ("one", "nobody", "three")]
    smtp_server.reject(addresses[1])

    task = system.submit("email_sending", {"recipients": addresses})
    done = _finished(system, task["id"])

    assert done["status"] == "SUCCESS", done["error"]
    assert (done["result"]["sent"], done["result"]["failed"]) == (2, 1)
    statuses = {r["to"]: (r["status"], r["error"]) for r in done["result"]["recipients"]}
    assert statuses[addresses[1]] == ("failed", "550 5.1.1 Mailbox unavailable")
    delivered = {to for m in smtp_server.messages for to in m.recipients}
    assert {addresses[0], addresses[2]} <= delivered
    assert addresses[1] not in delivered


def _photo(size: tuple[int, int], fmt: str) -> bytes:
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def test_uploaded_images_come_back_resized_and_downloadable(system: System) -> None:
    inputs = [
        system.upload(_photo((1600, 1200), "JPEG"), "landscape.jpg", "image/jpeg"),
        system.upload(_photo((500, 800), "PNG"), "portrait.png", "image/png"),
    ]

    task = system.submit(
        "image_processing",
        {"file_ids": inputs, "target_width": 320, "target_height": 240, "format": "WEBP"},
    )
    done = _finished(system, task["id"])

    assert done["status"] == "SUCCESS", done["error"]
    images = done["result"]["images"]
    assert [i["source_file_id"] for i in images] == inputs
    assert [(i["width"], i["height"]) for i in images] == [(320, 240), (150, 240)]
    for image in images:
        response = system.client.get(f"/api/files/{image['file_id']}")
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/webp"
        assert len(response.content) == image["bytes"]
        decoded = Image.open(io.BytesIO(response.content))
        assert (decoded.format, decoded.size) == ("WEBP", (image["width"], image["height"]))
