"""Schema migrations for the read model, applied in order on start, each exactly once."""

from importlib import resources

import structlog

from taskbus.readmodel.database import Connection

log = structlog.get_logger(__name__)

# Any fixed number: concurrent starters (api and projector replicas) serialise on it.
_MIGRATION_LOCK = 0x7461736B62

_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    name       text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


def quote_ident(name: str) -> str:
    """Quote an SQL identifier (schema names come from configuration, not from clients)."""
    return '"' + name.replace('"', '""') + '"'


def migration_files() -> list[tuple[str, str]]:
    """(name, sql) of every migration shipped with the package, in name order."""
    folder = resources.files(__package__).joinpath("migrations")
    files = sorted(
        (entry for entry in folder.iterdir() if entry.name.endswith(".sql")),
        key=lambda entry: entry.name,
    )
    return [(entry.name, entry.read_text()) for entry in files]


async def migrate(conn: Connection, schema: str) -> list[str]:
    """Apply to ``schema`` the migrations not applied there yet; returns their names."""
    applied_now: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        # Extensions live in public so that renaming the read-model schema leaves them be.
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public")
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
        await conn.execute(f"SET LOCAL search_path TO {quote_ident(schema)}, public")
        await conn.execute(_BOOKKEEPING)
        done = {row["name"] for row in await conn.fetch("SELECT name FROM schema_migrations")}
        for name, sql in migration_files():
            if name in done:
                continue
            await conn.execute(sql)
            await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
            applied_now.append(name)
    if applied_now:
        log.info("read model migrated", migrations=applied_now)
    return applied_now
