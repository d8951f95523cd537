"""The projection as a pure function: ``fold(state, event, seq) -> state``.

Rules (docs/design.md, "Invariants" 4): terminal states are final and the first terminal
event in log order wins; only a retry leaves FAILED or CANCELLED; an event of another attempt
than the current one does not touch the state; progress never goes backwards within an
attempt.
Events that change nothing still advance ``last_seq`` so replays are recognisable.
"""

from collections.abc import Iterable
from dataclasses import replace
from functools import singledispatch

from taskbus.eventlog import LoggedEvent
from taskbus.events import (
    TaskCancelled,
    TaskCheckpoint,
    TaskEvent,
    TaskFailed,
    TaskProgress,
    TaskRetried,
    TaskStarted,
    TaskSubmitted,
    TaskSucceeded,
)
from taskbus.readmodel.state import TaskState
from taskbus.tasks import TaskStatus


def fold(state: TaskState | None, event: TaskEvent, seq: int) -> TaskState | None:
    """Apply one logged event to a task's state; ``None`` means the task is not known yet."""
    if state is not None and seq <= state.last_seq:
        return state
    if state is None:
        return _created(event, seq) if isinstance(event, TaskSubmitted) else None
    changed = _apply(event, state)
    return replace(changed, last_seq=seq)


def _created(event: TaskSubmitted, seq: int) -> TaskState:
    return TaskState(
        id=event.task_id,
        task_type=event.task_type,
        name=event.name,
        status=TaskStatus.PENDING,
        progress=0.0,
        progress_message=None,
        parameters=event.parameters,
        result=None,
        error=None,
        attempts=event.attempt,
        max_attempts=event.max_attempts,
        timeout_s=event.timeout_s,
        created_at=event.time,
        started_at=None,
        completed_at=None,
        updated_at=event.time,
        created_seq=seq,
        last_seq=seq,
    )


@singledispatch
def _apply(event: TaskEvent, state: TaskState) -> TaskState:
    return state


@_apply.register
def _(event: TaskCancelled, state: TaskState) -> TaskState:
    if state.status.is_terminal:
        return state
    return replace(
        state, status=TaskStatus.CANCELLED, completed_at=event.time, updated_at=event.time
    )


@_apply.register
def _(event: TaskRetried, state: TaskState) -> TaskState:
    retrying_now = state.status.can_retry and event.attempt > state.attempts
    # A retry scheduled by a failing worker follows a TaskFailed(will_retry) that already
    # moved the task to PENDING with this attempt number.
    if not retrying_now:
        return state
    return replace(
        state,
        status=TaskStatus.PENDING,
        attempts=event.attempt,
        max_attempts=max(state.max_attempts, event.max_attempts),
        progress=0.0,
        progress_message=None,
        result=None,
        error=None,
        started_at=None,
        completed_at=None,
        updated_at=event.time,
    )


@_apply.register
def _(event: TaskStarted, state: TaskState) -> TaskState:
    if state.status.is_terminal or event.attempt != state.attempts:
        return state
    return replace(
        state,
        status=TaskStatus.RUNNING,
        started_at=state.started_at or event.time,
        updated_at=event.time,
    )


@_apply.register
def _(event: TaskProgress, state: TaskState) -> TaskState:
    if state.status is not TaskStatus.RUNNING or event.attempt != state.attempts:
        return state
    if event.progress < state.progress:
        return state
    return replace(
        state, progress=event.progress, progress_message=event.message, updated_at=event.time
    )


@_apply.register
def _(event: TaskCheckpoint, state: TaskState) -> TaskState:
    return state


@_apply.register
def _(event: TaskSucceeded, state: TaskState) -> TaskState:
    if state.status.is_terminal or event.attempt != state.attempts:
        return state
    return replace(
        state,
        status=TaskStatus.SUCCESS,
        progress=100.0,
        result=event.result,
        error=None,
        completed_at=event.time,
        updated_at=event.time,
    )


@_apply.register
def _(event: TaskFailed, state: TaskState) -> TaskState:
    if state.status.is_terminal or event.attempt != state.attempts:
        return state
    if event.will_retry:
        return replace(
            state,
            status=TaskStatus.PENDING,
            attempts=event.attempt + 1,
            progress=0.0,
            progress_message=None,
            error=event.error,
            started_at=None,
            updated_at=event.time,
        )
    return replace(
        state,
        status=TaskStatus.FAILED,
        error=event.error,
        completed_at=event.time,
        updated_at=event.time,
    )


def fold_history(history: Iterable[LoggedEvent]) -> TaskState | None:
    """A task's state from its own events, as the projector would fold them."""
    state: TaskState | None = None
    for logged in history:
        state = fold(state, logged.event, logged.seq)
    return state
