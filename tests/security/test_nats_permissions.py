"""Each service's NATS user can do its own job and nothing else (docs/design.md, "Threat model").

A refusal here is the server's own: the publish or JetStream request is dropped and the client
is sent a permissions violation naming the subject, which the test waits for. The worker roles
are the apps': the built-ins' and ``worker-games``, of an app declared only in the tests.
"""

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import pytest
from apps.dice import app as dice_app
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError
from support.system import BUILTIN_APPS, System
from taskbus.devrun.nats_auth import ADMIN, PROJECTOR, worker_role
from taskbus.subjects import Subjects, worker_consumer

from security.conftest import SERVICE_ROLES, WORKERS, Secured

pytestmark = pytest.mark.e2e

_REFUSAL_WITHIN_S = 5.0
TESTS = Path(__file__).resolve().parents[1]
GAMES = worker_role(dice_app)
"""The role of tests/apps/dice.py's app, which nothing in libs/ or services/ knows of."""


@dataclass
class Session:
    """A connection as one role, recording the permission violations the server reports."""

    nc: NATS
    subjects: Subjects
    violations: list[str] = field(default_factory=list)
    reported: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def js(self) -> JetStreamContext:
        return self.nc.jetstream()

    async def refused(self, subject: str, action: Callable[[], Awaitable[Any]]) -> None:
        """``action`` must not succeed, and the server must report it violates the role's
        rights on ``subject``."""
        wanted = f'permissions violation for publish to "{subject}"'.lower()
        attempt = asyncio.create_task(action())
        try:
            async with asyncio.timeout(_REFUSAL_WITHIN_S):
                while not any(wanted in violation for violation in self.violations):
                    self.reported.clear()
                    await self.reported.wait()
        finally:
            succeeded = attempt.done() and not attempt.cancelled() and not attempt.exception()
            attempt.cancel()
        assert not succeeded, f"{subject}: the request was answered"


@asynccontextmanager
async def session(secured: Secured, role: str) -> AsyncIterator[Session]:
    credentials = secured.credentials(role)
    assert credentials.password is not None
    holder: list[Session] = []

    async def on_error(exc: Exception) -> None:
        if holder:
            holder[0].violations.append(str(exc).lower())
            holder[0].reported.set()

    nc = await nats.connect(
        secured.nats_url,
        user=credentials.user,
        password=credentials.password.get_secret_value(),
        error_cb=on_error,
        allow_reconnect=False,
    )
    holder.append(Session(nc, Subjects(secured.namespace)))
    try:
        yield holder[0]
    finally:
        await nc.close()


def _event_subject(subjects: Subjects, task_type: str, kind: str) -> str:
    return f"{subjects.all_events.removesuffix('.>')}.{task_type}.{kind}.{uuid.uuid4()}"


FORGED = [
    ("worker-csv", "email_sending", "succeeded"),
    ("worker-csv", "image_processing", "started"),
    ("worker-csv", "csv_processing", "submitted"),
    ("worker-csv", "csv_processing", "cancelled"),
    ("worker-email", "csv_processing", "failed"),
    ("worker-image", "email_sending", "progress"),
    ("worker-csv", "roll_dice", "succeeded"),
    (GAMES, "csv_processing", "succeeded"),
    (GAMES, "email_sending", "started"),
    (GAMES, "roll_dice", "submitted"),
    ("api", "csv_processing", "succeeded"),
    ("api", "email_sending", "started"),
    ("api", "image_processing", "checkpoint"),
    ("projector", "csv_processing", "submitted"),
    ("projector", "csv_processing", "succeeded"),
    ("projector", "email_sending", "cancelled"),
    ("projector", "roll_dice", "succeeded"),
]


@pytest.mark.parametrize(("role", "task_type", "kind"), FORGED)
async def test_a_role_cannot_publish_events_that_are_not_its_own(
    secured: Secured, role: str, task_type: str, kind: str
) -> None:
    async with session(secured, role) as forger, session(secured, ADMIN) as admin:
        subject = _event_subject(forger.subjects, task_type, kind)
        stream = forger.subjects.stream
        await forger.refused(subject, lambda: forger.js.publish(subject, b"{}", stream=stream))
        with pytest.raises(NotFoundError):
            await admin.js.get_last_msg(stream, subject)


def _destroyers(subjects: Subjects) -> dict[str, tuple[str, Callable[[JetStreamContext], Any]]]:
    """Each destructive call a service must not make: the subject it is refused on, and it."""
    stream, files, workers = subjects.stream, subjects.files_bucket, subjects.workers_bucket
    consumer = worker_consumer("csv_processing")
    api = "$JS.API"
    return {
        "delete the stream": (f"{api}.STREAM.DELETE.{stream}", lambda js: js.delete_stream(stream)),
        "purge the stream": (f"{api}.STREAM.PURGE.{stream}", lambda js: js.purge_stream(stream)),
        "reshape the stream": (
            f"{api}.STREAM.UPDATE.{stream}",
            lambda js: js.update_stream(StreamConfig(name=stream, max_msgs=1)),
        ),
        "delete a work consumer": (
            f"{api}.CONSUMER.DELETE.{stream}.{consumer}",
            lambda js: js.delete_consumer(stream, consumer),
        ),
        "delete the files bucket": (
            f"{api}.STREAM.DELETE.OBJ_{files}",
            lambda js: js.delete_object_store(files),
        ),
        "purge the files bucket": (
            f"{api}.STREAM.PURGE.OBJ_{files}",
            lambda js: js.purge_stream(f"OBJ_{files}"),
        ),
        "delete the workers bucket": (
            f"{api}.STREAM.DELETE.KV_{workers}",
            lambda js: js.delete_key_value(workers),
        ),
    }


DESTROYERS = sorted(_destroyers(Subjects()))


@pytest.mark.parametrize("role", SERVICE_ROLES)
@pytest.mark.parametrize("what", DESTROYERS)
async def test_nobody_but_the_admin_deletes_or_purges(
    secured: Secured, secured_system: System, role: str, what: str
) -> None:
    secured_system.submit("csv_processing", {"num_rows": 10}, wait=0)
    async with session(secured, role) as service, session(secured, ADMIN) as admin:
        subjects = service.subjects
        before = await admin.js.stream_info(subjects.stream)
        subject, destroy = _destroyers(subjects)[what]
        await service.refused(subject, lambda: destroy(service.js))
        stream = await admin.js.stream_info(subjects.stream)
        assert stream.state.first_seq == before.state.first_seq
        assert stream.state.last_seq >= before.state.last_seq > 0
        assert stream.config.max_msgs in (None, -1)
        await admin.js.consumer_info(subjects.stream, worker_consumer("csv_processing"))
        await admin.js.stream_info(f"OBJ_{subjects.files_bucket}")
        await admin.js.stream_info(f"KV_{subjects.workers_bucket}")


@pytest.mark.parametrize("role", SERVICE_ROLES)
async def test_services_subscribe_only_to_their_replies(secured: Secured, role: str) -> None:
    async with session(secured, role) as service:
        everything = service.subjects.all_events
        await service.nc.subscribe(everything)
        await service.nc.flush()
        wanted = f'permissions violation for subscription to "{everything}"'.lower()
        async with asyncio.timeout(_REFUSAL_WITHIN_S):
            while not any(wanted in violation for violation in service.violations):
                service.reported.clear()
                await service.reported.wait()


async def test_the_admin_may_create_purge_and_delete(secured: Secured) -> None:
    async with session(secured, ADMIN) as admin:
        scratch = f"{secured.namespace.upper()}_SCRATCH"
        await admin.js.add_stream(StreamConfig(name=scratch, subjects=[f"scratch.{scratch}.>"]))
        await admin.js.publish(f"scratch.{scratch}.x", b"x", stream=scratch)
        await admin.js.purge_stream(scratch)
        assert await admin.js.delete_stream(scratch)


def test_every_service_works_with_only_its_own_rights(secured_system: System) -> None:
    s = secured_system
    runs = [
        s.submit("csv_processing", {"num_rows": 500}),
        s.submit("email_sending", {"num_emails": 3}),
        s.submit("image_processing", {"num_images": 2}),
        s.submit("csv_processing", {"file_id": s.upload(b"a,b\n1,2\n3,4\n", "in.csv", "text/csv")}),
    ]
    for task in runs:
        assert s.wait_for_status(task["id"], "SUCCESS", "FAILED")["status"] == "SUCCESS"

    slow = s.submit("csv_processing", {"num_rows": 1000, "processing_time": 60})
    s.wait_for_status(slow["id"], "RUNNING")
    assert s.client.delete(f"/api/tasks/{slow['id']}").status_code == 202
    s.wait_for_status(slow["id"], "CANCELLED")

    failed = s.submit_failing(max_attempts=1)
    s.wait_for_status(failed["id"], "FAILED")
    assert s.client.post(f"/api/tasks/{failed['id']}/retry").status_code == 202
    again = s.wait_until(failed["id"], lambda t: t["status"] == "FAILED" and t["attempts"] == 2)
    assert again["attempts"] == 2

    assert s.client.get("/api/stats").status_code == 200
    workers = s.client.get("/api/workers")
    assert workers.status_code == 200
    assert {w["task_type"] for w in workers.json()["items"]} == {
        task_type for app in BUILTIN_APPS for task_type in app.tasks
    }
    for service in s.processes:
        refused = [line for line in s.log_lines(service) if "permissions violation" in line]
        assert not refused, f"{service} was refused: {refused[:3]}"


@pytest.fixture
def dice_worker(secured: Secured, secured_system: System) -> Iterator[System]:
    """``taskbus worker apps.dice:app`` logged in as its app's role, beside the built-ins."""
    env = {"PYTHONPATH": str(TESTS), **secured.login(GAMES)}
    secured_system.start("taskbus", "worker", "apps.dice:app", env=env, name=GAMES)
    try:
        yield secured_system
    finally:
        secured_system.stop(GAMES)


def test_an_app_declared_in_the_tests_works_with_its_own_role(dice_worker: System) -> None:
    """Its worker creates and pulls from its type's consumer, announces its type, heartbeats
    and publishes its type's events (the result among them) with nothing but ``worker-games``."""
    s = dice_worker
    assert WORKERS[GAMES] == ("roll_dice",)
    task = s.submit("roll_dice", {"dice": 3, "seed": 7})
    done = s.wait_for_status(task["id"], "SUCCESS", "FAILED")
    assert done["status"] == "SUCCESS", done
    rng = random.Random(7)
    rolls = [rng.randint(1, 6) for _ in range(3)]
    assert done["result"] == {"rolls": rolls, "total": sum(rolls)}
    assert done["attempts"] == 1
    workers = s.client.get("/api/workers").json()["items"]
    assert "roll_dice" in {w["task_type"] for w in workers}
    refused = [line for line in s.log_lines(GAMES) if "permissions violation" in line]
    assert not refused, refused[:3]


# A worker role pulls from its own types' consumers only; the projector from none of them.
TAKERS = [
    (GAMES, "csv_processing"),
    (GAMES, "email_sending"),
    ("worker-csv", "roll_dice"),
    (PROJECTOR, "roll_dice"),
    (PROJECTOR, "csv_processing"),
]


@pytest.mark.parametrize(("role", "task_type"), TAKERS)
async def test_a_role_cannot_take_another_types_work(
    secured: Secured, role: str, task_type: str
) -> None:
    async with session(secured, role) as taker:
        stream, consumer = taker.subjects.stream, worker_consumer(task_type)
        work = await taker.js.pull_subscribe_bind(consumer, stream)
        subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        await taker.refused(subject, lambda: work.fetch(1, timeout=2))


@pytest.mark.parametrize(
    ("role", "task_type"), [(GAMES, "csv_processing"), ("worker-csv", "roll_dice")]
)
async def test_a_worker_cannot_announce_another_type(
    secured: Secured, role: str, task_type: str
) -> None:
    async with session(secured, role) as worker, session(secured, ADMIN) as admin:
        bucket = worker.subjects.catalog_bucket
        catalog = await worker.js.key_value(bucket)
        before = await (await admin.js.key_value(bucket)).get(task_type)
        await worker.refused(
            f"$KV.{bucket}.{task_type}", lambda: catalog.put(task_type, b'{"forged": true}')
        )
        after = await (await admin.js.key_value(bucket)).get(task_type)
        assert (after.revision, after.value) == (before.revision, before.value)
