"""deploy/k8s and deploy/nats-values.yaml, rendered by kustomize and checked by real validators.

Core kinds go through ``kubernetes-validate --strict``; custom resources through
``check-jsonschema`` against the CRD schemas vendored in ``schemas/`` (their
README says where they come from).
"""

import copy
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.deploy

RunTool = Callable[..., subprocess.CompletedProcess[str]]
Resource = dict[str, Any]
REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "deploy" / "k8s" / "examples"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
CRD_SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): SCHEMAS / "keda-scaledobject-v1alpha1.json",
    ("postgresql.cnpg.io/v1", "Cluster"): SCHEMAS / "cnpg-cluster-v1.json",
}
# The oldest release the manifests need (the preStop sleep action), and the newest
# the validator knows.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")


def is_custom(resource: Resource) -> bool:
    return (resource["apiVersion"], resource["kind"]) in CRD_SCHEMAS


def kubernetes_validate(
    run_tool: RunTool,
    resources: list[Resource],
    directory: Path,
    version: str = KUBERNETES_VERSIONS[-1],
) -> subprocess.CompletedProcess[str]:
    path = directory / "core.yaml"
    path.write_text(yaml.safe_dump_all(resources))
    return run_tool("kubernetes-validate", "--strict", "--kubernetes-version", version, path)


def check_against_crds(
    run_tool: RunTool, resources: list[Resource], directory: Path
) -> list[subprocess.CompletedProcess[str]]:
    """check-jsonschema's verdicts: one run per CRD schema, over its resources."""
    files: dict[Path, list[Path]] = {}
    for index, resource in enumerate(resources):
        path = directory / f"{resource['kind']}-{index}.json"
        path.write_text(json.dumps(resource))
        files.setdefault(CRD_SCHEMAS[(resource["apiVersion"], resource["kind"])], []).append(path)
    return [
        run_tool("check-jsonschema", "--schemafile", schema, *paths)
        for schema, paths in files.items()
    ]


def failures(results: list[subprocess.CompletedProcess[str]]) -> list[str]:
    return [r.stdout + r.stderr for r in results if r.returncode != 0]


def example_resources() -> list[Resource]:
    return [
        doc
        for path in sorted(EXAMPLES.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_core_resources_are_valid_kubernetes(
    rendered: list[Resource], run_tool: RunTool, tmp_path: Path, version: str
) -> None:
    core = [r for r in rendered if not is_custom(r)]
    result = kubernetes_validate(run_tool, core, tmp_path, version)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # A kind the validator has no schema for is only a warning: it would go unchecked.
    assert "Couldn't find schema" not in output
    assert output.count(" passed for resource ") == len(core)


def test_custom_resources_match_their_crd_schemas(
    rendered: list[Resource], run_tool: RunTool, tmp_path: Path
) -> None:
    custom = [r for r in rendered if is_custom(r)]
    assert {r["kind"] for r in custom} == {"ScaledObject"}
    assert failures(check_against_crds(run_tool, custom, tmp_path)) == []


def test_examples_are_valid(run_tool: RunTool, tmp_path: Path) -> None:
    resources = example_resources()
    assert {r["kind"] for r in resources} == {"Cluster"}
    assert failures(check_against_crds(run_tool, resources, tmp_path)) == []


def test_vendored_schemas_are_json_schemas(run_tool: RunTool) -> None:
    result = run_tool("check-jsonschema", "--check-metaschema", *CRD_SCHEMAS.values())
    assert result.returncode == 0, result.stdout + result.stderr


def test_kubernetes_validate_rejects_a_broken_deployment(
    rendered: list[Resource], run_tool: RunTool, tmp_path: Path
) -> None:
    deployment = copy.deepcopy(next(r for r in rendered if r["kind"] == "Deployment"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readynessProbe"] = container.pop("readinessProbe")
    result = kubernetes_validate(run_tool, [deployment], tmp_path)
    assert result.returncode != 0
    assert "'readynessProbe' was unexpected" in result.stdout + result.stderr


def break_scaled_object(resource: Resource) -> None:
    resource["spec"]["triggers"][0]["metadata"]["lagThreshold"] = 4  # KEDA wants strings


def break_cluster(resource: Resource) -> None:
    resource["spec"]["instance"] = resource["spec"].pop("instances")


@pytest.mark.parametrize(
    ("resource", "break_it"),
    [
        pytest.param(
            REPO / "deploy/k8s/components/worker/worker.yaml", break_scaled_object, id="keda"
        ),
        pytest.param(EXAMPLES / "cnpg-cluster.yaml", break_cluster, id="cnpg"),
    ],
)
def test_crd_schemas_reject_a_broken_copy(
    run_tool: RunTool, tmp_path: Path, resource: Path, break_it: Callable[[Resource], None]
) -> None:
    broken = next(d for d in yaml.safe_load_all(resource.read_text()) if d and is_custom(d))
    break_it(broken)
    (failure,) = failures(check_against_crds(run_tool, [broken], tmp_path))
    assert "Schema validation errors were encountered" in failure


def nats_values() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((REPO / "deploy" / "nats-values.yaml").read_text())
    return values


def gibibytes(quantity: str) -> int:
    assert quantity.endswith("Gi"), quantity
    return int(quantity.removesuffix("Gi"))


def test_nats_is_a_durable_three_node_jetstream_cluster() -> None:
    config = nats_values()["config"]
    assert config["cluster"]["enabled"] is True
    assert config["cluster"]["replicas"] == 3
    jetstream = config["jetstream"]
    assert jetstream["enabled"] is True
    assert jetstream["memoryStore"]["enabled"] is False
    file_store = jetstream["fileStore"]
    assert file_store["enabled"] is True
    assert file_store["pvc"]["enabled"] is True
    assert gibibytes(file_store["maxSize"]) < gibibytes(file_store["pvc"]["size"])
    assert jetstream["merge"]["sync_interval"] == "always"


def test_services_and_keda_reach_the_nats_release(by_kind: dict[str, dict[str, Resource]]) -> None:
    """The client URL, the stream replicas and KEDA's endpoint agree with nats-values.yaml."""
    config = nats_values()["config"]
    (settings,) = by_kind["ConfigMap"].values()
    assert settings["data"]["NATS_URL"] == "nats://nats.nats.svc.cluster.local:4222"
    assert int(settings["data"]["NATS_STREAM_REPLICAS"]) == config["cluster"]["replicas"]
    monitor = f"nats-headless.nats.svc.cluster.local:{config['monitor']['port']}"
    for scaled in by_kind["ScaledObject"].values():
        for trigger in scaled["spec"]["triggers"]:
            assert trigger["metadata"]["natsServerMonitoringEndpoint"] == monitor
