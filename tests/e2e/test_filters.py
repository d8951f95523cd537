"""One source of truth for filters: the stream delivers exactly the tasks the list returns.

Each search below is run both ways over a corpus of tasks with awkward names: the ids that
``GET /api/stream?q=`` delivers, live and replayed from ``Last-Event-ID``, must be the ids
that ``GET /api/tasks/?q=`` lists. A status filter also says when a task leaves it.
"""

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse
from support.system import System, Task

# Every kind of trap a second implementation of the search could fall into: spaces around
# the text, LIKE's metacharacters and its escape, case folding beyond ASCII, no name at all.
NAMES = [
    None,
    "foo",
    " foo",
    "foo ",
    "xfoox",
    "FOO BAR",
    "fo o",
    "100%",
    "100 percent",
    "a_b",
    "axb",
    "back\\slash",
    "backslash",
    "straße",
    "STRASSE",
    "ẞ",
    "İstanbul",
    "istanbul",
    "ISTANBUL",
    "\u0131i",  # dotless i, then i
]
SEARCHES = [
    None,
    "",
    " ",
    "foo",
    " foo",
    "foo ",
    " foo ",
    "FOO",
    "%",
    "100%",
    "_",
    "a_b",
    "\\",
    "back\\slash",
    "ß",
    "SS",
    "ẞ",
    "İ",
    "i\u0307",  # i and a combining dot above: what "İ" lowers to in some locales
    "\u0131",
    "istanbul",
]
TIMEOUT_S = 60


@dataclass
class Corpus:
    tasks: list[Task]
    searches: list[str | None]
    """SEARCHES, and searches by the first task's id: 3-character prefixes (too short to
    mean an id), longer ones, in capitals, with spaces, with a hyphen, the whole id."""

    @property
    def ids(self) -> set[str]:
        return {t["id"] for t in self.tasks}


@pytest.fixture(scope="module")
def corpus(system: System) -> Corpus:
    """Failed tasks (so that a retry changes them at will) under the awkward names."""
    tasks = [system.submit_failing(name=name, max_attempts=1) for name in NAMES]
    first = tasks[0]["id"]
    # A name holding a prefix too short to search ids by: found by its name only.
    tasks.append(system.submit_failing(name=f"about {first[:3]}", max_attempts=1))
    tasks = [system.wait_for_status(t["id"], "FAILED") for t in tasks]
    by_id = [first[:3], first[:3].upper(), first[:4], first[:8].upper(), f" {first[:8]} "]
    by_id += [first[:13], first]
    return Corpus(tasks, [*SEARCHES, *by_id])


def test_live_changes_are_delivered_for_exactly_the_tasks_the_list_returns(
    system: System, corpus: Corpus
) -> None:
    after = max(t["seq"] for t in corpus.tasks)

    heard = asyncio.run(
        _listen(system, corpus.searches, after, lambda c: _retry_all(c, system, corpus))
    )

    assert _disagreements(system, corpus, heard) == {}


def test_replayed_changes_are_delivered_for_exactly_the_tasks_the_list_returns(
    system: System, corpus: Corpus
) -> None:
    """After the live test, or on its own: the corpus changed after ``after`` either way."""
    after = min(t["seq"] for t in corpus.tasks) - 1

    heard = asyncio.run(_listen(system, corpus.searches, after, _nothing))

    assert _disagreements(system, corpus, heard) == {}


def test_a_status_filter_tells_when_a_task_leaves_it_live_and_on_replay(system: System) -> None:
    name = f"leaves-{uuid.uuid4().hex}"
    running = {"status": "RUNNING", "q": name}
    task: Task = {}

    async def run_one(client: httpx.AsyncClient) -> None:
        parameters = {"num_rows": 2000, "processing_time": 1}
        task.update(await _submit(client, "csv_processing", parameters, name, wait=0))

    def shown_then_left(heard: Heard) -> bool:
        # Its submit (PENDING) is a "left" too: of a task that was never in the filter.
        shown = heard.shown(task["id"])
        return bool(shown) and heard.left(task["id"]) > shown[-1]["seq"]

    live = asyncio.run(_follow_one(system, running, None, run_one, shown_then_left))
    shown = live.shown(task["id"])
    assert shown, "the task was delivered while it ran"
    last_shown = shown[-1]["seq"]
    replayed = asyncio.run(
        _follow_one(system, running, last_shown, _nothing, lambda h: h.left(task["id"]) > 0)
    )

    assert {t["status"] for t in shown} == {"RUNNING"}
    assert live.left(task["id"]) > last_shown
    assert replayed.left(task["id"]) == live.left(task["id"])
    assert _listed(system, running) == set()


def test_a_search_the_list_refuses_the_stream_refuses_too(system: System) -> None:
    for q in ("\x00", "x" * 201):
        listed = system.client.get("/api/tasks/", params={"q": q})
        streamed = system.client.get("/api/stream", params={"q": q})
        assert (listed.status_code, streamed.status_code) == (422, 422), repr(q)


# -- helpers -----------------------------------------------------------------------------------


@dataclass
class Heard:
    """What one stream delivered: (event, data) in order."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    def ids(self, event: str) -> set[str]:
        return {data["id"] for kind, data in self.events if kind == event}

    def shown(self, task_id: str) -> list[dict[str, Any]]:
        """The versions of the task delivered as ``task`` events."""
        return [data for kind, data in self.events if kind == "task" and data["id"] == task_id]

    def left(self, task_id: str) -> int:
        """The sequence of the last ``left`` of the task; 0 if none came."""
        seqs = [d["seq"] for k, d in self.events if k == "left" and d["id"] == task_id]
        return max(seqs, default=0)

    async def wait_until(self, predicate: Callable[["Heard"], bool]) -> None:
        async with asyncio.timeout(TIMEOUT_S), self.changed:
            await self.changed.wait_for(lambda: predicate(self))


def _delivered(task_id: str) -> Callable[[Heard], bool]:
    return lambda heard: task_id in heard.ids("task")


Act = Callable[[httpx.AsyncClient], Awaitable[None]]


async def _listen(
    system: System, searches: list[str | None], after: int, act: Act
) -> dict[str | None, Heard]:
    """Follow a stream per search from ``after``, ``act``, then read each up to a sentinel.

    The sentinel is a task named as its search (so found by it) submitted after ``act``:
    once a stream delivered it, that stream delivered every earlier change too.
    """
    heard = {q: Heard() for q in searches}
    async with AsyncExitStack() as stack:
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=system.api_url))
        readers = [
            await _open(stack, system, {} if q is None else {"q": q}, after, heard[q])
            for q in searches
        ]
        await act(client)
        for q in searches:
            sentinel = await _submit(client, "email_sending", {"num_emails": 1}, q or "sentinel")
            await heard[q].wait_until(_delivered(sentinel["id"]))
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    return heard


async def _follow_one(
    system: System,
    params: dict[str, str],
    after: int | None,
    act: Act,
    until: Callable[[Heard], bool],
) -> Heard:
    heard = Heard()
    async with AsyncExitStack() as stack:
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=system.api_url))
        reader = await _open(stack, system, params, after, heard)
        await act(client)
        await heard.wait_until(until)
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    return heard


async def _open(
    stack: AsyncExitStack, system: System, params: dict[str, str], after: int | None, heard: Heard
) -> "asyncio.Task[None]":
    """Connect a stream (headers received) and read it into ``heard`` in the background."""
    client = await stack.enter_async_context(
        httpx.AsyncClient(base_url=system.api_url, timeout=TIMEOUT_S)
    )
    headers = {} if after is None else {"Last-Event-ID": str(after)}
    source = await stack.enter_async_context(
        aconnect_sse(client, "GET", "/api/stream", params=params, headers=headers)
    )
    assert source.response.status_code == 200, await source.response.aread()

    async def read() -> None:
        async for sse in source.aiter_sse():
            if sse.event in ("task", "left"):
                heard.events.append((sse.event, json.loads(sse.data)))
                async with heard.changed:
                    heard.changed.notify_all()

    return asyncio.create_task(read())


async def _submit(
    client: httpx.AsyncClient,
    task_type: str,
    parameters: dict[str, Any],
    name: str,
    *,
    wait: float = 10,
) -> Task:
    response = await client.post(
        "/api/tasks/submit",
        json={"task_type": task_type, "parameters": parameters, "name": name},
        params={"wait": wait},
    )
    assert response.status_code == 201, response.text
    task: Task = response.json()
    return task


async def _retry_all(client: httpx.AsyncClient, system: System, corpus: Corpus) -> None:
    """Change every task of the corpus (retried, then failed again) while the streams follow."""
    for task in corpus.tasks:
        response = await client.post(f"/api/tasks/{task['id']}/retry")
        assert response.status_code == 202, response.text
    for task in corpus.tasks:
        attempts = task["attempts"]
        await asyncio.to_thread(
            system.wait_until,
            task["id"],
            lambda t, a=attempts: t["status"] == "FAILED" and t["attempts"] > a,
        )


async def _nothing(_client: httpx.AsyncClient) -> None:
    return None


def _listed(system: System, params: dict[str, str]) -> set[str]:
    """Every id ``GET /api/tasks/`` lists for these filters, page after page."""
    ids: set[str] = set()
    cursor: str | None = None
    while True:
        page_params = {**params, "limit": "200", **({"cursor": cursor} if cursor else {})}
        page = system.client.get("/api/tasks/", params=page_params).json()
        ids |= {t["id"] for t in page["items"]}
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


def _disagreements(
    system: System, corpus: Corpus, heard: dict[str | None, Heard]
) -> dict[str | None, dict[str, set[str]]]:
    """For each search on which stream and list disagree about the corpus: both answers."""
    found: dict[str | None, dict[str, set[str]]] = {}
    for q, stream in heard.items():
        listed = _listed(system, {} if q is None else {"q": q}) & corpus.ids
        delivered = stream.ids("task") & corpus.ids
        left = stream.ids("left") & corpus.ids
        if delivered != listed or left:
            found[q] = {"listed": listed, "delivered": delivered, "left": left}
    return found
