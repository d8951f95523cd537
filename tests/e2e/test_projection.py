"""The read model is the pure fold of the log, however the projector batches and overlaps it."""

import json
import math

from support.fixtures import SystemFactory
from taskbus.events import decode_event
from taskbus.readmodel.fold import fold
from taskbus.readmodel.state import TaskState
from taskbus_api.schemas import Task


def _fold_history(items: list[dict[str, object]], task_id: str) -> TaskState | None:
    state = None
    for item in items:
        envelope = {"type": item["type"], "task_id": task_id, "time": item["time"]}
        event = decode_event(json.dumps({**item["data"], **envelope}))  # type: ignore[dict-item]
        state = fold(state, event, int(item["seq"]))  # type: ignore[call-overload]
    return state


def test_tiny_batches_give_every_task_the_state_its_history_folds_to(
    system_factory: SystemFactory,
) -> None:
    # Three events a batch: a task's events straddle batches, and each batch is folded while
    # the one before it is still being written.
    with system_factory("tiny-batches", extra_env={"PROJECTOR_BATCH_SIZE": "3"}) as s:
        paced = {"num_rows": 2000, "processing_time": 0.5}
        tasks = [s.submit("csv_processing", paced, wait=0) for _ in range(12)]
        for task in tasks:
            s.wait_for_status(task["id"], "SUCCESS")
        s.wait_until_projected()

        for task in tasks:
            shown = Task.model_validate(s.get(task["id"]))
            history = s.client.get(f"/api/tasks/{task['id']}/events").json()["items"]
            folded = _fold_history(history, task["id"])

            assert folded is not None
            expected = Task.of(folded)
            assert len(history) > 5, "progress events between start and success"
            # progress is a Postgres real: compare it at float32 precision, the rest exactly.
            assert math.isclose(shown.progress, expected.progress, rel_tol=1e-6)
            assert shown.model_copy(update={"progress": expected.progress}) == expected
