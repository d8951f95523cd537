"""What a redelivered attempt must know from the log before it runs again (pure functions)."""

import random
from dataclasses import dataclass
from typing import Any

from taskbus.eventlog import LoggedEvent
from taskbus.events import TaskCheckpoint, TaskFailed, TaskSucceeded


@dataclass(frozen=True, slots=True)
class Recovery:
    finished: bool = False
    """The attempt already ended in the log: a worker died between that event and its ack."""
    scheduled_retry: TaskFailed | None = None
    """The attempt failed and asked for a retry, which may not be in the log yet."""
    resume: dict[str, Any] | None = None


def recover(history: list[LoggedEvent], attempt: int) -> Recovery:
    """Fold one task's history down to what attempt ``attempt`` must do before it runs.

    Checkpoints carry over from earlier attempts too: a retry after a passing failure
    continues where the failed attempt stopped (no recipient mailed twice), it does not
    start the work over.
    """
    resume: dict[str, Any] | None = None
    for logged in history:
        event = logged.event
        event_attempt = getattr(event, "attempt", None)
        if event_attempt is None or event_attempt > attempt:
            continue
        if isinstance(event, TaskCheckpoint):
            resume = event.data
        elif event_attempt == attempt and isinstance(event, TaskSucceeded):
            return Recovery(finished=True)
        elif event_attempt == attempt and isinstance(event, TaskFailed):
            return Recovery(finished=True, scheduled_retry=event if event.will_retry else None)
    return Recovery(resume=resume)


HAND_BACK_BASE_S = 2.0
HAND_BACK_MAX_S = 30.0


def hand_back_delay(num_delivered: int, *, rng: random.Random) -> float:
    """How long a message handed back while NATS is out of reach waits to be redelivered.

    The ceiling doubles with each delivery from ``HAND_BACK_BASE_S`` up to ``HAND_BACK_MAX_S``
    and the delay is drawn from its upper half. Each hand-back spends one of the message's
    ``max_deliver`` deliveries, so the delays must outlast a stream leader's election (raft
    elections alone take 4 to 9 s) even when every call fails at once: with the default 5
    deliveries they add up to 15-30 s. The jitter keeps the replicas that all handed work
    back in one election from all coming back at once; unlike :func:`backoff_delay` it never
    draws near zero, which would only meet the same election again.
    """
    ceiling = min(HAND_BACK_MAX_S, HAND_BACK_BASE_S * 2 ** (num_delivered - 1))
    return rng.uniform(ceiling / 2, ceiling)


def backoff_delay(attempt: int, *, base_s: float, max_s: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(max, base * 2**(attempt-1))]."""
    ceiling = min(max_s, base_s * 2 ** (attempt - 1))
    return rng.uniform(0, ceiling)
