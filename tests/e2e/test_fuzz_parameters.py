"""Hypothesis-made parameters for every task type the catalog lists: refused or run to an end.

For each type, an OpenAPI document is made of the submit body with the type's own parameters
schema (as the API publishes it in ``/api/task-types``), and schemathesis generates bodies
from it, fitting and not. Whatever comes, the API answers a 4xx, or accepts the task and the
task reaches a terminal state (a short ``timeout_s`` bounds the work a body may ask for).
"""

import json
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from support.fixtures import SystemFactory

pytestmark = pytest.mark.e2e

EXAMPLES_PER_TYPE = 10
TIMEOUT_S = 3


def _submit_document(task_type: dict[str, Any]) -> dict[str, Any]:
    """The submit operation, its body narrowed to ``task_type`` and a short timeout."""
    raw = json.dumps(task_type["parameters_schema"]).replace("#/$defs/", "#/components/schemas/")
    parameters = json.loads(raw)
    definitions = parameters.pop("$defs", {})
    body = {
        "type": "object",
        "required": ["task_type", "parameters", "timeout_s"],
        "additionalProperties": False,
        "properties": {
            "task_type": {"const": task_type["name"]},
            "parameters": parameters,
            "timeout_s": {"const": TIMEOUT_S},
        },
    }
    operation = {
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": {"201": {"description": "accepted"}, "422": {"description": "refused"}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": task_type["name"], "version": task_type["version"]},
        "paths": {"/api/tasks/submit": {"post": operation}},
        "components": {"schemas": definitions},
    }


@pytest.mark.timeout(300)
def test_generated_parameters_are_refused_or_run_to_an_end(system_factory: SystemFactory) -> None:
    with system_factory("fuzz-parameters") as system:
        types = system.client.get("/api/task-types").json()["items"]
        accepted: list[str] = []
        for task_type in types:
            schema = schemathesis.openapi.from_dict(_submit_document(task_type))
            submit = schema["/api/tasks/submit"]["POST"]
            cases = st.one_of(
                submit.as_strategy(GenerationMode.POSITIVE),
                submit.as_strategy(GenerationMode.NEGATIVE),
            )

            @given(case=cases)
            @settings(
                max_examples=EXAMPLES_PER_TYPE,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def refused_or_accepted(case: schemathesis.Case) -> None:
                response = case.call(base_url=system.api_url, timeout=10)
                refused = 400 <= response.status_code < 500
                assert refused or response.status_code == 201, response.text[:500]
                if response.status_code == 201:
                    accepted.append(response.json()["id"])

            refused_or_accepted()
        for task_id in accepted:
            system.wait_for_status(task_id, "SUCCESS", "FAILED", "CANCELLED", timeout=120)

    print(f"{len(types)} task types, {len(accepted)} generated tasks accepted and ended")
    assert {"csv_processing", "email_sending", "image_processing"} <= {t["name"] for t in types}
    assert accepted, "some generated parameters fit their schema"
