"""What a delivery of an attempt is to do, decided from the task's history (pure functions).

A delivery decides from the log before it starts, and again whenever the log moved under it
(:class:`~taskbus.worker.claim.ClaimLost`) or NATS was out of reach. The decision uses the
projector's own ``fold``, so the worker and the read model never disagree on what a task's
events mean (docs/design.md, "Exactly once per delivery").
"""

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from taskbus.eventlog import LoggedEvent
from taskbus.events import TaskCheckpoint, TaskFailed, TaskRetried, TaskStarted, TaskSucceeded
from taskbus.readmodel.fold import fold_history
from taskbus.tasks import TaskStatus

Action = Literal["run", "finish", "skip", "stand_down"]


@dataclass(frozen=True, slots=True)
class Plan:
    action: Action
    """``run`` the handler; ``finish`` an attempt that already ended (ack, maybe schedule its
    retry); ``skip`` a delivery the task no longer wants (ack); ``stand_down`` for a newer
    delivery of the same attempt, which owns the message now (neither ack nor nak)."""
    last_seq: int
    """The task's last sequence in the history decided from: the condition of what follows."""
    why: str = ""
    resume: dict[str, Any] | None = None
    """The last checkpoint of this attempt or an earlier one, to continue from."""
    schedule_retry: TaskFailed | None = None
    """The attempt failed asking for a retry that is not in the log yet."""
    starts: int = 0
    """How many other deliveries of this attempt have started it (TaskStarted, by message
    id, not counting this delivery's own)."""


def plan(
    history: Sequence[LoggedEvent],
    attempt: int,
    *,
    known_seq: int | None = None,
    own_ids: Collection[str] = (),
) -> Plan:
    """Decide what a delivery of ``attempt`` does, from the task's whole history.

    ``known_seq`` and ``own_ids`` are what the delivery already wrote: a TaskStarted of this
    attempt after ``known_seq`` that is not among ``own_ids`` is a newer delivery's.
    Checkpoints carry over from earlier attempts: a retry after a passing failure continues
    where the failed attempt stopped (no recipient mailed twice); it does not start over.
    """
    last_seq = history[-1].seq if history else 0
    state = fold_history(history)
    if state is None:
        return Plan("skip", last_seq, why="the task has no TaskSubmitted in the log")
    ended = _end_of(history, attempt)
    if ended is not None:
        retry = None
        if (
            isinstance(ended, TaskFailed)
            and ended.will_retry
            and state.status is TaskStatus.PENDING
            and state.attempts == attempt + 1
            and not _retried(history, attempt + 1)
        ):
            retry = ended
        return Plan("finish", last_seq, why="the attempt already ended", schedule_retry=retry)
    if state.status is TaskStatus.CANCELLED:
        return Plan("skip", last_seq, why="the task was cancelled")
    if state.attempts != attempt or state.status.is_terminal:
        return Plan("skip", last_seq, why=f"the task is at attempt {state.attempts} now")
    starts = {
        logged.msg_id or str(logged.seq)
        for logged in history
        if isinstance(logged.event, TaskStarted)
        and logged.event.attempt == attempt
        and logged.msg_id not in own_ids
    }
    if known_seq is not None and any(
        isinstance(logged.event, TaskStarted)
        and logged.event.attempt == attempt
        and logged.seq > known_seq
        and logged.msg_id not in own_ids
        for logged in history
    ):
        return Plan("stand_down", last_seq, why="a newer delivery of this attempt started it")
    return Plan("run", last_seq, resume=_resume(history, attempt), starts=len(starts))


def _end_of(history: Sequence[LoggedEvent], attempt: int) -> TaskSucceeded | TaskFailed | None:
    for logged in history:
        event = logged.event
        if isinstance(event, TaskSucceeded | TaskFailed) and event.attempt == attempt:
            return event
    return None


def _retried(history: Sequence[LoggedEvent], attempt: int) -> bool:
    return any(
        isinstance(logged.event, TaskRetried) and logged.event.attempt == attempt
        for logged in history
    )


def _resume(history: Sequence[LoggedEvent], attempt: int) -> dict[str, Any] | None:
    resume: dict[str, Any] | None = None
    for logged in history:
        event = logged.event
        if isinstance(event, TaskCheckpoint) and event.attempt <= attempt:
            resume = event.data
    return resume


def backoff_delay(attempt: int, *, base_s: float, max_s: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(max, base * 2**(attempt-1))]."""
    ceiling = min(max_s, base_s * 2 ** (attempt - 1))
    return rng.uniform(0, ceiling)
