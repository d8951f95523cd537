"""Local SMTP servers (aiosmtpd, each in its own thread): a sink for make up, a trap for tests."""

import threading
from collections.abc import Callable
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from taskbus.devrun.ports import LOOPBACK, choose_port

OK = "250 OK"
REJECTED = "550 5.1.1 Mailbox unavailable"
GREYLISTED = "451 4.7.1 Greylisted, try again later"

# Stands for every recipient among the addresses told to fail temporarily.
_ANY_ADDRESS = "*"


@dataclass(frozen=True)
class ReceivedMessage:
    """One accepted message, as the envelope and the bytes the client sent."""

    mail_from: str
    recipients: tuple[str, ...]
    content: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.content, policy=policy.default)

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")


class SmtpServer:
    """An aiosmtpd server on loopback whose SMTP hooks are this object's ``handle_*`` methods."""

    def __init__(self, *, host: str = LOOPBACK, port: int | None = None) -> None:
        self.host = host
        self.port = choose_port(port, host)
        # A fixed server name spares aiosmtpd a reverse DNS lookup of this machine.
        self._controller = Controller(
            self, hostname=host, port=self.port, server_hostname="taskbus-dev"
        )

    def start(self) -> Self:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()


class MailLog(SmtpServer):
    """The ``make up`` sink: accepts everything and reports one line per message."""

    def __init__(
        self, emit: Callable[[str], None], *, host: str = LOOPBACK, port: int | None = None
    ) -> None:
        super().__init__(host=host, port=port)
        self._emit = emit

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        received = _received(envelope)
        self._emit(
            f"mail from {received.mail_from} to {', '.join(received.recipients)}: "
            f"{received.subject!r} ({len(received.content)} bytes)"
        )
        return OK


class MailTrap(SmtpServer):
    """The tests' server: keeps what it accepts, and refuses what it is told to.

    ``reject`` makes RCPT TO answer 550 for those addresses, for good. ``fail_temporarily`` makes
    RCPT TO answer 451 a number of times, as a greylisting server would. A client sees both as
    refused recipients and tells them apart by the code.
    """

    def __init__(self, *, host: str = LOOPBACK, port: int | None = None) -> None:
        super().__init__(host=host, port=port)
        self._changed = threading.Condition()
        self._messages: list[ReceivedMessage] = []
        self._rejected: set[str] = set()
        self._deferrals: dict[str, int] = {}

    @property
    def messages(self) -> list[ReceivedMessage]:
        """A snapshot of the messages accepted so far, oldest first."""
        with self._changed:
            return list(self._messages)

    def reset(self) -> None:
        """Forget the messages and every refusal asked for."""
        with self._changed:
            self._messages.clear()
            self._rejected.clear()
            self._deferrals.clear()

    def reject(self, *addresses: str) -> None:
        """Refuse these recipients permanently (550)."""
        with self._changed:
            self._rejected.update(address.lower() for address in addresses)

    def fail_temporarily(self, times: int, *addresses: str) -> None:
        """Answer 451 to the next ``times`` RCPT TO of each address (of any address if none)."""
        with self._changed:
            for address in addresses or (_ANY_ADDRESS,):
                self._deferrals[address.lower()] = times

    def wait_for_messages(self, count: int, timeout: float = 10.0) -> list[ReceivedMessage]:
        """Block until at least ``count`` messages were accepted; raise TimeoutError if not."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._messages) >= count, timeout):
                raise TimeoutError(f"{len(self._messages)} of {count} messages after {timeout}s")
            return list(self._messages)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        with self._changed:
            if address.lower() in self._rejected:
                return REJECTED
            for key in (address.lower(), _ANY_ADDRESS):
                if self._deferrals.get(key, 0) > 0:
                    self._deferrals[key] -= 1
                    return GREYLISTED
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return OK

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self._changed:
            self._messages.append(_received(envelope))
            self._changed.notify_all()
        return OK


def _received(envelope: Envelope) -> ReceivedMessage:
    return ReceivedMessage(
        mail_from=str(envelope.mail_from),
        recipients=tuple(envelope.rcpt_tos),
        content=envelope.original_content or b"",
    )
