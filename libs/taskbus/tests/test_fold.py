"""The fold as a pure function, hammered with random event sequences.

The rules are docs/design.md's "Invariants" 4 and 5.
"""

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st
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
from taskbus.readmodel.fold import fold
from taskbus.readmodel.state import TaskState
from taskbus.tasks import TaskStatus

TASK = UUID("00000000-0000-4000-8000-000000000001")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
KIND = "csv_processing"
attempts = st.integers(min_value=1, max_value=4)


def _at(offset: int) -> datetime:
    return T0 + timedelta(seconds=offset)


submitted = st.builds(
    lambda: TaskSubmitted(
        task_id=TASK, task_type=KIND, parameters={}, attempt=1, max_attempts=3, time=T0
    )
)
later_events: st.SearchStrategy[TaskEvent] = st.one_of(
    st.builds(lambda: TaskCancelled(task_id=TASK, task_type=KIND)),
    st.builds(
        lambda a: TaskRetried(
            task_id=TASK, task_type=KIND, parameters={}, attempt=a, max_attempts=3
        ),
        attempts,
    ),
    st.builds(
        lambda a: TaskStarted(task_id=TASK, task_type=KIND, attempt=a, worker_id="w"), attempts
    ),
    st.builds(
        lambda a, p: TaskProgress(task_id=TASK, task_type=KIND, attempt=a, progress=p),
        attempts,
        st.floats(min_value=0, max_value=100),
    ),
    st.builds(lambda a: TaskCheckpoint(task_id=TASK, task_type=KIND, attempt=a, data={}), attempts),
    st.builds(
        lambda a: TaskSucceeded(task_id=TASK, task_type=KIND, attempt=a, result={}), attempts
    ),
    st.builds(
        lambda a, retry: TaskFailed(
            task_id=TASK, task_type=KIND, attempt=a, error="boom", will_retry=retry
        ),
        attempts,
        st.booleans(),
    ),
)
histories = st.tuples(submitted, st.lists(later_events, max_size=30)).map(
    lambda pair: [pair[0], *pair[1]]
)


def _replay(events: list[TaskEvent]) -> list[TaskState]:
    """Every intermediate state; event i gets log sequence i + 1."""
    states: list[TaskState] = []
    state: TaskState | None = None
    for seq, event in enumerate(events, start=1):
        state = fold(state, event, seq)
        assert state is not None
        states.append(state)
    return states


@given(histories)
def test_terminal_states_only_leave_through_a_retry(events: list[TaskEvent]) -> None:
    states = _replay(events)

    for before, event, after in zip(states, events[1:], states[1:], strict=False):
        if before.status.is_terminal and after.status != before.status:
            assert isinstance(event, TaskRetried)
            assert before.status in (TaskStatus.FAILED, TaskStatus.CANCELLED)
            assert after.status is TaskStatus.PENDING
            assert after.attempts == event.attempt > before.attempts


@given(histories)
def test_success_is_final(events: list[TaskEvent]) -> None:
    states = _replay(events)

    first_success = next((i for i, s in enumerate(states) if s.status is TaskStatus.SUCCESS), None)
    if first_success is not None:
        assert all(s.status is TaskStatus.SUCCESS for s in states[first_success:])


@given(histories)
def test_progress_never_goes_backwards_within_an_attempt(events: list[TaskEvent]) -> None:
    states = _replay(events)

    for before, after in pairwise(states):
        if after.attempts == before.attempts and after.status is not TaskStatus.PENDING:
            assert after.progress >= before.progress


@given(histories)
def test_events_of_other_attempts_do_not_touch_the_state(events: list[TaskEvent]) -> None:
    states = _replay(events)

    for before, event, after in zip(states, events[1:], states[1:], strict=False):
        attempt = getattr(event, "attempt", None)
        is_work = isinstance(event, TaskRetried)
        if attempt is not None and attempt != before.attempts and not is_work:
            assert (after.status, after.progress, after.result) == (
                before.status,
                before.progress,
                before.result,
            )


@given(histories)
@settings(max_examples=200)
def test_replaying_the_log_twice_changes_nothing(events: list[TaskEvent]) -> None:
    once = _replay(events)[-1]

    state: TaskState | None = once
    for seq, event in enumerate(events, start=1):
        state = fold(state, event, seq)

    assert state == once


def test_first_terminal_event_wins() -> None:
    events: list[TaskEvent] = [
        TaskSubmitted(task_id=TASK, task_type=KIND, parameters={}, attempt=1, max_attempts=1),
        TaskStarted(task_id=TASK, task_type=KIND, attempt=1, worker_id="w"),
        TaskCancelled(task_id=TASK, task_type=KIND),
        TaskSucceeded(task_id=TASK, task_type=KIND, attempt=1, result={"late": True}),
    ]

    final = _replay(events)[-1]

    assert final.status is TaskStatus.CANCELLED
    assert final.result is None
    assert final.last_seq == 4


def test_a_failure_that_will_retry_schedules_the_next_attempt() -> None:
    events: list[TaskEvent] = [
        TaskSubmitted(task_id=TASK, task_type=KIND, parameters={}, attempt=1, max_attempts=3),
        TaskStarted(task_id=TASK, task_type=KIND, attempt=1, worker_id="w"),
        TaskFailed(task_id=TASK, task_type=KIND, attempt=1, error="flaky", will_retry=True),
        TaskRetried(task_id=TASK, task_type=KIND, parameters={}, attempt=2, max_attempts=3),
        TaskStarted(task_id=TASK, task_type=KIND, attempt=2, worker_id="w"),
        TaskSucceeded(task_id=TASK, task_type=KIND, attempt=2, result={"ok": 1}),
    ]

    states = _replay(events)

    assert [s.status for s in states] == [
        TaskStatus.PENDING,
        TaskStatus.RUNNING,
        TaskStatus.PENDING,
        TaskStatus.PENDING,
        TaskStatus.RUNNING,
        TaskStatus.SUCCESS,
    ]
    assert states[2].attempts == states[-1].attempts == 2
    assert states[-1].error is None


def test_events_before_submission_are_ignored() -> None:
    assert fold(None, TaskCancelled(task_id=TASK, task_type=KIND), 1) is None
