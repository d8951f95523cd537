"""docker-compose.yml, checked by a real Compose binary and against deploy/Dockerfile."""

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

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


def test_each_service_builds_its_own_dockerfile_target(
    compose: dict[str, Any], app_services: set[str]
) -> None:
    targets = dockerfile_targets()
    built = {name: s["build"] for name, s in compose["services"].items() if "build" in s}
    assert set(built) == app_services
    for name, build in built.items():
        assert build["dockerfile"] == "deploy/Dockerfile", name
        assert build["target"] == name, name
        assert name in targets, f"deploy/Dockerfile has no stage {name!r}"


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
