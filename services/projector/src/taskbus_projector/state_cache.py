"""The committed state of tasks still in flight, kept so a batch need not read them back.

A task's next events usually arrive a batch or two after its last ones, so each batch used to
load most of its states from Postgres again. Only committed states go in, and only the
leader projector writes the read model, so an entry always equals its row. Finished tasks are
dropped (they rarely change again, and their results are the large part of a state), and the
least recently folded entries go first when the cache is full.
"""

from collections import OrderedDict
from collections.abc import Iterable
from uuid import UUID

from taskbus.readmodel.state import TaskState


class StateCache:
    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._states: OrderedDict[UUID, TaskState] = OrderedDict()

    def __len__(self) -> int:
        return len(self._states)

    def get(self, task_id: UUID) -> TaskState | None:
        return self._states.get(task_id)

    def lookup(self, ids: Iterable[UUID]) -> tuple[dict[UUID, TaskState], set[UUID]]:
        """The cached states of ``ids``, and the ids that are not cached."""
        found: dict[UUID, TaskState] = {}
        missing: set[UUID] = set()
        for task_id in ids:
            state = self._states.get(task_id)
            if state is None:
                missing.add(task_id)
            else:
                found[task_id] = state
        return found, missing

    def committed(self, states: Iterable[TaskState]) -> None:
        """``states`` are in the read model now: keep those of unfinished tasks."""
        for state in states:
            if state.status.is_terminal:
                self._states.pop(state.id, None)
                continue
            self._states[state.id] = state
            self._states.move_to_end(state.id)
        while len(self._states) > self._capacity:
            self._states.popitem(last=False)
