"""Per-key abuse limits: a rate of commands, and a number of open SSE streams.

Both are counted in this process's memory, so each API replica allows its own share: with
n replicas behind a balancer a key gets up to n times the rate. That keeps the API free of
a shared store on the command path; the limit is there to stop a runaway script or a leaked
key flooding the log, not to meter usage exactly. An API without keys (open, anonymous) has
nothing to count per key and is not limited.
"""

import math
import time
from collections import Counter
from collections.abc import Callable

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from taskbus_api.errors import ApiError


class TooManyRequests(ApiError):
    status_code = 429

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after_s)}


class AbuseLimits:
    def __init__(self, command_rate: str, max_streams: int) -> None:
        self._command_limits: list[RateLimitItem] = parse_many(command_rate)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._max_streams = max_streams
        self._streams: Counter[str] = Counter()

    async def command(self, key: str | None) -> None:
        """Count one command of ``key``; 429 with ``Retry-After`` past its rate."""
        if key is None:
            return
        for item in self._command_limits:
            if not await self._limiter.hit(item, key):
                stats = await self._limiter.get_window_stats(item, key)
                wait = max(1, math.ceil(stats.reset_time - time.time()))
                raise TooManyRequests(
                    f"key {key} sent more than {item} commands; retry in {wait} s", wait
                )

    def open_stream(self, key: str | None) -> Callable[[], None]:
        """Take one of ``key``'s stream slots (429 when none is free); returns what frees it."""
        if key is None:
            return _nothing
        if self._streams[key] >= self._max_streams:
            raise TooManyRequests(
                f"key {key} already has {self._max_streams} streams open; close one first", 5
            )
        self._streams[key] += 1
        freed = False

        def release() -> None:
            nonlocal freed
            if freed:
                return
            freed = True
            self._streams[key] -= 1
            if not self._streams[key]:
                del self._streams[key]

        return release


def _nothing() -> None:
    return None
