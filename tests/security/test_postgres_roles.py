"""The API's Postgres role reads the read model and can change nothing in it; the projector's
owns it (docs/design.md, "Threat model")."""

import secrets
from collections.abc import AsyncIterator

import asyncpg
import pytest
from support.fixtures import ARTIFACTS
from support.system import System, running_system
from taskbus.devrun.postgres import create_database
from taskbus.devrun.smtp import MailTrap
from taskbus.provision import PROJECTOR_ROLE, provision_postgres

from security.conftest import Secured

pytestmark = pytest.mark.e2e

REFUSED_WRITES = [
    "INSERT INTO taskbus.tasks (id) VALUES (gen_random_uuid())",
    "UPDATE taskbus.tasks SET name = 'forged'",
    "DELETE FROM taskbus.tasks",
    "TRUNCATE taskbus.tasks",
    "INSERT INTO taskbus.projection_position (projection, seq) VALUES ('forged', 0)",
    "UPDATE taskbus.projector_lease SET holder = 'intruder'",
    "DELETE FROM taskbus.task_events",
    "CREATE TABLE taskbus.intruder (x int)",
    "CREATE TABLE public.intruder (x int)",
    "CREATE SCHEMA intruder",
    "DROP TABLE taskbus.tasks",
    "ALTER TABLE taskbus.tasks ADD COLUMN intruder int",
    "CREATE TEMPORARY TABLE intruder (x int)",
]


@pytest.fixture
async def as_api(secured: Secured, secured_system: System) -> AsyncIterator[asyncpg.Connection]:
    """A session as the API's role, on a read model the running projector made."""
    secured_system.submit("csv_processing", {"num_rows": 10})
    conn = await asyncpg.connect(secured.api_url)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.mark.parametrize("statement", REFUSED_WRITES)
async def test_the_apis_role_cannot_change_the_read_model(
    as_api: asyncpg.Connection, statement: str
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await as_api.execute(statement)


async def test_the_apis_role_reads_and_listens(as_api: asyncpg.Connection) -> None:
    assert await as_api.fetchval("SELECT count(*) FROM taskbus.tasks") >= 1
    assert await as_api.fetchval("SELECT count(*) FROM taskbus.task_events") >= 1
    await as_api.add_listener("taskbus_changes", lambda *_: None)


async def test_a_rebuild_keeps_the_readers_grants(secured: Secured, secured_system: System) -> None:
    s = secured_system
    task = s.submit("csv_processing", {"num_rows": 10})
    s.wait_for_status(task["id"], "SUCCESS")
    s.stop("taskbus-projector")
    s.start("taskbus-projector", "--rebuild")
    s.wait_for_log("taskbus-projector", "read model rebuilt")

    conn = await asyncpg.connect(secured.api_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM taskbus.tasks WHERE id = $1", task["id"])
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM taskbus.tasks")
    finally:
        await conn.close()
    owner = await _schema_owner(secured.superuser_url, "taskbus")
    listed = s.client.get("/api/tasks/", params={"limit": 200})
    assert owner == PROJECTOR_ROLE
    assert listed.status_code == 200
    assert task["id"] in {item["id"] for item in listed.json()["items"]}


async def test_the_api_answers_503_until_the_projector_made_the_read_model(
    secured: Secured, smtp_server: MailTrap
) -> None:
    database = create_database(secured.superuser_url, f"fresh_{secrets.token_hex(4)}")
    # A schema of its own: its projector's consumers must not share the shared system's names.
    schema = "waiting"
    projector_url, api_url = await provision_postgres(
        database,
        projector_password=secured.projector_password,
        api_password=secured.api_password,
        schema=schema,
    )
    service_env = secured.service_env()
    service_env["taskbus-api"]["DATABASE_URL"] = api_url
    service_env["taskbus-projector"]["DATABASE_URL"] = projector_url
    with running_system(
        nats_url=secured.nats_url,
        database_url=database,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        log_dir=ARTIFACTS / "secured-fresh-database",
        services=("taskbus-api",),
        extra_env={"READMODEL_SCHEMA": schema, "API_READ_WAIT_S": "0.5"},
        namespace=secured.namespace,
        service_env=service_env,
    ) as s:
        before = s.client.get("/api/tasks/")
        health = s.client.get("/api/health")
        submitted = s.submit("csv_processing", {"num_rows": 10}, wait=0)
        s.start("taskbus-projector")
        s.wait_for_log("taskbus-api", "change feed started")
        after = s.client.get("/api/tasks/", params={"limit": 200})

    assert before.status_code == 503, before.text
    assert "not created yet" in before.json()["detail"]
    assert health.status_code == 503
    assert after.status_code == 200
    assert submitted["id"] in {item["id"] for item in after.json()["items"]}


async def _schema_owner(url: str, schema: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        owner: str = await conn.fetchval(
            "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = $1", schema
        )
    finally:
        await conn.close()
    return owner
