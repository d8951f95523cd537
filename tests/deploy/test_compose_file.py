"""docker-compose.yml, checked by a real Compose binary and against deploy/Dockerfile and the
workspace: each worker is the generic image, built with its package, serving its app."""

import copy
import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from taskbus.app import AppNotFound, load_app

pytestmark = pytest.mark.deploy

RunTool = Callable[..., subprocess.CompletedProcess[str]]
REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"


def dockerfile_targets() -> set[str]:
    text = (REPO / "deploy" / "Dockerfile").read_text()
    return set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)\s*$", text, flags=re.MULTILINE | re.I))


def test_compose_accepts_the_file(run_tool: RunTool) -> None:
    result = run_tool("docker-compose", "-f", COMPOSE_FILE, "config", "-q")
    assert result.returncode == 0, result.stderr


def test_compose_rejects_a_broken_copy(run_tool: RunTool, tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE_FILE.read_text().replace("service_healthy", "service_happy", 1))
    result = run_tool("docker-compose", "-f", broken, "config", "-q")
    assert result.returncode != 0
    assert "condition value must be one of" in result.stderr


def test_every_service_restarts_unless_stopped(compose: dict[str, Any]) -> None:
    policies = {name: s.get("restart") for name, s in compose["services"].items()}
    assert set(policies.values()) == {"unless-stopped"}, policies


def test_dependencies_wait_for_a_healthy_service(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dependency, how in service.get("depends_on", {}).items():
            assert how["condition"] == "service_healthy", (name, dependency)
            assert "healthcheck" in services[dependency], dependency


def test_infrastructure_has_healthchecks_and_volumes(
    compose: dict[str, Any], app_services: set[str]
) -> None:
    services = compose["services"]
    assert set(services) - app_services == {"nats", "postgres", "mailpit"}
    for name in ("nats", "postgres", "mailpit"):
        assert services[name]["healthcheck"]["test"], name
    for name in ("nats", "postgres"):
        assert [v for v in services[name]["volumes"] if v["type"] == "volume"], name


def test_services_can_be_scaled(compose: dict[str, Any], app_services: set[str]) -> None:
    """`--scale` needs no fixed container name, and no host port outside the API."""
    for name, service in compose["services"].items():
        assert "container_name" not in service, name
    for name in app_services - {"api"}:
        assert "ports" not in compose["services"][name], name


def build_problems(services: dict[str, Any], targets: set[str]) -> list[str]:
    """The API and the projector build their own target; a worker the generic `worker`
    target, with WORKER_PACKAGE its own workspace package (services/<name>), serving
    (TASKBUS_APP) an app that package defines."""
    problems = []
    for name, service in sorted(services.items()):
        build = service.get("build", {})
        if build.get("dockerfile") != "deploy/Dockerfile":
            problems.append(f"{name}: not built from deploy/Dockerfile")
        target = build.get("target")
        if target not in targets:
            problems.append(f"{name}: deploy/Dockerfile has no stage {target!r}")
        if target != "worker":
            if target != name:
                problems.append(f"{name}: builds target {target!r}")
            continue
        package = workspace_package(name)
        if build.get("args", {}).get("WORKER_PACKAGE") != package:
            problems.append(f"{name}: WORKER_PACKAGE is not {package}")
        app = service.get("environment", {}).get("TASKBUS_APP") or ""
        module = served_module(app)
        if module is None or not module.is_relative_to(REPO / "services" / name):
            problems.append(f"{name}: TASKBUS_APP={app!r} is no TaskApp of services/{name}")
    return problems


def workspace_package(service: str) -> str | None:
    manifest = REPO / "services" / service / "pyproject.toml"
    if not manifest.exists():
        return None
    name: str = tomllib.loads(manifest.read_text())["project"]["name"]
    return name


def served_module(target: str) -> Path | None:
    """The file of the module whose TaskApp ``target`` names, as `taskbus worker` loads it."""
    try:
        load_app(target)
    except AppNotFound:
        return None
    file = sys.modules[target.partition(":")[0]].__file__
    return None if file is None else Path(file).resolve()


def test_each_service_builds_its_own_image(compose: dict[str, Any], app_services: set[str]) -> None:
    built = {name: s for name, s in compose["services"].items() if "build" in s}
    assert set(built) == app_services
    assert build_problems(built, dockerfile_targets()) == []


def test_workers_share_the_generic_image(compose_workers: dict[str, Any]) -> None:
    """Every worker service of the workspace (services/worker-*) runs the generic image."""
    workers = {p.parent.name for p in (REPO / "services").glob("worker-*/pyproject.toml")}
    assert workers
    assert set(compose_workers) == workers


def test_only_the_email_worker_gets_smtp_settings(compose: dict[str, Any]) -> None:
    smtp = {
        name
        for name, service in compose["services"].items()
        if any(variable.startswith("SMTP_") for variable in service.get("environment", {}))
    }
    assert smtp == {"worker-email"}


def test_a_broken_build_is_reported(compose: dict[str, Any]) -> None:
    broken = copy.deepcopy({n: s for n, s in compose["services"].items() if "build" in s})
    broken["api"]["build"]["target"] = "worker-api"
    broken["worker-csv"]["build"]["args"]["WORKER_PACKAGE"] = "taskbus-worker-image"
    broken["worker-email"]["environment"]["TASKBUS_APP"] = "taskbus_worker_image.tasks:app"
    broken["worker-image"]["environment"]["TASKBUS_APP"] = "taskbus_worker_image.tasks:ap"

    assert build_problems(broken, dockerfile_targets()) == [
        "api: deploy/Dockerfile has no stage 'worker-api'",
        "api: builds target 'worker-api'",
        "worker-csv: WORKER_PACKAGE is not taskbus-worker-csv",
        "worker-email: TASKBUS_APP='taskbus_worker_image.tasks:app' is no TaskApp of "
        "services/worker-email",
        "worker-image: TASKBUS_APP='taskbus_worker_image.tasks:ap' is no TaskApp of "
        "services/worker-image",
    ]


def test_port_chooses_where_the_api_is_published(run_tool: RunTool) -> None:
    result = run_tool(
        "docker-compose", "-f", COMPOSE_FILE, "config", "--format=json", env={"PORT": "9123"}
    )
    assert result.returncode == 0, result.stderr
    api = json.loads(result.stdout)["services"]["api"]
    assert [(p["published"], p["target"]) for p in api["ports"]] == [("9123", 8000)]
    assert api["environment"]["PORT"] == "8000"


def test_optional_settings_pass_through_only_when_set(
    compose: dict[str, Any], run_tool: RunTool
) -> None:
    """An unset API_KEY must stay unset in the container, not arrive as an empty key."""
    assert compose["services"]["api"]["environment"]["API_KEY"] is None
    result = run_tool(
        "docker-compose", "-f", COMPOSE_FILE, "config", "--format=json", env={"API_KEY": "k"}
    )
    assert json.loads(result.stdout)["services"]["api"]["environment"]["API_KEY"] == "k"
