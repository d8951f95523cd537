"""The admin step: what the services may not do for themselves under least privilege.

On NATS, as the admin user, it creates the stream and the buckets (services only create their
own consumers). On Postgres, as a superuser, it creates the projector's role, which owns the
read model's database (migrations, writes), and the API's, which may only read it
(docs/design.md, "Threat model"). ``make up`` runs it at every start; compose and Kubernetes run
it once before the services: ``python -m taskbus.provision``, configured by the environment.
Every step is idempotent.
"""

import asyncio
from collections.abc import Sequence
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import structlog
from pydantic import Field, SecretStr

from taskbus.app import TaskApp, announce_app, load_app
from taskbus.catalog import catalog_bucket
from taskbus.connections import close_nats, connect_nats
from taskbus.eventlog import ensure_stream
from taskbus.files import ensure_file_bucket
from taskbus.logs import configure_logging
from taskbus.readmodel.database import Connection
from taskbus.readmodel.schema import quote_ident
from taskbus.settings import CommonSettings, NatsCredentials
from taskbus.workers import workers_bucket

log = structlog.get_logger(__name__)

PROJECTOR_ROLE = "taskbus_projector"
API_ROLE = "taskbus_api"
READER_ROLE = "taskbus_reader"
"""Holds the read grants; the API's role is a member, and so may be any other reader."""


class ProvisionSettings(CommonSettings):
    """``NATS_USER``/``NATS_PASSWORD`` are the admin's; ``DATABASE_URL`` a superuser's."""

    apps: str = Field("", validation_alias="TASKBUS_APPS")
    """The apps whose task types to enter in the catalog: ``MODULE:APP``, comma-separated."""
    projector_db_password: SecretStr | None = Field(
        None, validation_alias="POSTGRES_PROJECTOR_PASSWORD"
    )
    api_db_password: SecretStr | None = Field(None, validation_alias="POSTGRES_API_PASSWORD")


async def provision_nats(
    settings: CommonSettings,
    credentials: NatsCredentials | None = None,
    apps: Sequence[TaskApp] = (),
) -> None:
    """Create (or bring to shape) the stream and the buckets, as the admin (``credentials``,
    by default the environment's), and enter ``apps``' task types in the catalog, so the API
    takes their tasks before any of their workers has started."""
    nc = await connect_nats(settings.nats_url, name="provision", credentials=credentials)
    try:
        js = nc.jetstream()
        await ensure_stream(js, settings)
        await ensure_file_bucket(js, settings)
        await workers_bucket(js, settings.subjects, replicas=settings.stream_replicas)
        await catalog_bucket(js, settings.subjects, replicas=settings.stream_replicas)
        for app in apps:
            await announce_app(js, settings, app)
    finally:
        await close_nats(nc)
    log.info("nats provisioned", stream=settings.subjects.stream)


async def provision_postgres(
    superuser_url: str, *, projector_password: str, api_password: str, schema: str
) -> tuple[str, str]:
    """Create the two roles in the database of ``superuser_url``; return their URLs
    (projector's, API's)."""
    database = urlsplit(superuser_url).path.lstrip("/")
    conn = await asyncpg.connect(superuser_url)
    try:
        async with conn.transaction():
            await _login_role(conn, PROJECTOR_ROLE, projector_password)
            await _login_role(conn, API_ROLE, api_password)
            if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", READER_ROLE):
                await conn.execute(f"CREATE ROLE {READER_ROLE} NOLOGIN")
            await conn.execute(f"GRANT {READER_ROLE} TO {API_ROLE}")
            await _grant(conn, quote_ident(database), schema)
    finally:
        await conn.close()
    log.info("postgres roles provisioned", projector=PROJECTOR_ROLE, api=API_ROLE)
    return (
        role_url(superuser_url, PROJECTOR_ROLE, projector_password),
        role_url(superuser_url, API_ROLE, api_password),
    )


async def _login_role(conn: Connection, role: str, password: str) -> None:
    exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
    verb = "ALTER" if exists else "CREATE"
    # A password cannot be a bind parameter of CREATE ROLE; format() quotes it as a literal.
    statement = await conn.fetchval(
        "SELECT format('%s ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %L', "
        "$1::text, $2::text, $3::text)",
        verb,
        role,
        password,
    )
    await conn.execute(statement)


async def _grant(conn: Connection, database: str, schema: str) -> None:
    # The owner of the database may create schemas (the read model's, a rebuild's) and owns
    # schema public (Postgres 15 on); nobody else may create anything or connect at all.
    await conn.execute(f"ALTER DATABASE {database} OWNER TO {PROJECTOR_ROLE}")
    await conn.execute(f"REVOKE ALL ON DATABASE {database} FROM PUBLIC")
    await conn.execute(f"GRANT CONNECT ON DATABASE {database} TO {API_ROLE}")
    await conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    # Created here so that the projector needs no superuser for it (migrate only checks).
    await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public")
    # Whatever schema and table the projector creates from now on (a --rebuild's fresh schema
    # included) is readable by the readers, with no grant in any migration.
    await conn.execute(
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {PROJECTOR_ROLE} "
        f"GRANT USAGE ON SCHEMAS TO {READER_ROLE}"
    )
    await conn.execute(
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {PROJECTOR_ROLE} "
        f"GRANT SELECT ON TABLES TO {READER_ROLE}"
    )
    await _hand_over(conn, schema)


async def _hand_over(conn: Connection, schema: str) -> None:
    """A read model made before the roles existed (by a superuser) passes to the projector."""
    owner = await conn.fetchval(
        "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = $1", schema
    )
    if owner is None or owner == PROJECTOR_ROLE:
        return
    quoted = quote_ident(schema)
    await conn.execute(f"ALTER SCHEMA {quoted} OWNER TO {PROJECTOR_ROLE}")
    tables = await conn.fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm')",
        schema,
    )
    for table in tables:
        # Sequences and indexes follow their table.
        await conn.execute(
            f"ALTER TABLE {quoted}.{quote_ident(table['relname'])} OWNER TO {PROJECTOR_ROLE}"
        )
    await conn.execute(f"GRANT USAGE ON SCHEMA {quoted} TO {READER_ROLE}")
    await conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {quoted} TO {READER_ROLE}")
    log.info("read model handed over to the projector's role", schema=schema, previous=owner)


def _targets(apps: str) -> list[str]:
    return [target.strip() for target in apps.split(",") if target.strip()]


def role_url(url: str, role: str, password: str) -> str:
    """``url`` logging in as ``role``."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{role}:{quote(password, safe='')}@{host}"))


async def _provision(settings: ProvisionSettings) -> None:
    await provision_nats(settings, apps=[load_app(target) for target in _targets(settings.apps)])
    projector, api = settings.projector_db_password, settings.api_db_password
    if projector is not None and api is not None:
        await provision_postgres(
            settings.database_url,
            projector_password=projector.get_secret_value(),
            api_password=api.get_secret_value(),
            schema=settings.readmodel_schema,
        )


def main() -> None:
    settings = ProvisionSettings()
    configure_logging(settings.log_level, settings.log_format, service="provision")
    asyncio.run(_provision(settings))


if __name__ == "__main__":
    main()
