"""Every service compose runs is deployable on Kubernetes, probed, budgeted and scaled.

Each check collects problems instead of stopping at the first, and is shown to
report a deliberately broken copy.
"""

import copy
from typing import Any

import pytest
from taskbus.subjects import Subjects, worker_consumer
from taskbus_worker_csv.tasks import app as csv_app
from taskbus_worker_email.tasks import app as email_app
from taskbus_worker_image.tasks import app as image_app

pytestmark = pytest.mark.deploy

Resource = dict[str, Any]
Index = dict[str, dict[str, Resource]]
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
