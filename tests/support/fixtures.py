"""System fixtures: import them into a test folder's conftest to use them there."""

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from taskbus.devrun.smtp import MailTrap

from support.system import SERVICES, System, running_system

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

SystemFactory = Callable[..., AbstractContextManager[System]]


@pytest.fixture(scope="session")
def system_factory(nats_url: str, database_url: str, smtp_server: MailTrap) -> SystemFactory:
    """Start a further, isolated system (own namespace and database) for one test."""

    def factory(
        name: str,
        services: tuple[str, ...] = SERVICES,
        extra_env: dict[str, str] | None = None,
        nats: str | None = None,
    ) -> AbstractContextManager[System]:
        return running_system(
            nats_url=nats or nats_url,
            database_url=database_url,
            smtp_host=smtp_server.host,
            smtp_port=smtp_server.port,
            log_dir=ARTIFACTS / name,
            services=services,
            extra_env=extra_env,
        )

    return factory


@pytest.fixture(scope="session")
def system(system_factory: SystemFactory) -> Iterator[System]:
    """The shared system most tests use; they isolate themselves by fresh task ids."""
    with system_factory("system") as shared:
        yield shared
