"""One delivery's claim on its task: it writes only while nobody else has written since.

Every event a delivery appends is conditional on the task's last sequence being the one the
delivery last saw (docs/design.md, "Exactly once per delivery"). Whoever else writes to the
task meanwhile, a user's cancel or a newer delivery of the same attempt (JetStream redelivers
a message whose worker stalled past ``ack_wait``), moves that sequence, so the delivery's
next append is refused and it learns, before any further event or side effect of its own,
that it no longer holds the task.
"""

import asyncio
import uuid
from uuid import UUID

from taskbus.eventlog import EventLog, LogMoved
from taskbus.events import TaskEvent


class ClaimLost(Exception):
    """Someone else wrote to the task since this delivery's last event: it must decide again."""

    def __init__(self, last_seq: int) -> None:
        super().__init__(f"the task's log moved on to sequence {last_seq}")
        self.last_seq = last_seq


class Claim:
    """The appends of one delivery of one attempt, serialised and fenced."""

    def __init__(self, eventlog: EventLog, task_id: UUID) -> None:
        self._log = eventlog
        self._task_id = task_id
        # One append at a time: each one's condition is the sequence the one before stored.
        self._lock = asyncio.Lock()
        self.seq: int | None = None
        """The task's last sequence as this delivery knows it; None before its first decision."""
        self.own_ids: set[str] = set()
        """Message ids this delivery appended or tried to: its own events, found in the log."""

    def rebase(self, seq: int) -> None:
        """The delivery decided again from the log, whose last event is at ``seq``."""
        self.seq = seq

    async def append(self, event: TaskEvent, *, msg_id: str | None = None) -> int:
        """Append ``event`` if the log is still where this delivery last saw it; its sequence.

        Raises :class:`ClaimLost` when another writer came first.
        """
        assert self.seq is not None, "a delivery appends only after deciding from the log"
        msg_id = msg_id or uuid.uuid4().hex
        async with self._lock:
            self.own_ids.add(msg_id)
            try:
                ack = await self._log.append(event, msg_id=msg_id, expect_last=self.seq)
            except LogMoved as exc:
                raise ClaimLost(exc.last_seq) from None
            # A duplicate (a repeat of an append that landed before) is acked with the first
            # copy's sequence; the log's last event is still the one the condition named.
            self.seq = max(self.seq, ack.seq)
            return ack.seq

    async def verify(self) -> None:
        """Raise :class:`ClaimLost` if another writer has written to the task."""
        async with self._lock:
            position = await self._log.task_position(self._task_id)
            if position != self.seq:
                raise ClaimLost(position)
