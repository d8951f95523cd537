"""The shipped NATS configurations grant what `make up` grants (taskbus.devrun.nats_auth), to
the apps the deployment runs: the TASKBUS_APP of each worker in docker-compose.yml (the
Kubernetes Deployments serve the same, tests/deploy/test_service_coverage.py checks)."""

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from taskbus.app import load_app
from taskbus.devrun import nats_auth
from taskbus.devrun.nats_auth import (
    compose_config,
    helm_env,
    helm_users,
    helm_values,
    password_variable,
    roles,
    worker_roles,
)
from taskbus.subjects import Subjects

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
BUILTIN_ROLES = {"admin", "api", "projector", "worker-csv", "worker-email", "worker-image"}


def compose_services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    return services


def deployed_targets() -> list[str]:
    """The apps compose runs workers of."""
    environments = [service.get("environment") or {} for service in compose_services().values()]
    return [env["TASKBUS_APP"] for env in environments if "TASKBUS_APP" in env]


WORKERS = worker_roles(load_app(target) for target in deployed_targets())


def helm_values_file() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((DEPLOY / "nats-values.yaml").read_text())
    return values


def test_the_deployment_runs_at_least_the_built_ins() -> None:
    assert set(roles(WORKERS)) >= BUILTIN_ROLES


def test_compose_nats_config_is_the_generated_one() -> None:
    text = (DEPLOY / "nats-auth.conf").read_text()
    assert "include ./nats-auth.conf" in (DEPLOY / "nats.conf").read_text()
    assert text == compose_config(deployed_targets(), Subjects(), WORKERS)
    assert not re.search(r'"password": "', text), "a literal password in the repository"


def test_compose_gives_every_user_its_password() -> None:
    """nats-server gets each role's password variable, and each service logs in as a user
    the configuration grants, with that user's password."""
    services = compose_services()
    assert set(services["nats"]["environment"]) == {password_variable(r) for r in roles(WORKERS)}
    for name, service in services.items():
        env = service.get("environment") or {}
        if "NATS_USER" not in env:
            continue
        user = env["NATS_USER"]
        assert user in roles(WORKERS), f"{name}: NATS user {user!r} is granted nothing"
        assert env["NATS_PASSWORD"] == f"${{{password_variable(user)}:-}}", name
        if "TASKBUS_APP" in env:
            assert user == nats_auth.worker_role(load_app(env["TASKBUS_APP"])), name


def test_helm_values_grant_the_same_rights() -> None:
    values = helm_values_file()
    assert values["config"]["merge"]["authorization"] == helm_users(Subjects(), WORKERS)
    assert values["container"]["env"] == helm_env(WORKERS)
    assert {ref["valueFrom"]["secretKeyRef"]["key"] for ref in helm_env(WORKERS).values()} == set(
        roles(WORKERS)
    )
    # Generating them again changes nothing: the file is the generator's, to the byte.
    text = (DEPLOY / "nats-values.yaml").read_text()
    assert helm_values(text, deployed_targets(), Subjects(), WORKERS) == text


@pytest.fixture
def deploy_copy(tmp_path: Path) -> Path:
    for name in ("nats-auth.conf", "nats-values.yaml"):
        shutil.copy(DEPLOY / name, tmp_path / name)
    return tmp_path


def test_the_generator_run_for_the_deployments_apps_writes_the_shipped_files(
    deploy_copy: Path,
) -> None:
    nats_auth.main(
        [arg for target in deployed_targets() for arg in ("--app", target)]
        + [
            "--write",
            str(deploy_copy),
        ]
    )
    for name in ("nats-auth.conf", "nats-values.yaml"):
        assert (deploy_copy / name).read_text() == (DEPLOY / name).read_text(), name


def test_a_new_app_is_one_run_of_the_generator(deploy_copy: Path) -> None:
    """deploy/README.md, "Add your own task type", step 4: the deployment's apps and the new
    one (here an app of the tests) get a user each; the rest of the values stays as it was."""
    targets = [*deployed_targets(), "apps.dice:app"]
    nats_auth.main(
        [arg for target in targets for arg in ("--app", target)]
        + [
            "--write",
            str(deploy_copy),
        ]
    )

    values = yaml.safe_load((deploy_copy / "nats-values.yaml").read_text())
    granted = values["config"]["merge"]["authorization"]["users"]
    [games] = [user for user in granted if user["user"] == "worker-games"]
    assert games["password"] == "<< $NATS_WORKER_GAMES_PASSWORD >>"
    assert "tasks.roll_dice.succeeded.*" in games["permissions"]["publish"]["allow"]
    assert not any("csv_processing" in s for s in games["permissions"]["publish"]["allow"])
    [projector] = [user for user in granted if user["user"] == "projector"]
    assert (
        "$JS.API.CONSUMER.MSG.NEXT.TASKS.worker-roll-dice"
        in (projector["permissions"]["publish"]["deny"])
    )
    assert values["container"]["env"]["NATS_WORKER_GAMES_PASSWORD"] == {
        "valueFrom": {"secretKeyRef": {"name": "taskbus-nats", "key": "worker-games"}}
    }
    shipped = helm_values_file()
    for values_ in (values, shipped):
        del values_["config"]["merge"]["authorization"], values_["container"]["env"]
    assert values == shipped
    config = (deploy_copy / "nats-auth.conf").read_text()
    assert '"user": "worker-games"' in config
    assert "--app apps.dice:app" in config


def test_the_generator_refuses_what_it_cannot_serve(deploy_copy: Path) -> None:
    (deploy_copy / "nats-values.yaml").write_text("config: {}\n")
    with pytest.raises(SystemExit):
        nats_auth.main(["--app", "apps.dice:app", "--write", str(deploy_copy)])
    # Nothing is written when the values cannot be.
    assert (deploy_copy / "nats-auth.conf").read_text() == (DEPLOY / "nats-auth.conf").read_text()
    with pytest.raises(SystemExit):
        nats_auth.main(["--app", "nowhere:app"])
