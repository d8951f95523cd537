"""Every service compose runs is deployable on Kubernetes, probed, budgeted and scaled,
logged in to NATS as a user the Helm values grant (a worker as its app's role); a worker type
is the worker component and its values.

Each check collects problems instead of stopping at the first, and is shown to
report a deliberately broken copy.
"""

import copy
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from taskbus.app import AppNotFound, load_app
from taskbus.devrun.nats_auth import helm_users, worker_role, worker_roles
from taskbus.subjects import Subjects, worker_consumer
from taskbus_worker_csv.tasks import app as csv_app
from taskbus_worker_email.tasks import app as email_app
from taskbus_worker_image.tasks import app as image_app

pytestmark = pytest.mark.deploy

Resource = dict[str, Any]
Index = dict[str, dict[str, Resource]]
Kustomize = Callable[[Path], subprocess.CompletedProcess[str]]
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPONENT = DEPLOY / "k8s" / "components" / "worker"
WORKER_SERVICES = {
    task_type: f"worker-{app.name}"
    for app in (csv_app, email_app, image_app)
    for task_type in app.tasks
}
PROBES = {"readinessProbe": "/readyz", "livenessProbe": "/healthz"}
# The manifests set no namespace, so the services use the default stream.
STREAM = Subjects().stream


def container_problems(name: str, container: Resource) -> list[str]:
    ports = {p.get("name") for p in container.get("ports", [])} | {
        p["containerPort"] for p in container.get("ports", [])
    }
    problems = []
    for probe, path in PROBES.items():
        http = container.get(probe, {}).get("httpGet", {})
        if http.get("path") != path or http.get("port") not in ports:
            problems.append(f"{name}: {probe} is not GET {path} on a declared port")
    resources = container.get("resources", {})
    problems += [
        f"{name}: no {bound} {what}"
        for bound in ("requests", "limits")
        for what in ("cpu", "memory")
        if what not in resources.get(bound, {})
    ]
    return problems


def deployment_problems(services: set[str], index: Index) -> list[str]:
    """Each service needs a non-root Deployment of its name, its containers probed and sized."""
    problems: list[str] = []
    deployments = index.get("Deployment", {})
    for name in sorted(services):
        if name not in deployments:
            problems.append(f"{name}: no Deployment")
            continue
        pod = deployments[name]["spec"]["template"]["spec"]
        if pod.get("securityContext", {}).get("runAsNonRoot") is not True:
            problems.append(f"{name}: pod is not runAsNonRoot")
        for container in pod["containers"]:
            problems += container_problems(name, container)
    return problems


def budget_problems(index: Index) -> list[str]:
    """Each Deployment's pods need a PodDisruptionBudget selecting them."""
    selectors = [
        p["spec"]["selector"]["matchLabels"] for p in index["PodDisruptionBudget"].values()
    ]
    problems = []
    for name, deployment in sorted(index["Deployment"].items()):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        if not any(selector.items() <= labels.items() for selector in selectors):
            problems.append(f"{name}: no PodDisruptionBudget")
    return problems


def scaler_problems(index: Index) -> list[str]:
    """Each worker type needs exactly one KEDA ScaledObject on its durable consumer's lag."""
    problems = []
    for task_type, name in WORKER_SERVICES.items():
        scalers = [
            s["spec"]
            for s in index.get("ScaledObject", {}).values()
            if s["spec"]["scaleTargetRef"]["name"] == name
        ]
        if len(scalers) != 1:
            problems.append(f"{name}: {len(scalers)} ScaledObjects")
            continue
        (spec,) = scalers
        wanted = {"stream": STREAM, "consumer": worker_consumer(task_type), "account": "$G"}
        triggers = [t["metadata"] for t in spec["triggers"] if t["type"] == "nats-jetstream"]
        if not any(wanted.items() <= trigger.items() for trigger in triggers):
            problems.append(f"{name}: no nats-jetstream trigger on {wanted}")
        # KEDA's defaults: 0 and 100.
        if not 0 <= spec.get("minReplicaCount", 0) <= spec.get("maxReplicaCount", 100):
            problems.append(f"{name}: replica bounds out of order")
    return problems


def autoscaled_with_fixed_replicas(index: Index) -> list[str]:
    """An autoscaled Deployment must not set replicas: every apply would reset the count."""
    targets = {
        h["spec"]["scaleTargetRef"]["name"] for h in index["HorizontalPodAutoscaler"].values()
    }
    targets |= {s["spec"]["scaleTargetRef"]["name"] for s in index["ScaledObject"].values()}
    deployments = index["Deployment"]
    return sorted(n for n in targets if n in deployments and "replicas" in deployments[n]["spec"])


def containers(index: Index) -> list[tuple[str, Resource]]:
    return [
        (name, container)
        for name, deployment in sorted(index.get("Deployment", {}).items())
        for container in deployment["spec"]["template"]["spec"]["containers"]
    ]


def env_of(container: Resource) -> dict[str, Resource]:
    return {variable["name"]: variable for variable in container.get("env", [])}


def granted_users(values: Resource | None = None) -> set[str]:
    """The NATS users of the Helm values (by default deploy/nats-values.yaml, generated by
    taskbus.devrun.nats_auth for the apps deployed)."""
    if values is None:
        values = yaml.safe_load((DEPLOY / "nats-values.yaml").read_text())
    return {user["user"] for user in values["config"]["merge"]["authorization"]["users"]}


def credential_problems(index: Index, granted: set[str] | None = None) -> list[str]:
    """Each service logs in to NATS as a user of its own, which the NATS configurations
    grant (``granted``, by default the Helm values' users), with that user's password from
    taskbus-nats; only the email worker gets the SMTP credentials."""
    granted = granted_users() if granted is None else granted
    problems: list[str] = []
    users: dict[str | None, str] = {}
    for name, container in containers(index):
        env = env_of(container)
        user = env.get("NATS_USER", {}).get("value")
        secret = env.get("NATS_PASSWORD", {}).get("valueFrom", {}).get("secretKeyRef", {})
        if user not in granted:
            problems.append(f"{name}: NATS user {user!r} is granted nothing")
        if secret != {"name": "taskbus-nats", "key": user}:
            problems.append(f"{name}: NATS_PASSWORD is not taskbus-nats[{user}]")
        if user in users:
            problems.append(f"{name}: shares NATS user {user!r} with {users[user]}")
        users.setdefault(user, name)
        smtp = {v.get("valueFrom", {}).get("secretKeyRef", {}).get("name") for v in env.values()}
        if ("taskbus-smtp" in smtp) != (name == "worker-email"):
            problems.append(f"{name}: {'has' if 'taskbus-smtp' in smtp else 'lacks'} taskbus-smtp")
    return problems


def app_problems(index: Index) -> list[str]:
    """A worker (a Deployment with TASKBUS_APP) serves an app that imports, logs in as that
    app's NATS role (the one allowed its task types), and its ScaledObject watches exactly
    the consumers of that app's task types."""
    problems = []
    for name, container in containers(index):
        env = env_of(container)
        target = env.get("TASKBUS_APP", {}).get("value")
        if target is None:
            continue
        try:
            app = load_app(target)
        except AppNotFound as exc:
            problems.append(f"{name}: TASKBUS_APP={target!r}: {exc}")
            continue
        user = env.get("NATS_USER", {}).get("value")
        if user != worker_role(app):
            problems.append(
                f"{name}: logs in as {user!r}, but {target}'s role is {worker_role(app)}"
            )
        watched = {
            trigger["metadata"].get("consumer")
            for scaled in index.get("ScaledObject", {}).values()
            if scaled["spec"]["scaleTargetRef"]["name"] == name
            for trigger in scaled["spec"]["triggers"]
        }
        if watched != {worker_consumer(task_type) for task_type in app.tasks}:
            problems.append(f"{name}: scales on {sorted(map(str, watched))}, serves {target}")
    return problems


def render_worker(
    kustomize: Kustomize, directory: Path, values: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """A new worker type as deploy/README.md says to write one: a kustomization of the
    component and its values."""
    directory.mkdir()
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "components": [os.path.relpath(COMPONENT, directory)],
        "configMapGenerator": [
            {"name": "worker-values", "literals": [f"{k}={v}" for k, v in values.items()]}
        ],
    }
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return kustomize(directory)


def index_of(rendered: str) -> Index:
    index: Index = {}
    for resource in yaml.safe_load_all(rendered):
        index.setdefault(resource["kind"], {})[resource["metadata"]["name"]] = resource
    return index


def test_every_task_type_has_a_worker_service(app_services: set[str]) -> None:
    assert set(WORKER_SERVICES.values()) <= app_services


def test_every_compose_service_has_a_probed_deployment(
    app_services: set[str], by_kind: Index
) -> None:
    assert deployment_problems(app_services, by_kind) == []
    assert set(by_kind["Deployment"]) == app_services


def test_every_deployment_has_a_disruption_budget(by_kind: Index) -> None:
    assert budget_problems(by_kind) == []


def test_every_worker_scales_on_its_consumer(by_kind: Index) -> None:
    assert scaler_problems(by_kind) == []


def test_the_api_scales_on_an_hpa(by_kind: Index) -> None:
    (hpa,) = by_kind["HorizontalPodAutoscaler"].values()
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "api")
    assert hpa["spec"]["minReplicas"] >= 2


def test_autoscaled_deployments_leave_replicas_to_the_scaler(by_kind: Index) -> None:
    assert autoscaled_with_fixed_replicas(by_kind) == []


def test_every_service_has_nats_credentials_of_its_own(by_kind: Index) -> None:
    assert credential_problems(by_kind) == []


def test_every_worker_scales_on_the_consumers_of_the_app_it_serves(by_kind: Index) -> None:
    assert app_problems(by_kind) == []
    # The built-ins among them; a worker of another app is checked the same way.
    assert {n for n, c in containers(by_kind) if "TASKBUS_APP" in env_of(c)} >= set(
        WORKER_SERVICES.values()
    )


def test_a_new_worker_type_is_its_values(kustomize: Kustomize, tmp_path: Path) -> None:
    """The component alone makes a whole worker of four values: probed, budgeted, scaled on
    its consumer, logged in as its app's role, which the NATS configurations grant once
    generated for it too. The app is one declared only in the tests (tests/apps/dice.py)."""
    values = {
        "name": "worker-games",
        "image": "registry.example.com/acme/worker-games",
        "app": "apps.dice:app",
        "consumer": worker_consumer("roll_dice"),
    }
    result = render_worker(kustomize, tmp_path / "worker-games", values)
    assert result.returncode == 0, result.stderr
    index = index_of(result.stdout)
    assert {kind: set(names) for kind, names in index.items()} == {
        "Deployment": {"worker-games"},
        "PodDisruptionBudget": {"worker-games"},
        "ScaledObject": {"worker-games"},
    }
    assert deployment_problems({"worker-games"}, index) == []
    assert budget_problems(index) == []
    assert app_problems(index) == []
    assert autoscaled_with_fixed_replicas({**index, "HorizontalPodAutoscaler": {}}) == []
    ((_, container),) = containers(index)
    assert (container["name"], container["image"]) == (
        "worker-games",
        "registry.example.com/acme/worker-games",
    )
    # Granted once the Helm values are generated for the deployment's apps and this one.
    assert credential_problems(index) == [
        "worker-games: NATS user 'worker-games' is granted nothing"
    ]
    apps = [csv_app, email_app, image_app, load_app("apps.dice:app")]
    regenerated = {
        "config": {"merge": {"authorization": helm_users(Subjects(), worker_roles(apps))}}
    }
    assert credential_problems(index, granted_users(regenerated)) == []

    misnamed = render_worker(kustomize, tmp_path / "worker-pdf", {**values, "name": "worker-pdf"})
    assert misnamed.returncode == 0, misnamed.stderr
    assert app_problems(index_of(misnamed.stdout)) == [
        "worker-pdf: logs in as 'worker-pdf', but apps.dice:app's role is worker-games"
    ]


def test_a_worker_type_missing_a_value_is_refused(kustomize: Kustomize, tmp_path: Path) -> None:
    values = {"name": "worker-pdf", "image": "worker-pdf", "app": "acme.tasks:app"}
    result = render_worker(kustomize, tmp_path / "worker-pdf", values)
    assert result.returncode != 0
    assert "fieldPath `data.consumer` is missing" in result.stderr


def test_broken_copies_are_reported(app_services: set[str], by_kind: Index) -> None:
    broken = copy.deepcopy(by_kind)
    del broken["Deployment"]["api"]["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    broken["Deployment"]["worker-csv"]["spec"]["replicas"] = 2
    del broken["PodDisruptionBudget"]["projector"]
    trigger = broken["ScaledObject"]["worker-image"]["spec"]["triggers"][0]
    trigger["metadata"]["consumer"] = "worker-image"
    del broken["Deployment"]["worker-email"]

    assert deployment_problems(app_services, broken) == [
        "api: readinessProbe is not GET /readyz on a declared port",
        "worker-email: no Deployment",
    ]
    assert budget_problems(broken) == ["projector: no PodDisruptionBudget"]
    assert [p.split(":")[0] for p in scaler_problems(broken)] == ["worker-image"]
    assert autoscaled_with_fixed_replicas(broken) == ["worker-csv"]

    env = env_of(broken["Deployment"]["worker-image"]["spec"]["template"]["spec"]["containers"][0])
    env["NATS_USER"]["value"] = "worker-csv"
    env["TASKBUS_APP"]["value"] = "taskbus_worker_csv.tasks:app"
    del broken["Deployment"]["api"]["spec"]["template"]["spec"]["containers"][0]["env"][0]
    email = broken["Deployment"]["worker-email"] = copy.deepcopy(
        by_kind["Deployment"]["worker-email"]
    )
    (container,) = email["spec"]["template"]["spec"]["containers"]
    container["env"] = [v for v in container["env"] if not v["name"].startswith("SMTP_")]
    assert credential_problems(broken) == [
        "api: NATS user None is granted nothing",
        "api: NATS_PASSWORD is not taskbus-nats[None]",
        "worker-email: lacks taskbus-smtp",
        "worker-image: NATS_PASSWORD is not taskbus-nats[worker-csv]",
        "worker-image: shares NATS user 'worker-csv' with worker-csv",
    ]
    assert app_problems(broken) == [
        "worker-image: scales on ['worker-image'], serves taskbus_worker_csv.tasks:app"
    ]
