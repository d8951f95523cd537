"""Templates and Message-IDs."""

from uuid import uuid4

import pytest
from taskbus_worker_email.message import compose, message_id, render
from taskbus_worker_email.parameters import Recipient
from taskbus_worker_email.settings import EmailWorkerSettings

ADA = Recipient(email="ada@example.test", name="Ada")


def test_only_name_and_email_are_placeholders() -> None:
    template = "{name} {email} {{name}} {other} {0} {name.upper} { {"
    assert render(template, ADA) == "Ada ada@example.test {Ada} {other} {0} {name.upper} { {"


def test_a_recipient_without_name_is_greeted_by_address() -> None:
    assert render("Hello {name}", Recipient(email="bob@example.test")) == "Hello bob@example.test"


def test_message_id_is_stable_per_task_and_recipient() -> None:
    task = uuid4()
    assert message_id(task, "ada@example.test") == message_id(task, "ada@example.test")
    assert message_id(task, "ada@example.test") != message_id(task, "bob@example.test")
    assert message_id(task, "ada@example.test") != message_id(uuid4(), "ada@example.test")
    assert message_id(task, "ada@example.test").endswith("@taskbus>")


def test_a_line_break_smuggled_into_a_header_is_refused() -> None:
    with pytest.raises(ValueError, match="linefeed"):
        compose(
            task_id=uuid4(),
            recipient=ADA,
            subject="x\r\nBcc: eve@example.test",
            body="",
            sender="a@b.c",
        )


def test_smtp_from_must_hold_an_address() -> None:
    with pytest.raises(ValueError, match="SMTP_FROM"):
        EmailWorkerSettings(smtp_from="nobody")
    settings = EmailWorkerSettings(smtp_from="Reports <reports@example.test>")
    assert settings.envelope_sender == "reports@example.test"
