"""A secured installation, provisioned the way ``make up`` provisions one.

Its own nats-server, whose only users are one namespace's roles (``taskbus.devrun.nats_auth``)
for the built-in apps and an app declared only in the tests (``tests/apps/dice.py``), as with
``TASKBUS_APPS=apps.dice:app make up``; and its own Postgres, where every role logs in with its
password. The admin step (``taskbus.provision``) created the stream, the buckets and the two
Postgres roles. The rest of the suite runs on the session's servers, which have no
authorization.
"""

import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest
from apps.dice import app as dice_app
from support.fixtures import ARTIFACTS, system, system_factory
from support.system import BUILTIN_APPS, System, running_system
from taskbus.devrun.nats import start_nats
from taskbus.devrun.nats_auth import ADMIN, roles, service_roles, user_name, users, worker_roles
from taskbus.devrun.postgres import DEFAULT_DATABASE, run_coroutine, start_postgres
from taskbus.devrun.smtp import MailTrap
from taskbus.provision import provision_nats, provision_postgres
from taskbus.settings import CommonSettings, NatsCredentials
from taskbus.subjects import Subjects

__all__ = ["Secured", "secured", "secured_system", "system", "system_factory"]

APPS = (*BUILTIN_APPS, dice_app)
"""The apps the secured server has worker roles for; only the built-ins run in its system."""
WORKERS = worker_roles(APPS)
SERVICE_ROLES = service_roles(WORKERS)
ROLES = roles(WORKERS)


@dataclass(frozen=True)
class Secured:
    namespace: str
    nats_url: str
    passwords: dict[str, str]
    """Each NATS role's password."""
    superuser_url: str
    projector_password: str
    api_password: str
    projector_url: str
    api_url: str
    """The API's Postgres role: it may only read."""

    def credentials(self, role: str) -> NatsCredentials:
        return NatsCredentials(user=user_name(role, self.namespace), password=self.passwords[role])

    def login(self, role: str) -> dict[str, str]:
        """The environment of a process logging in as ``role``."""
        return {"NATS_USER": user_name(role, self.namespace), "NATS_PASSWORD": self.passwords[role]}

    def service_env(self) -> dict[str, dict[str, str]]:
        """What each service's process gets: its own NATS user, its own Postgres role. The
        built-in workers' commands are named as their roles (``taskbus-worker-csv``)."""
        env = {f"taskbus-{role}": self.login(role) for role in SERVICE_ROLES}
        env["taskbus-api"]["DATABASE_URL"] = self.api_url
        env["taskbus-projector"]["DATABASE_URL"] = self.projector_url
        return env


@pytest.fixture(scope="session")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    namespace = f"s{secrets.token_hex(4)}"
    passwords = {role: secrets.token_urlsafe(16) for role in ROLES}
    folder = tmp_path_factory.mktemp("secured")
    with ExitStack() as running:
        nats = start_nats(
            folder / "nats", users=tuple(users(Subjects(namespace), passwords, WORKERS))
        )
        running.callback(nats.stop)
        postgres = start_postgres(
            folder / "postgres", fsync=False, superuser_password=secrets.token_urlsafe(16)
        )
        running.callback(postgres.stop)
        settings = CommonSettings(nats_url=nats.url, namespace=namespace)
        admin = NatsCredentials(user=user_name(ADMIN, namespace), password=passwords[ADMIN])
        run_coroutine(provision_nats(settings, admin, apps=APPS))
        superuser_url = postgres.dsn(DEFAULT_DATABASE)
        projector_password, api_password = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        projector_url, api_url = run_coroutine(
            provision_postgres(
                superuser_url,
                projector_password=projector_password,
                api_password=api_password,
                schema=settings.readmodel_schema,
            )
        )
        yield Secured(
            namespace,
            nats.url,
            passwords,
            superuser_url,
            projector_password,
            api_password,
            projector_url,
            api_url,
        )


@pytest.fixture(scope="session")
def secured_system(secured: Secured, smtp_server: MailTrap) -> Iterator[System]:
    """Every service on the secured servers, each with only its own rights."""
    with running_system(
        nats_url=secured.nats_url,
        database_url=secured.superuser_url,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        log_dir=ARTIFACTS / "secured-system",
        namespace=secured.namespace,
        service_env=secured.service_env(),
    ) as running:
        yield running
