"""Users, the API and any number of deliveries acting on one task in random orders.

A hypothesis state machine over a model of the log: appends are conditional on the task's
last sequence and deduplicated by message id, as JetStream does them; the API's commands
and each delivery's steps are the runtime's (``plan``, then one conditional append per
step, deciding again when one is refused). Whatever the order, the invariants of
docs/design.md hold: a cancel wins over every later worker event, a stalled delivery writes
nothing once a newer one started, an attempt ends once, terminal states are final but for a
user's retry, and once the steps run out every message is acked with the task finished.
"""

from dataclasses import dataclass, field
from typing import Literal
from uuid import UUID

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from taskbus import subjects
from taskbus.eventlog import LoggedEvent
from taskbus.events import (
    TaskCancelled,
    TaskEvent,
    TaskFailed,
    TaskProgress,
    TaskRetried,
    TaskStarted,
    TaskSubmitted,
    TaskSucceeded,
)
from taskbus.readmodel.fold import fold_history
from taskbus.readmodel.state import TaskState
from taskbus.tasks import TaskStatus
from taskbus.worker.recovery import Plan, plan

TASK = UUID("00000000-0000-4000-8000-000000000009")
KIND = "csv_processing"
MAX_ATTEMPTS = 3
MAX_DELIVER = 3

Stage = Literal["undecided", "decided", "running", "retrying", "done"]
Origin = tuple[Literal["api"], None] | tuple[Literal["worker"], int]


@dataclass
class Message:
    """A work event in the worker's consumer: delivered until a delivery acks it."""

    event: TaskSubmitted | TaskRetried
    acked: bool = False


@dataclass
class Delivery:
    id: int
    message: Message
    stage: Stage = "undecided"
    plan: Plan | None = None
    seq: int | None = None
    own_ids: set[str] = field(default_factory=set)
    failed: TaskFailed | None = None

    @property
    def attempt(self) -> int:
        return self.message.event.attempt


class Refused(Exception):
    """The append's condition failed: the log moved."""


class Interleavings(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.log: list[LoggedEvent] = []
        self.origin: dict[int, Origin] = {}
        self.messages: list[Message] = []
        self.deliveries: list[Delivery] = []
        self.terminal_seen: tuple[TaskStatus, int] | None = None
        submitted = TaskSubmitted(
            task_id=TASK, task_type=KIND, parameters={}, attempt=1, max_attempts=MAX_ATTEMPTS
        )
        self._append(submitted, expect=0, msg_id="submit", origin=("api", None))

    # The log, as JetStream keeps it.

    @property
    def last_seq(self) -> int:
        return self.log[-1].seq if self.log else 0

    def _append(self, event: TaskEvent, *, expect: int, msg_id: str, origin: Origin) -> int:
        if expect != self.last_seq:
            raise Refused
        for logged in self.log:
            if logged.msg_id == msg_id:
                return logged.seq
        seq = self.last_seq + 1
        self.log.append(LoggedEvent(seq=seq, event=event, msg_id=msg_id))
        self.origin[seq] = origin
        if isinstance(event, TaskSubmitted | TaskRetried):
            self.messages.append(Message(event))
        return seq

    def _state(self) -> TaskState:
        state = fold_history(self.log)
        assert state is not None
        return state

    # The API's commands: decided from the fold, so their condition always holds here.

    @rule()
    def user_cancels(self) -> None:
        if self._state().status.is_terminal:
            return
        cancel = TaskCancelled(task_id=TASK, task_type=KIND)
        self._append(cancel, expect=self.last_seq, msg_id=f"c{self.last_seq}", origin=("api", None))

    @rule()
    def user_retries(self) -> None:
        state = self._state()
        if not state.status.can_retry:
            return
        attempt = state.attempts + 1
        retried = TaskRetried(
            task_id=TASK,
            task_type=KIND,
            parameters={},
            attempt=attempt,
            max_attempts=max(MAX_ATTEMPTS, attempt),
        )
        msg_id = subjects.retry_msg_id(TASK, attempt)
        self._append(retried, expect=self.last_seq, msg_id=msg_id, origin=("api", None))

    # JetStream delivering: first deliveries and redeliveries (the one before stalled).

    @precondition(lambda self: any(not m.acked for m in self.messages))
    @rule(data=st.data())
    def jetstream_delivers(self, data: st.DataObject) -> None:
        pending = [m for m in self.messages if not m.acked]
        message = data.draw(st.sampled_from(pending))
        self.deliveries.append(Delivery(id=len(self.deliveries) + 1, message=message))

    # One step of one delivery, as the runtime takes them.

    @precondition(lambda self: any(d.stage != "done" for d in self.deliveries))
    @rule(data=st.data(), outcome=st.sampled_from(["succeed", "fail", "retry", "progress"]))
    def delivery_steps(self, data: st.DataObject, outcome: str) -> None:
        live = [d for d in self.deliveries if d.stage != "done"]
        self._step(data.draw(st.sampled_from(live)), outcome)

    def _step(self, d: Delivery, outcome: str) -> None:
        try:
            self._act(d, outcome)
        except Refused:
            d.stage = "undecided"

    def _act(self, d: Delivery, outcome: str) -> None:
        if d.stage == "undecided":
            d.plan = plan(self.log, d.attempt, known_seq=d.seq, own_ids=d.own_ids)
            d.seq = d.plan.last_seq
            d.stage = "decided"
            return
        assert d.plan is not None
        if d.stage == "decided":
            self._carry_out(d, d.plan)
        elif d.stage == "running":
            self._handler_ends(d, outcome)
        elif d.stage == "retrying":
            assert d.failed is not None
            self._schedule_retry(d, d.failed)
            self._ack(d)

    def _carry_out(self, d: Delivery, decided: Plan) -> None:
        if decided.action in ("skip", "stand_down"):
            if decided.action == "skip":
                self._ack(d)
            d.stage = "done"
        elif decided.action == "finish":
            if decided.schedule_retry is not None:
                self._schedule_retry(d, decided.schedule_retry)
            self._ack(d)
        elif decided.starts >= MAX_DELIVER:
            self._end(d, will_retry=False, error="max_deliver")
            self._ack(d)
        else:
            started = TaskStarted(task_id=TASK, task_type=KIND, attempt=d.attempt, worker_id="w")
            self._write(d, started, subjects.started_msg_id(TASK, d.attempt, d.id))
            d.stage = "running"

    def _handler_ends(self, d: Delivery, outcome: str) -> None:
        if outcome == "progress":
            progress = TaskProgress(task_id=TASK, task_type=KIND, attempt=d.attempt, progress=50)
            self._write(d, progress, f"p{d.id}.{self.last_seq}")
            return
        if outcome == "succeed":
            succeeded = TaskSucceeded(task_id=TASK, task_type=KIND, attempt=d.attempt, result={})
            self._write(d, succeeded, subjects.ended_msg_id(TASK, d.attempt))
            self._ack(d)
            return
        will_retry = outcome == "retry" and d.attempt < d.message.event.max_attempts
        d.failed = self._end(d, will_retry=will_retry, error=outcome)
        if will_retry:
            d.stage = "retrying"
        else:
            self._ack(d)

    def _end(self, d: Delivery, *, will_retry: bool, error: str) -> TaskFailed:
        failed = TaskFailed(
            task_id=TASK, task_type=KIND, attempt=d.attempt, error=error, will_retry=will_retry
        )
        self._write(d, failed, subjects.ended_msg_id(TASK, d.attempt))
        return failed

    def _schedule_retry(self, d: Delivery, failed: TaskFailed) -> None:
        retried = TaskRetried(
            task_id=TASK,
            task_type=KIND,
            parameters={},
            attempt=failed.attempt + 1,
            max_attempts=d.message.event.max_attempts,
        )
        self._write(d, retried, subjects.retry_msg_id(TASK, retried.attempt))

    def _write(self, d: Delivery, event: TaskEvent, msg_id: str) -> None:
        assert d.seq is not None
        d.own_ids.add(msg_id)
        seq = self._append(event, expect=d.seq, msg_id=msg_id, origin=("worker", d.id))
        d.seq = max(d.seq, seq)

    def _ack(self, d: Delivery) -> None:
        d.message.acked = True
        d.stage = "done"

    # What must hold after every step.

    @invariant()
    def a_cancel_wins_over_every_later_worker_event(self) -> None:
        cancelled = False
        for logged in self.log:
            kind, _ = self.origin[logged.seq]
            if isinstance(logged.event, TaskCancelled):
                cancelled = True
            elif kind == "api" and isinstance(logged.event, TaskRetried):
                cancelled = False
            else:
                assert not (cancelled and kind == "worker"), f"{logged.event} after a cancel"

    @invariant()
    def a_stalled_delivery_writes_nothing_once_a_newer_one_started(self) -> None:
        started_by: dict[int, int] = {}
        ran: set[tuple[int, int]] = set()
        for logged in self.log:
            kind, delivery = self.origin[logged.seq]
            attempt = getattr(logged.event, "attempt", None)
            if kind != "worker" or attempt is None or isinstance(logged.event, TaskRetried):
                continue
            if isinstance(logged.event, TaskStarted):
                started_by[attempt] = delivery
                ran.add((attempt, delivery))
            elif (attempt, delivery) in ran:
                assert started_by[attempt] == delivery, f"{logged.event} by a stale delivery"

    @invariant()
    def an_attempt_ends_once(self) -> None:
        ends = [
            logged.event.attempt
            for logged in self.log
            if isinstance(logged.event, TaskSucceeded | TaskFailed)
        ]
        assert len(ends) == len(set(ends))

    @invariant()
    def terminal_states_are_final_but_for_a_user_retry(self) -> None:
        status = self._state().status
        if self.terminal_seen is not None:
            ended, at = self.terminal_seen
            if status is not ended:
                assert any(
                    self.origin[logged.seq][0] == "api" and isinstance(logged.event, TaskRetried)
                    for logged in self.log[at:]
                ), f"{ended} became {status} with no retry by a user"
        self.terminal_seen = (status, self.last_seq) if status.is_terminal else None

    def teardown(self) -> None:
        """With no more user commands, the runtime alone finishes the task."""
        for _ in range(200):
            live = [d for d in self.deliveries if d.stage != "done"]
            if not live:
                pending = [m for m in self.messages if not m.acked]
                if not pending:
                    break
                self.deliveries.append(Delivery(id=len(self.deliveries) + 1, message=pending[0]))
                continue
            self._step(live[0], "succeed")
        assert all(m.acked for m in self.messages)
        assert self._state().status.is_terminal


Interleavings.TestCase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
TestInterleavings = Interleavings.TestCase
