"""Commands: validate against the read model, then turn the request into an event in the log.

A command returns once JetStream has stored its event (DESIGN §5 rule 1); what the event
does to the task is decided by the projector's fold, never here.
"""

from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

import structlog
from nats.js.api import PubAck
from pydantic import ValidationError
from taskbus import metrics, subjects
from taskbus.eventlog import EventLog
from taskbus.events import TaskCancelled, TaskRetried, TaskSubmitted
from taskbus.parameters import validate_parameters
from taskbus.tasks import DEFAULT_MAX_ATTEMPTS

from taskbus_api.errors import Conflict, validation_error
from taskbus_api.schemas import SubmitRequest, Task

log = structlog.get_logger(__name__)

# Idempotency keys map to task ids in their own namespace.
_IDEMPOTENCY_NAMESPACE = uuid5(NAMESPACE_URL, "https://taskbus.dev/idempotency-key")


def task_id_for(idempotency_key: str | None) -> UUID:
    return uuid4() if idempotency_key is None else uuid5(_IDEMPOTENCY_NAMESPACE, idempotency_key)


async def submit(
    log: EventLog, request: SubmitRequest, idempotency_key: str | None
) -> tuple[TaskSubmitted, PubAck]:
    """Append a TaskSubmitted; the same idempotency key always names the same task."""
    try:
        parameters = validate_parameters(request.task_type, request.parameters)
    except ValidationError as exc:
        raise validation_error(exc, prefix=("body", "parameters")) from None
    event = TaskSubmitted(
        task_id=task_id_for(idempotency_key),
        task_type=request.task_type,
        name=request.name,
        parameters=parameters,
        attempt=1,
        max_attempts=request.max_attempts or DEFAULT_MAX_ATTEMPTS[request.task_type],
        timeout_s=request.timeout_s,
    )
    msg_id = None if idempotency_key is None else subjects.submit_msg_id(idempotency_key)
    ack = await log.append(event, msg_id=msg_id)
    _record("submit", event.task_id, ack.seq)
    return event, ack


async def cancel(log: EventLog, task: Task) -> int:
    if not task.status.can_cancel:
        raise Conflict(
            f"task {task.id} is {task.status.value}; only PENDING or RUNNING tasks can be cancelled"
        )
    ack = await log.append(TaskCancelled(task_id=task.id, task_type=task.task_type))
    _record("cancel", task.id, ack.seq)
    return ack.seq


async def retry(log: EventLog, task: Task) -> int:
    if not task.status.can_retry:
        raise Conflict(
            f"task {task.id} is {task.status.value}; only FAILED or CANCELLED tasks can be retried"
        )
    attempt = task.attempts + 1
    event = TaskRetried(
        task_id=task.id,
        task_type=task.task_type,
        parameters=task.parameters,
        attempt=attempt,
        max_attempts=max(task.max_attempts, attempt),
        timeout_s=task.timeout_s,
    )
    ack = await log.append(event, msg_id=subjects.retry_msg_id(task.id, attempt))
    _record("retry", task.id, ack.seq)
    return ack.seq


def _record(command: str, task_id: UUID, seq: int) -> None:
    metrics.COMMANDS.labels(command).inc()
    log.info("command accepted", command=command, task_id=str(task_id), seq=seq)
