"""The projector's cache of unfinished tasks' committed states."""

from datetime import UTC, datetime
from uuid import UUID, uuid4

from taskbus.readmodel.state import TaskState
from taskbus.tasks import TaskStatus
from taskbus_projector.state_cache import StateCache


def _state(task_id: UUID, status: TaskStatus = TaskStatus.RUNNING) -> TaskState:
    now = datetime.now(UTC)
    return TaskState(
        id=task_id,
        task_type="csv_processing",
        name=None,
        status=status,
        progress=0.0,
        progress_message=None,
        parameters={},
        result=None,
        error=None,
        attempts=1,
        max_attempts=3,
        timeout_s=None,
        created_at=now,
        started_at=None,
        completed_at=None,
        updated_at=now,
        created_seq=1,
        last_seq=1,
    )


def test_a_committed_state_is_found_and_an_unknown_one_is_missing() -> None:
    cache = StateCache(10)
    kept, unknown = _state(uuid4()), uuid4()
    cache.committed([kept])

    found, missing = cache.lookup([kept.id, unknown])

    assert found == {kept.id: kept}
    assert missing == {unknown}


def test_a_finished_task_leaves_the_cache() -> None:
    cache = StateCache(10)
    task_id = uuid4()
    cache.committed([_state(task_id)])
    cache.committed([_state(task_id, TaskStatus.SUCCESS)])

    assert cache.lookup([task_id]) == ({}, {task_id})


def test_the_least_recently_committed_go_first_when_full() -> None:
    cache = StateCache(2)
    first, second, third = (_state(uuid4()) for _ in range(3))
    cache.committed([first, second])
    cache.committed([first])  # folded again: now the most recent
    cache.committed([third])

    found, missing = cache.lookup([first.id, second.id, third.id])

    assert set(found) == {first.id, third.id}
    assert missing == {second.id}
    assert len(cache) == 2
