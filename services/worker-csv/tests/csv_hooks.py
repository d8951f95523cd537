"""The attempt as the csv loop sees it, for tests: blocking work on a thread, progress kept."""

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class Hooks:
    def __init__(self) -> None:
        self.progress_reported: list[float] = []
        self.first_progress = asyncio.Event()

    async def progress(self, percent: float, message: str | None = None) -> None:
        self.progress_reported.append(percent)
        self.first_progress.set()

    async def run_sync(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        return await asyncio.to_thread(fn, *args, **kwargs)
