"""deploy/Dockerfile, read as stages: one cached, non-root image per service of the workspace.

The API and the projector have a stage each; every worker package shares one
generic pair, `build-worker` and `worker`, chosen by the build argument
WORKER_PACKAGE and run as `taskbus worker $TASKBUS_APP`. No Docker engine is at
hand to build it (the build steps themselves are uv's), so these checks hold the
Dockerfile to the workspace it packages, and run the worker's entrypoint itself.
"""

import fnmatch
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.deploy

REPO = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.name for p in (REPO / "services").iterdir() if (p / "pyproject.toml").exists())
OWN_STAGES = ("api", "projector")
WORKER_PACKAGE = "WORKER_PACKAGE"
# COPY --parents is generally available from this Dockerfile syntax on.
PARENTS_SYNTAX = (1, 20)

Stages = dict[str, list[tuple[str, str]]]
Resource = dict[str, Any]


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


def syntax_version(text: str) -> tuple[int, ...] | None:
    """The pinned `# syntax=docker/dockerfile:X.Y` of the first line, if any."""
    match = re.match(r"#\s*syntax=docker/dockerfile:(\d+)\.(\d+)", text)
    return (int(match[1]), int(match[2])) if match else None


def console_script(service: str) -> str:
    """The service's own console script, named for it (a service may ship tools beside it)."""
    project = tomllib.loads((REPO / "services" / service / "pyproject.toml").read_text())
    script = f"taskbus-{service}"
    assert script in project["project"]["scripts"], f"{service} has no console script {script}"
    return script


def package_argument(args: str) -> str | None:
    """What a `uv sync` names with --package: a package, or `$VARIABLE` for a build argument."""
    named = re.search(r'--package "?(\$\{?)?([\w.-]+)', args)
    return None if named is None else ("$" if named[1] else "") + named[2]


def build_problems(stage: str, package: str, stages: Stages) -> list[str]:
    """The builder syncs the locked dependencies, then copies the code, then installs it.

    Dependencies first keeps their layer cached across code changes; the code goes in
    non-editable because the runtime image has the venv but not the source. ``package`` is
    what both syncs name: a package, or `$WORKER_PACKAGE`.
    """
    problems, order = [], []
    for keyword, args in stages.get(stage, []):
        if "uv sync" in args:
            flags = all(flag in f"{args} " for flag in ("--frozen ", "--no-dev "))
            if not flags or package_argument(args) != package:
                problems.append(f"{stage}: `{args}` is not --frozen --no-dev --package {package}")
            order.append("dependencies" if "--no-install-workspace" in args else "code")
            if order[-1] == "code" and "--no-editable" not in args:
                problems.append(f"{stage}: the code is installed editable")
        elif keyword == "COPY":
            order.append("source")
    if order != ["dependencies", "source", "source", "code"]:
        problems.append(f"{stage}: steps are {order}")
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


def worker_image_problems(stages: Stages) -> list[str]:
    """The generic pair: the build takes WORKER_PACKAGE, the image its venv and the health
    check every background service has, and an entrypoint (run by the tests below)."""
    problems = []
    if ("ARG", WORKER_PACKAGE) not in stages.get("build-worker", []):
        problems.append(f"build-worker: declares no ARG {WORKER_PACKAGE}")
    steps = stages.get("worker", [])
    if ("FROM", "background AS worker") not in steps:
        problems.append("worker: is not FROM background (the health port and HEALTHCHECK)")
    if ("COPY", "--from=build-worker /app/.venv /app/.venv") not in steps:
        problems.append("worker: does not copy the venv of build-worker")
    if not [args for keyword, args in steps if keyword == "ENTRYPOINT"]:
        problems.append("worker: has no ENTRYPOINT")
    return problems


def workspace_members() -> list[Path]:
    """Every member's manifest, by the root's `tool.uv.workspace.members` globs."""
    root = tomllib.loads((REPO / "pyproject.toml").read_text())
    return sorted(
        manifest.relative_to(REPO)
        for pattern in root["tool"]["uv"]["workspace"]["members"]
        for manifest in REPO.glob(f"{pattern}/pyproject.toml")
    )


def manifest_problems(text: str, stages: Stages) -> list[str]:
    """The workspace stage copies every member's manifest, to its own path, by a glob a new
    member matches too, under a syntax where `COPY --parents` is no labs feature."""
    copies = [args.split() for keyword, args in stages["workspace"] if keyword == "COPY"]
    globs = [
        source
        for args in copies
        if "--parents" in args
        for source in args[:-1]
        if not source.startswith("--")
    ]
    problems = [] if ["pyproject.toml", "uv.lock", "./"] in copies else ["workspace: no lock"]
    problems += [
        f"workspace: {member} is not copied by a COPY --parents glob"
        for member in workspace_members()
        if not any(fnmatch.fnmatch(str(member), pattern) for pattern in globs)
    ]
    problems += [
        f"workspace: {pattern} names one member only" for pattern in globs if "*" not in pattern
    ]
    version = syntax_version(text)
    if globs and (version is None or version < PARENTS_SYNTAX):
        problems.append(
            f"COPY --parents needs `# syntax=docker/dockerfile:1.20` or later, not {version}"
        )
    return problems


def entrypoint(stages: Stages) -> list[str]:
    """The worker image's ENTRYPOINT, as the argv it is."""
    (args,) = [args for keyword, args in stages.get("worker", []) if keyword == "ENTRYPOINT"]
    argv: list[str] = json.loads(args)
    return argv


def run(argv: list[str], path: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": f"{path}{os.pathsep}{os.environ.get('PATH', '')}", **env},
        cwd="/",
    )


def entrypoint_problems(argv: list[str], stub_dir: Path) -> list[str]:
    """The entrypoint, run with a stand-in `taskbus` that reports how it was started: it
    must be `taskbus worker $TASKBUS_APP ARGS...` in the entrypoint's own process (exec:
    PID 1 in the container, so SIGTERM reaches the worker), and never start without an app."""
    stub = stub_dir / "taskbus"
    stub.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "print(json.dumps({'argv': sys.argv[1:], 'pid': os.getpid()}))\n"
    )
    stub.chmod(0o755)
    problems = []
    process = run([*argv, "--only", "t"], str(stub_dir), {"TASKBUS_APP": "pkg.tasks:app"})
    out, err = process.communicate(timeout=30)
    started = json.loads(out) if process.returncode == 0 and out else {}
    if started.get("argv") != ["worker", "pkg.tasks:app", "--only", "t"]:
        problems.append(
            f"runs taskbus {started.get('argv')} ({err.strip()}), not `worker APP ARGS`"
        )
    elif started.get("pid") != process.pid:
        problems.append("runs taskbus in a child process, not by exec")
    for env in ({}, {"TASKBUS_APP": ""}):
        process = run(argv, str(stub_dir), env)
        out, err = process.communicate(timeout=30)
        if process.returncode == 0 or "set TASKBUS_APP=module:app" not in err:
            problems.append(f"starts with TASKBUS_APP={env.get('TASKBUS_APP')!r}: {out.strip()}")
    return problems


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (REPO / "deploy" / "Dockerfile").read_text()


@pytest.fixture(scope="module")
def stages(dockerfile: str) -> Stages:
    return parse_stages(dockerfile)


def test_compose_runs_every_service_of_the_workspace(app_services: set[str]) -> None:
    assert set(SERVICES) == app_services


@pytest.mark.parametrize("service", OWN_STAGES)
def test_the_api_and_projector_have_a_cached_build_and_their_own_image(
    service: str, stages: Stages
) -> None:
    problems = build_problems(f"build-{service}", f"taskbus-{service}", stages)
    assert problems + image_problems(service, stages) == []


def test_every_worker_shares_one_cached_build_and_image(stages: Stages) -> None:
    assert build_problems("build-worker", f"${WORKER_PACKAGE}", stages) == []
    assert worker_image_problems(stages) == []
    assert not [stage for stage in stages if stage.startswith(("worker-", "build-worker-"))]


def test_the_workspace_stage_copies_every_member_manifest(dockerfile: str, stages: Stages) -> None:
    assert manifest_problems(dockerfile, stages) == []


def test_the_worker_entrypoint_execs_taskbus_worker(stages: Stages, tmp_path: Path) -> None:
    assert entrypoint_problems(entrypoint(stages), tmp_path) == []


def test_the_worker_entrypoint_reaches_the_real_cli(
    stages: Stages, compose_workers: dict[str, Resource]
) -> None:
    """With the `taskbus` of the venv running the tests (the image's venv holds the same
    workspace): each compose worker's app imports, and `--only` a type it lacks is refused
    by the CLI itself, naming the app's types, before any connection is tried."""
    assert compose_workers
    for name, service in compose_workers.items():
        app = service["environment"]["TASKBUS_APP"]
        process = run(
            [*entrypoint(stages), "--only", "no_such"],
            str(Path(sys.executable).parent),
            {"TASKBUS_APP": app},
        )
        _, err = process.communicate(timeout=60)
        assert process.returncode == 2, (name, err)
        assert f"taskbus worker: {app} declares no no_such; it declares " in err, name


def test_images_run_as_a_numeric_non_root_user(stages: Stages) -> None:
    (user,) = [args for keyword, args in stages["runtime"] if keyword == "USER"]
    uid = user.split(":")[0]
    assert uid.isdigit()
    assert int(uid) > 0


def test_the_api_image_holds_the_web_ui(stages: Stages) -> None:
    assert ("COPY", "web /app/web") in stages["api"]


def test_a_broken_copy_is_reported(dockerfile: str, stages: Stages) -> None:
    broken = dict(stages)
    build = stages["build-worker"]
    dependencies = next(step for step in build if "--no-install-workspace" in step[1])
    broken["build-worker"] = [step for step in build if step != dependencies]
    broken["build-api"] = [
        (keyword, args.replace("--package taskbus-api", "--package taskbus-projector"))
        for keyword, args in stages["build-api"]
    ]
    broken["projector"] = [step for step in stages["projector"] if step[0] != "ENTRYPOINT"]
    broken["worker"] = [step for step in stages["worker"] if not step[1].startswith("--from")]
    broken["workspace"] = [
        (keyword, args.replace("services/*/pyproject.toml", "services/api/pyproject.toml"))
        for keyword, args in stages["workspace"]
    ]

    assert build_problems("build-worker", f"${WORKER_PACKAGE}", broken) == [
        "build-worker: steps are ['source', 'source', 'code']"
    ]
    assert build_problems("build-api", "taskbus-api", broken) == [
        f"build-api: `{args}` is not --frozen --no-dev --package taskbus-api"
        for _, args in broken["build-api"]
        if "uv sync" in args
    ]
    assert image_problems("projector", broken) == ["projector: ENTRYPOINT is not taskbus-projector"]
    assert worker_image_problems(broken) == ["worker: does not copy the venv of build-worker"]
    assert manifest_problems(dockerfile, broken) == [
        *(
            f"workspace: services/{service}/pyproject.toml is not copied by a COPY --parents glob"
            for service in SERVICES
            if service != "api"
        ),
        "workspace: services/api/pyproject.toml names one member only",
    ]
    labs = dockerfile.replace("docker/dockerfile:1.20", "docker/dockerfile:1.7-labs", 1)
    assert manifest_problems(labs, stages) == [
        "COPY --parents needs `# syntax=docker/dockerfile:1.20` or later, not (1, 7)"
    ]


def test_a_broken_entrypoint_is_reported(stages: Stages, tmp_path: Path) -> None:
    shell, flag, script, *rest = entrypoint(stages)
    assert shell == "/bin/sh"
    dropped = [shell, flag, script.replace(' "$@"', ""), *rest]
    forked = [shell, flag, script.removeprefix("exec ") + "; exit $?", *rest]
    defaulted = [shell, flag, re.sub(r":\?[^}]*", ":-pkg.tasks:app", script, count=1), *rest]

    assert entrypoint_problems(dropped, tmp_path) == [
        "runs taskbus ['worker', 'pkg.tasks:app'] (), not `worker APP ARGS`"
    ]
    assert entrypoint_problems(forked, tmp_path) == ["runs taskbus in a child process, not by exec"]
    assert [p.split(":")[0] for p in entrypoint_problems(defaulted, tmp_path)] == [
        "starts with TASKBUS_APP=None",
        "starts with TASKBUS_APP=''",
    ]
