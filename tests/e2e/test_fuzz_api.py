"""Schemathesis against the API's own OpenAPI schema: no request answers 500 or off-schema.

Every operation gets generated requests, fitting its schema and not, sent over HTTP as any
client would send them; each answer must be below 500 and match the schema the API
publishes for it. The SSE stream is left out: it answers a stream that never ends, which the
checks cannot read to its end. (Schemathesis' own pytest plugin does not run under this
pytest yet, so the operations are driven with hypothesis directly.)
"""

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from support.system import System

pytestmark = pytest.mark.e2e

EXAMPLES_PER_OPERATION = 40
UNBOUNDED = {"/api/stream"}


def test_no_request_gets_a_server_error_or_an_answer_off_its_schema(system: System) -> None:
    schema = schemathesis.openapi.from_url(f"{system.api_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    tried: Counter[str] = Counter()
    for operation in operations:
        if operation.path in UNBOUNDED:
            continue
        cases = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )

        @given(case=cases)
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def answers_within_its_schema(case: schemathesis.Case) -> None:
            tried[case.operation.label] += 1
            case.call_and_validate(
                base_url=system.api_url,
                checks=[not_a_server_error, response_schema_conformance],
                timeout=10,
            )

        answers_within_its_schema()
    print(f"schemathesis: {sum(tried.values())} cases over {len(tried)} operations")
    assert len(tried) == len(operations) - len(UNBOUNDED)
