"""Many submits in one request (``POST /api/tasks/batch``), each answered on its own.

Every item is validated first, as a single submit's body would be, so one bad item refuses
only itself. The valid ones are appended together with pipelined acks
(``EventLog.append_many``): a batch of 1,000 waits on JetStream about once, not 1,000
times. Each item keeps a single submit's guarantees: its 201 means its event is stored,
and its ``idempotency_key`` names one task for good.
"""

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import structlog
from fastapi.exceptions import RequestValidationError
from nats.js.api import PubAck
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError
from taskbus import metrics, subjects
from taskbus.catalog import TaskTypeInfo
from taskbus.eventlog import LogMoved
from taskbus.events import TaskSubmitted
from taskbus.readmodel.fold import fold

from taskbus_api.commands import Provenance, submitted
from taskbus_api.deps import Resources
from taskbus_api.errors import MAX_ERRORS, NotFound, _public
from taskbus_api.routes.files import check_file_inputs
from taskbus_api.schemas import SubmitRequest, Task
from taskbus_api.tasklog import load

log = structlog.get_logger(__name__)

MAX_BATCH = 1000

_IdempotencyKey = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")
]
_KEY = TypeAdapter(_IdempotencyKey)
_UNAVAILABLE = "the event log is unavailable; retry shortly"


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tasks: list[Any] = Field(
        max_length=MAX_BATCH,
        description="Up to 1,000 items, each a submit's body plus an optional "
        "``idempotency_key`` (as the ``Idempotency-Key`` header of a single submit).",
    )


class Accepted(BaseModel):
    status: Literal[201] = 201
    task: Task


class Refused(BaseModel):
    status: int = Field(description="The status a single submit of this item would answer.")
    detail: str | list[dict[str, Any]]


class BatchResponse(BaseModel):
    items: list[Accepted | Refused] = Field(description="One per task sent, in its order.")


@dataclass(frozen=True, slots=True)
class _Valid:
    index: int
    request: SubmitRequest
    task_type: TaskTypeInfo
    idempotency_key: str | None


async def submit_batch(resources: Resources, items: list[Any], by: Provenance) -> BatchResponse:
    results: list[Accepted | Refused | None] = [None] * len(items)
    valid: list[_Valid] = []
    for index, item in enumerate(items):
        checked = _validate(resources, index, item)
        if isinstance(checked, Refused):
            results[index] = checked
        else:
            valid.append(checked)
    # Only items of types that take files ask the file store.
    with_files = [one for one in valid if one.task_type.file_fields]
    file_checks = await asyncio.gather(*(_check_files(resources, one) for one in with_files))
    refused_items = set()
    for one, refused in zip(with_files, file_checks, strict=True):
        if refused is not None:
            results[one.index] = refused
            refused_items.add(one.index)
    valid = [one for one in valid if one.index not in refused_items]
    for one, result in zip(valid, await _append(resources, valid, by), strict=True):
        results[one.index] = result
    accepted = sum(isinstance(result, Accepted) for result in results)
    metrics.COMMANDS.labels("submit").inc(accepted)
    log.info("batch accepted", tasks=len(items), accepted=accepted, actor=by.actor, via=by.via)
    return BatchResponse(items=[result for result in results if result is not None])


def _validate(resources: Resources, index: int, item: Any) -> _Valid | Refused:
    if not isinstance(item, dict):
        return _invalid(
            index, [{"loc": (), "msg": "a task must be an object", "type": "dict_type"}]
        )
    body = dict(item)
    key = body.pop("idempotency_key", None)
    errors: list[Any] = []
    try:
        request = SubmitRequest.model_validate(body)
    except ValidationError as exc:
        errors.extend(exc.errors())
    if key is not None:
        try:
            key = _KEY.validate_python(key)
        except ValidationError as exc:
            errors.extend({**e, "loc": ("idempotency_key", *e["loc"])} for e in exc.errors())
    if errors:
        return _invalid(index, errors)
    try:
        task_type = resources.task_types.check(request.task_type, request.parameters)
    except RequestValidationError as exc:
        return _invalid(index, _unlocated(exc))
    return _Valid(index, request, task_type, key)


def _unlocated(exc: RequestValidationError) -> list[Any]:
    """The errors of a single submit's body, located in the item rather than the body."""
    return [{**e, "loc": e["loc"][1:]} for e in exc.errors()]


async def _check_files(resources: Resources, one: _Valid) -> Refused | None:
    try:
        await check_file_inputs(resources.files, one.task_type, one.request.parameters)
    except RequestValidationError as exc:
        return _invalid(one.index, _unlocated(exc))
    return None


def _invalid(index: int, errors: Any) -> Refused:
    """A 422 as a single submit's, located in the batch: ``["body", "tasks", index, ...]``."""
    detail = [
        _public({**error, "loc": ("body", "tasks", index, *error["loc"])})
        for error in list(errors)[:MAX_ERRORS]
    ]
    return Refused(status=422, detail=detail)


async def _append(
    resources: Resources, valid: list[_Valid], by: Provenance
) -> list[Accepted | Refused]:
    events = [submitted(one.request, one.task_type, one.idempotency_key, by) for one in valid]
    outcomes = await resources.eventlog.append_many(
        [
            (event, None, None)
            if one.idempotency_key is None
            else (event, subjects.submit_msg_id(one.idempotency_key), 0)
            for one, event in zip(valid, events, strict=True)
        ]
    )
    answers: list[Accepted | Refused | None] = [
        _created(event, outcome.seq)
        if isinstance(outcome, PubAck) and not outcome.duplicate
        else None
        for event, outcome in zip(events, outcomes, strict=True)
    ]
    # Answered without a task of their own each: a task per item cost a tenth of the CPU.
    rest = [i for i, answer in enumerate(answers) if answer is None]
    replies = await asyncio.gather(*(_answer(resources, events[i], outcomes[i]) for i in rest))
    for i, reply in zip(rest, replies, strict=True):
        answers[i] = reply
    return [answer for answer in answers if answer is not None]


def _created(event: TaskSubmitted, seq: int) -> Accepted:
    created = fold(None, event, seq)
    assert created is not None
    return Accepted(task=Task.of(created))


async def _answer(
    resources: Resources, event: TaskSubmitted, outcome: PubAck | LogMoved | Exception
) -> Accepted | Refused:
    """As a single submit answers when its event was not simply stored: the task its key
    named first, or why it was not stored."""
    try:
        if isinstance(outcome, LogMoved):
            state = await load(resources.eventlog, event.task_id, at_least=outcome.last_seq)
        elif isinstance(outcome, PubAck):
            state = await load(resources.eventlog, event.task_id, at_least=outcome.seq)
        else:
            log.warning("batch item not appended", error=repr(outcome))
            return Refused(status=503, detail=_UNAVAILABLE)
    except NotFound as exc:
        return Refused(status=404, detail=exc.detail)
    return Accepted(task=Task.of(state))
