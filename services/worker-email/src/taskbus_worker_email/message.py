"""One recipient's message: templates filled in, headers set, a stable Message-ID."""

import re
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from uuid import UUID, uuid5

from taskbus_worker_email.parameters import Recipient

_PLACEHOLDER = re.compile(r"\{(name|email)\}")


def render(template: str, recipient: Recipient) -> str:
    """Fill ``{name}`` and ``{email}``; every other brace is kept as written.

    A regular expression rather than ``str.format_map``: a body holding JSON, ``{0}``, a lone
    ``{`` or ``{x.y}`` must come out as written instead of raising. A recipient without a
    name is addressed by email.
    """
    values = {"name": recipient.name or recipient.email, "email": recipient.email}
    return _PLACEHOLDER.sub(lambda match: values[match[1]], template)


def message_id(task_id: UUID, email: str) -> str:
    """The same for every attempt of a task to one address, so a resend can be recognised."""
    return f"<{uuid5(task_id, email)}@taskbus>"


def compose(
    *, task_id: UUID, recipient: Recipient, subject: str, body: str, sender: str
) -> EmailMessage:
    """The message to ``recipient``; header values with CR or LF are refused by the policy."""
    message = EmailMessage()
    message["From"] = sender
    # Given as parts: an internationalised local part is valid (sent with SMTPUTF8) but
    # Address(addr_spec=...) refuses to parse it.
    local_part, _, domain = recipient.email.rpartition("@")
    message["To"] = Address(display_name=recipient.name, username=local_part, domain=domain)
    message["Subject"] = render(subject, recipient)
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = message_id(task_id, recipient.email)
    message.set_content(render(body, recipient))
    return message
