"""When a delivery writes its attempt's TaskStarted: late, and only if the attempt lasts.

Most tasks are short. A TaskStarted and a first TaskProgress for an attempt that ends a few
milliseconds later cost two more fsynced writes to the log, two more events for the
projector and two more changes for every stream client, to show a RUNNING that nobody sees.
So the start is written once the attempt has run ``WORKER_START_EVENT_AFTER_S``, or before
anything else the attempt writes mid-run (progress, a checkpoint), and not at all when the
attempt ends first: its end event then carries ``started_at`` itself.

Why this is safe (docs/design.md, "Exactly once per delivery"): TaskStarted was never what
fences a delivery. Every event a delivery writes is conditional on the task's log being
where the delivery last saw it, so a cancel or a newer delivery that wrote in between still
refuses this delivery's end, whether or not a TaskStarted came first. What TaskStarted does
carry is the count of deliveries that started an attempt (``WORKER_MAX_DELIVER``): a
redelivery writes it before its handler runs, so a message that keeps killing workers
within the window is counted from its second delivery on.
"""

import asyncio
import enum
from datetime import datetime

from taskbus.events import TaskStarted, utcnow
from taskbus.worker.claim import Claim


class _State(enum.Enum):
    DUE = "due"
    WRITTEN = "written"
    FORGONE = "forgone"


class AttemptStart:
    """The TaskStarted of one delivery: written at most once, and never after its end."""

    def __init__(self, claim: Claim, event: TaskStarted, msg_id: str) -> None:
        self._claim = claim
        self._event = event
        self._msg_id = msg_id
        self._state = _State.DUE
        # Held across the append, so an end waits for a start already on its way.
        self._lock = asyncio.Lock()
        self.began_at: datetime = utcnow()
        """When the handler was started, for an end that forgoes its TaskStarted."""

    @property
    def due(self) -> bool:
        """Not written yet, and still to be written if the attempt goes on."""
        return self._state is _State.DUE

    async def write(self) -> None:
        """Write the TaskStarted now unless it was written or forgone already."""
        async with self._lock:
            if self._state is _State.DUE:
                await self._claim.append(self._event, msg_id=self._msg_id)
                self._state = _State.WRITTEN

    async def settle(self) -> datetime | None:
        """The attempt is ending: no TaskStarted from now on. ``began_at`` when it forwent
        one, for its end event to carry; None when the log has its TaskStarted."""
        async with self._lock:
            if self._state is _State.WRITTEN:
                return None
            self._state = _State.FORGONE
            return self.began_at
