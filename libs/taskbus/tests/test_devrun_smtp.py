"""The SMTP sink and trap, driven by a real SMTP client."""

import smtplib
from collections.abc import Iterator

import pytest
from taskbus.devrun.smtp import MailLog, MailTrap

MESSAGE = "Subject: Report ready\r\n\r\nYour report is attached.\r\n"


@pytest.fixture
def trap() -> Iterator[MailTrap]:
    server = MailTrap().start()
    yield server
    server.stop()


def send(server: MailTrap | MailLog, *recipients: str) -> dict[str, tuple[int, bytes]]:
    with smtplib.SMTP(server.host, server.port, timeout=10) as client:
        return client.sendmail("reports@example.test", list(recipients), MESSAGE)


def test_trap_keeps_what_it_accepts(trap: MailTrap) -> None:
    send(trap, "ada@example.test", "bob@example.test")

    [message] = trap.wait_for_messages(1)
    assert message.mail_from == "reports@example.test"
    assert message.recipients == ("ada@example.test", "bob@example.test")
    assert message.subject == "Report ready"


def test_trap_rejects_told_recipients_for_good_and_accepts_the_rest(trap: MailTrap) -> None:
    trap.reject("Bob@Example.test")

    refused = send(trap, "ada@example.test", "bob@example.test")

    assert refused == {"bob@example.test": (550, b"5.1.1 Mailbox unavailable")}
    assert trap.wait_for_messages(1)[0].recipients == ("ada@example.test",)
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send(trap, "bob@example.test")


def test_trap_fails_a_recipient_temporarily_then_accepts_it(trap: MailTrap) -> None:
    trap.fail_temporarily(2, "ada@example.test")

    for _ in range(2):
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            send(trap, "ada@example.test")
        assert refused.value.recipients["ada@example.test"][0] == 451
    send(trap, "ada@example.test")

    assert len(trap.wait_for_messages(1)) == 1


def test_trap_fails_any_recipient_temporarily_when_none_is_named(trap: MailTrap) -> None:
    trap.fail_temporarily(1)

    assert send(trap, "ada@example.test", "bob@example.test") == {
        "ada@example.test": (451, b"4.7.1 Greylisted, try again later")
    }
    assert trap.wait_for_messages(1)[0].recipients == ("bob@example.test",)


def test_trap_reset_forgets_messages_and_refusals(trap: MailTrap) -> None:
    trap.reject("bob@example.test")
    send(trap, "ada@example.test")
    trap.wait_for_messages(1)

    trap.reset()

    assert trap.messages == []
    assert send(trap, "bob@example.test") == {}


def test_trap_wait_gives_up_after_its_timeout(trap: MailTrap) -> None:
    with pytest.raises(TimeoutError):
        trap.wait_for_messages(1, timeout=0.05)


def test_sink_reports_one_line_per_message() -> None:
    lines: list[str] = []
    sink = MailLog(lines.append).start()
    try:
        send(sink, "ada@example.test")
    finally:
        sink.stop()

    assert lines == [
        f"mail from reports@example.test to ada@example.test: 'Report ready' ({len(MESSAGE)} bytes)"
    ]
