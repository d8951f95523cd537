"""``make up`` serves a user's apps beside the built-ins and tells hand-started workers how to
join (``$DATA_DIR/worker.env``)."""

import shlex
import stat
from pathlib import Path

import pytest
from taskbus.devrun.main import ServerEnv, service_specs, write_worker_env
from taskbus.errors import InfraError

SERVERS = ServerEnv(
    common={"NATS_URL": "nats://127.0.0.1:4222", "DATABASE_URL": "postgresql://x"},
    own={"api": {"NATS_USER": "api", "NATS_PASSWORD": "api-secret"}},
    workers={"NATS_USER": "dev-worker", "NATS_PASSWORD": "it's secret"},
)


def test_each_app_gets_a_worker_with_the_workers_login() -> None:
    specs = service_specs(SERVERS, 8000, ["examples.wordcount:app"])

    [app] = [spec for spec in specs if spec.name == "app-text"]
    assert list(app.argv)[1:] == ["worker", "examples.wordcount:app"]
    assert app.env is not None
    assert (app.env["NATS_USER"], app.env["NATS_PASSWORD"]) == ("dev-worker", "it's secret")
    assert {spec.name for spec in specs} >= {"api", "projector", "worker-csv"}


def test_an_app_that_does_not_import_stops_make_up_with_a_reason() -> None:
    with pytest.raises(InfraError, match="TASKBUS_APPS: cannot import 'nowhere'"):
        service_specs(SERVERS, 8000, ["nowhere:app"])


def test_worker_env_holds_what_a_worker_needs_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = write_worker_env(tmp_path, SERVERS)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    settings = dict(
        shlex.split(line, posix=True)[0].split("=", 1) for line in path.read_text().splitlines()
    )
    assert settings == {
        "NATS_URL": "nats://127.0.0.1:4222",
        "NATS_USER": "dev-worker",
        "NATS_PASSWORD": "it's secret",
    }
