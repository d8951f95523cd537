"""The ``email_sending`` task: one message per recipient over one SMTP session, resumable.

A checkpoint is logged after every message sent and before the next one is tried, so a worker
that dies mid-batch resumes after the last recorded recipient instead of mailing anyone twice
(the deterministic Message-ID lets a receiver spot the one message that may have gone out
between a send and its checkpoint). Before each send the batch asks whether its delivery still
holds the task (``ensure_current``): a cancelled batch, or one whose worker stalled while
JetStream gave the task to another, stops there instead of mailing on beside its successor.
A refused recipient was mailed nothing, so refusals are checkpointed only every
``CHECKPOINT_EVERY`` recipients or ``CHECKPOINT_INTERVAL_S``: one retried after a crash costs
a second refusal, never a second message. Each checkpoint stays small (``journal``).
"""

import asyncio
import time
from collections.abc import Sequence
from email.message import EmailMessage
from typing import Any, Literal, Protocol
from uuid import UUID

from pydantic import BaseModel
from taskbus.errors import Fail, Retry
from taskbus.worker import TaskContext

from taskbus_worker_email.journal import Journal
from taskbus_worker_email.message import compose, message_id
from taskbus_worker_email.parameters import EmailParameters, Recipient
from taskbus_worker_email.settings import EmailWorkerSettings
from taskbus_worker_email.smtp import Deferred, Mailer, Misconfigured, Rejected

RETRY_DELAYS_S = (0.5, 2.0, 5.0)
"""Pauses before each new try of a temporarily refused message, within one attempt."""

CHECKPOINT_EVERY = 100
CHECKPOINT_INTERVAL_S = 1.0


class RecipientResult(BaseModel):
    to: str
    message_id: str
    status: Literal["sent", "failed"]
    error: str | None = None


class EmailResult(BaseModel):
    sent: int
    failed: int
    recipients: list[RecipientResult]
    errors_not_listed: int = 0
    """Failed recipients beyond the first few, whose ``error`` is left out (``journal``)."""


class TaskHooks(Protocol):
    """What a batch needs of its attempt; ``TaskContext`` provides it."""

    resume: dict[str, Any] | None

    async def progress(self, percent: float, message: str | None = None) -> None: ...

    async def checkpoint(self, data: dict[str, Any]) -> None: ...

    async def ensure_current(self) -> None: ...


async def _try_send(mailer: Mailer, message: EmailMessage, to: str) -> str | None:
    """None once sent; the server's reason when it refused the message for good."""
    try:
        await mailer.send(message, to)
    except Rejected as exc:
        return str(exc)
    return None


async def _deliver(
    mailer: Mailer, message: EmailMessage, to: str, retry_delays: Sequence[float]
) -> str | None:
    """Like ``_try_send``, trying again after each passing failure, then giving up."""
    for delay in retry_delays:
        try:
            return await _try_send(mailer, message, to)
        except Deferred:
            await asyncio.sleep(delay)
    tries = len(retry_delays) + 1
    try:
        return await _try_send(mailer, message, to)
    except Deferred as exc:
        if exc.unreachable:
            raise Retry(f"SMTP server unavailable after {tries} tries: {exc}") from exc
        return f"temporarily refused {tries} times: {exc}"


def _result(task_id: UUID, recipients: list[Recipient], journal: Journal) -> EmailResult:
    errors = {failure.index: failure.error for failure in journal.failures}
    rows = [
        RecipientResult(
            to=recipient.email,
            message_id=message_id(task_id, recipient.email),
            status="failed" if journal.failed_at(index) else "sent",
            error=errors.get(index),
        )
        for index, recipient in enumerate(recipients)
    ]
    return EmailResult(
        sent=journal.sent,
        failed=journal.failed,
        recipients=rows,
        errors_not_listed=journal.failed - len(errors),
    )


async def send_batch(
    task_id: UUID,
    params: EmailParameters,
    mailer: Mailer,
    *,
    sender: str,
    hooks: TaskHooks,
    retry_delays: Sequence[float] = RETRY_DELAYS_S,
) -> EmailResult:
    """Mail every recipient not yet handled according to ``hooks.resume``.

    A recipient the server refuses for good is reported failed and the batch goes on; a server
    that stays unreachable raises ``Retry``.
    """
    recipients = params.recipient_list()
    journal = Journal.resume(hooks.resume)
    first, total = journal.next, len(recipients)
    logged, logged_at = first, time.monotonic()
    for index in range(first, total):
        if index > first and params.delay_per_email:
            await asyncio.sleep(params.delay_per_email)
        recipient = recipients[index]
        try:
            message = compose(
                task_id=task_id,
                recipient=recipient,
                subject=params.subject,
                body=params.body,
                sender=sender,
            )
        except ValueError as exc:
            # A header the email policy refuses (a line break the API let through): this
            # recipient's message cannot be written, the others may be.
            error: str | None = f"message not sent: {exc}"
        else:
            await hooks.ensure_current()
            error = await _deliver(mailer, message, recipient.email, retry_delays)
        journal.record(index, error)
        now = time.monotonic()
        due = index + 1 - logged >= CHECKPOINT_EVERY or now - logged_at >= CHECKPOINT_INTERVAL_S
        if error is None or due:
            await hooks.checkpoint(journal.checkpoint().model_dump())
            logged, logged_at = index + 1, now
        await hooks.progress(100 * (index + 1) / total, f"{index + 1}/{total} emails")
    return _result(task_id, recipients, journal)


async def handle(
    ctx: TaskContext, params: EmailParameters, *, settings: EmailWorkerSettings
) -> EmailResult:
    """Send the task's batch through the SMTP server of ``settings``."""
    try:
        async with Mailer(settings) as mailer:
            result = await send_batch(
                ctx.task_id, params, mailer, sender=settings.smtp_from, hooks=ctx
            )
    except Misconfigured as exc:
        raise Fail(str(exc)) from exc
    if result.sent == 0:
        # Nothing went out: a success would hide that from everyone who filters by status.
        raise Fail(_nobody_reached(result))
    ctx.log.info("emails sent", sent=result.sent, failed=result.failed)
    return result


def _nobody_reached(result: EmailResult) -> str:
    first = next(row for row in result.recipients if row.status == "failed")
    others = result.failed - 1
    more = f" (and {others} other{'s' if others > 1 else ''})" if others else ""
    return f"no recipient was sent a message: {first.to} failed with {first.error}{more}"
