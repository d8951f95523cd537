"""Commands: decide from the task's own events in the log, then append the command's event.

Nothing here reads the read model. A command folds the task's history with the projector's
own fold, decides, and appends its event on the condition that the task's log has not moved
since, so the decision and the event are one atomic step; when it has moved (a worker
reported in between), the command decides again. A command returns once JetStream has
stored its event, with the task's state as the read model will show it (docs/design.md,
"Consistency").
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

import structlog
from taskbus import metrics, subjects
from taskbus.catalog import TaskTypeInfo
from taskbus.eventlog import EventLog, LogMoved
from taskbus.events import TaskCancelled, TaskEvent, TaskRetried, TaskSubmitted
from taskbus.readmodel.fold import fold
from taskbus.readmodel.state import TaskState

from taskbus_api.errors import Conflict, Unavailable
from taskbus_api.schemas import SubmitRequest
from taskbus_api.tasklog import load

log = structlog.get_logger(__name__)

# Idempotency keys map to task ids in their own namespace.
_IDEMPOTENCY_NAMESPACE = uuid5(NAMESPACE_URL, "https://taskbus.dev/idempotency-key")
# A running task reports progress about once a second, so a command rarely decides twice.
_MAX_DECISIONS = 8


@dataclass(frozen=True, slots=True)
class Provenance:
    """Who asked for a command, from where and why: recorded in its event (the audit trail)."""

    actor: str
    via: str
    reason: str | None = None


Decision = Callable[[TaskState], tuple[TaskEvent, str | None]]
"""What a command appends given the task's current state (raising when it cannot), and the
message id that makes it idempotent, if any."""


def task_id_for(idempotency_key: str | None) -> UUID:
    return uuid4() if idempotency_key is None else uuid5(_IDEMPOTENCY_NAMESPACE, idempotency_key)


async def submit(
    eventlog: EventLog,
    request: SubmitRequest,
    task_type: TaskTypeInfo,
    idempotency_key: str | None,
    by: Provenance,
) -> TaskState:
    """Append a TaskSubmitted; a key that already names a task answers with that task.

    The key's task id is the condition: the event is stored only while the log holds no
    event of that task, however long ago the first submit was. ``request.parameters`` were
    checked against ``task_type``'s schema, whose defaults fill what the request leaves out.
    """
    event = submitted(request, task_type, idempotency_key, by)
    if idempotency_key is None:
        ack = await eventlog.append(event)
    else:
        try:
            ack = await eventlog.append(
                event, msg_id=subjects.submit_msg_id(idempotency_key), expect_last=0
            )
        except LogMoved as moved:
            log.info("idempotent replay", task_id=str(event.task_id))
            return await load(eventlog, event.task_id, at_least=moved.last_seq)
        if ack.duplicate:
            return await load(eventlog, event.task_id, at_least=ack.seq)
    _record("submit", event.task_id, ack.seq, by)
    created = fold(None, event, ack.seq)
    assert created is not None
    return created


def submitted(
    request: SubmitRequest, task_type: TaskTypeInfo, idempotency_key: str | None, by: Provenance
) -> TaskSubmitted:
    """The event of a submit: the request, with its type's defaults for what it leaves out."""
    return TaskSubmitted(
        task_id=task_id_for(idempotency_key),
        task_type=request.task_type,
        name=request.name,
        parameters=request.parameters,
        attempt=1,
        max_attempts=request.max_attempts or task_type.max_attempts,
        timeout_s=request.timeout_s or task_type.timeout_s,
        actor=by.actor,
        via=by.via,
    )


def _cancel(by: Provenance, state: TaskState) -> tuple[TaskEvent, str | None]:
    if not state.status.can_cancel:
        raise Conflict(
            f"task {state.id} is {state.status.value}; only PENDING or RUNNING tasks can be "
            "cancelled"
        )
    event = TaskCancelled(
        task_id=state.id, task_type=state.task_type, actor=by.actor, via=by.via, reason=by.reason
    )
    return event, None


def _retry(by: Provenance, state: TaskState) -> tuple[TaskEvent, str | None]:
    if not state.status.can_retry:
        raise Conflict(
            f"task {state.id} is {state.status.value}; only FAILED or CANCELLED tasks can be "
            "retried"
        )
    attempt = state.attempts + 1
    event = TaskRetried(
        task_id=state.id,
        task_type=state.task_type,
        parameters=state.parameters,
        attempt=attempt,
        max_attempts=max(state.max_attempts, attempt),
        timeout_s=state.timeout_s,
        actor=by.actor,
        via=by.via,
        reason=by.reason,
    )
    return event, subjects.retry_msg_id(state.id, attempt)


async def cancel(eventlog: EventLog, task_id: UUID, by: Provenance) -> TaskState:
    """Cancel a PENDING or RUNNING task (409 once it is terminal)."""
    return await _decide("cancel", eventlog, task_id, partial(_cancel, by), by)


async def retry(eventlog: EventLog, task_id: UUID, by: Provenance) -> TaskState:
    """Retry a FAILED or CANCELLED task as its next attempt (409 otherwise)."""
    return await _decide("retry", eventlog, task_id, partial(_retry, by), by)


async def _decide(
    command: str, eventlog: EventLog, task_id: UUID, decide: Decision, by: Provenance
) -> TaskState:
    at_least: int | None = None
    for _ in range(_MAX_DECISIONS):
        state = await load(eventlog, task_id, at_least=at_least)
        event, msg_id = decide(state)
        try:
            ack = await eventlog.append(event, msg_id=msg_id, expect_last=state.last_seq)
        except LogMoved as moved:
            at_least = moved.last_seq
            continue
        _record(command, task_id, ack.seq, by)
        after = fold(state, event, ack.seq)
        assert after is not None
        return after
    raise Unavailable(f"task {task_id} is changing too fast to {command}; retry shortly")


def _record(command: str, task_id: UUID, seq: int, by: Provenance) -> None:
    metrics.COMMANDS.labels(command).inc()
    # Submits are the bulk of commands and their events are the audit trail: a line each
    # at INFO was a twentieth of a submit's CPU. Cancels and retries are rare and notable.
    emit = log.debug if command == "submit" else log.info
    emit(
        "command accepted",
        command=command,
        task_id=str(task_id),
        seq=seq,
        actor=by.actor,
        via=by.via,
    )
