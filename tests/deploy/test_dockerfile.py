"""deploy/Dockerfile, read as stages: one cached, non-root image per service of the workspace.

No Docker engine is at hand to build it (the build steps themselves are uv's), so
these checks hold the Dockerfile to the workspace it packages.
"""

import json
import re
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.deploy

REPO = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.name for p in (REPO / "services").iterdir() if (p / "pyproject.toml").exists())

Stages = dict[str, list[tuple[str, str]]]


def parse_stages(text: str) -> Stages:
    """Each named stage's instructions as (KEYWORD, arguments), continuations joined."""
    logical = re.sub(r"\\\n", " ", text)
    stages: Stages = {}
    current: list[tuple[str, str]] = []
    for line in logical.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        keyword, _, arguments = line.strip().partition(" ")
        if keyword.upper() == "FROM":
            current = stages.setdefault(arguments.split()[-1], [])
        current.append((keyword.upper(), " ".join(arguments.split())))
    return stages


def console_script(service: str) -> str:
    """The service's own console script, named for it (a service may ship tools beside it)."""
    project = tomllib.loads((REPO / "services" / service / "pyproject.toml").read_text())
    script = f"taskbus-{service}"
    assert script in project["project"]["scripts"], f"{service} has no console script {script}"
    return script


def build_problems(service: str, stages: Stages) -> list[str]:
    """The builder syncs the locked dependencies, then copies the code, then installs it.

    Dependencies first keeps their layer cached across code changes; the code goes in
    non-editable because the runtime image has the venv but not the source.
    """
    package = f"--package taskbus-{service} "
    problems, order = [], []
    for keyword, args in stages.get(f"build-{service}", []):
        if "uv sync" in args:
            if not all(flag in f"{args} " for flag in ("--frozen ", "--no-dev ", package)):
                problems.append(f"build-{service}: `{args}` is not --frozen --no-dev {package}")
            order.append("dependencies" if "--no-install-workspace" in args else "code")
            if order[-1] == "code" and "--no-editable" not in args:
                problems.append(f"build-{service}: the code is installed editable")
        elif keyword == "COPY":
            order.append("source")
    if order != ["dependencies", "source", "source", "code"]:
        problems.append(f"build-{service}: steps are {order}")
    return problems


def image_problems(service: str, stages: Stages) -> list[str]:
    """The image runs its service's console script, from the venv its builder made."""
    steps = stages.get(service, [])
    problems = []
    if ("ENTRYPOINT", json.dumps([console_script(service)])) not in steps:
        problems.append(f"{service}: ENTRYPOINT is not {console_script(service)}")
    if ("COPY", f"--from=build-{service} /app/.venv /app/.venv") not in steps:
        problems.append(f"{service}: does not copy the venv of build-{service}")
    return problems


@pytest.fixture(scope="module")
def stages() -> Stages:
    return parse_stages((REPO / "deploy" / "Dockerfile").read_text())


def test_compose_runs_every_service_of_the_workspace(app_services: set[str]) -> None:
    assert set(SERVICES) == app_services


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_a_cached_build_and_its_own_image(service: str, stages: Stages) -> None:
    assert build_problems(service, stages) + image_problems(service, stages) == []


def test_images_run_as_a_numeric_non_root_user(stages: Stages) -> None:
    (user,) = [args for keyword, args in stages["runtime"] if keyword == "USER"]
    uid = user.split(":")[0]
    assert uid.isdigit()
    assert int(uid) > 0


def test_the_api_image_holds_the_web_ui(stages: Stages) -> None:
    assert ("COPY", "web /app/web") in stages["api"]


def test_a_broken_copy_is_reported(stages: Stages) -> None:
    broken = dict(stages)
    csv = stages["build-worker-csv"]
    dependencies = next(step for step in csv if "--no-install-workspace" in step[1])
    broken["build-worker-csv"] = [step for step in csv if step != dependencies]
    broken["worker-image"] = [step for step in stages["worker-image"] if step[0] != "ENTRYPOINT"]

    assert build_problems("worker-csv", broken) == [
        "build-worker-csv: steps are ['source', 'source', 'code']"
    ]
    assert image_problems("worker-image", broken) == [
        "worker-image: ENTRYPOINT is not taskbus-worker-image"
    ]
