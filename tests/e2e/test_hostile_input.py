"""Hostile submit bodies: each is a small 4xx within a second that names the problem.

Every case was once a 500, a 100 MB error body or a stalled event loop. After each one the
API still takes a normal submit, and its memory stays flat under repeated blows.
"""

import json
import time
import uuid
from typing import Any

import httpx
import psutil
import pytest
from support.system import System

_SECONDS = 1.0
_MAX_BODY = 4096
_MAX_SHOWN = 11  # ten errors and the count of the rest


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _body(task_type: str, parameters: str, extra: str = "") -> bytes:
    return f'{{"task_type":"{task_type}","parameters":{parameters}{extra}}}'.encode()


def _many_keys(count: int) -> str:
    return "{" + ",".join(f'"k{i}":0' for i in range(count)) + "}"


def _post_raw(system: System, raw: bytes) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = system.client.post(
        "/api/tasks/submit", content=raw, headers={"content-type": "application/json"}
    )
    return response, time.perf_counter() - started


def _problems(detail: Any) -> str:
    """The messages of a ``detail``, a string or a list of validation errors, as one text."""
    if isinstance(detail, str):
        return detail
    return " | ".join(f"{error['loc']}: {error['msg']}" for error in detail)


HOSTILE = [
    pytest.param(
        _body("csv_processing", f'{{"x":{_nested(600)}}}'),
        422,
        "parameters nest deeper than 32 levels",
        id="list-600-deep",
    ),
    pytest.param(
        _body("csv_processing", '{"num_rows":' + '{"a":' * 600 + "1" + "}" * 601),
        422,
        "parameters nest deeper than 32 levels",
        id="object-600-deep",
    ),
    pytest.param(
        _body("csv_processing", f'{{"x":{_nested(200_000)}}}'),
        400,
        "maximum recursion depth exceeded",
        id="past-the-json-parser",
    ),
    pytest.param(
        _nested(600).encode(),
        422,
        "valid dictionary",
        id="body-600-deep",
    ),
    pytest.param(
        _body("image_processing", '{"file_ids":5}'),
        422,
        "'file_ids']: 5 is not of type 'array'",
        id="file-ids-5",
    ),
    pytest.param(
        _body("image_processing", '{"file_ids":true}'),
        422,
        "'file_ids']: True is not of type 'array'",
        id="file-ids-true",
    ),
    pytest.param(
        _body("image_processing", '{"file_ids":"' + "a" * 1_000_000 + '"}'),
        422,
        "aaaaaaaaa… is not of type 'array'",
        id="file-ids-1mb-string",
    ),
    pytest.param(
        _body(
            "image_processing", json.dumps({"file_ids": [str(uuid.uuid4()) for _ in range(500)]})
        ),
        422,
        "no uploaded file with id",
        id="500-missing-files",
    ),
    pytest.param(
        _body("csv_processing", "{}", ',"name":"a\\ud800b"'),
        422,
        "'name']: Input should be a valid string, unable to parse raw data as a unicode",
        id="lone-surrogate-in-name",
    ),
    pytest.param(
        _body("email_sending", '{"subject":"\\udfff","\\ud800":1}'),
        422,
        "unable to parse raw data as a unicode string",
        id="lone-surrogates-in-parameters",
    ),
    pytest.param(
        _body("csv_processing", _many_keys(90_000)),
        422,
        "an object in parameters has more than 64 fields",
        id="90000-unknown-fields",
    ),
    pytest.param(
        _many_keys(90_000).encode(),
        422,
        "the body has more than 64 fields",
        id="90000-unknown-fields-in-the-body",
    ),
    pytest.param(
        _body("csv_processing", _many_keys(64)),
        422,
        "and 54 more errors, not shown",
        id="64-unknown-fields",
    ),
    pytest.param(
        _body("email_sending", json.dumps({"recipients": ["a@"] * 10_000})),
        422,
        "'a@' is not an email address",
        id="10000-bad-recipients",
    ),
    pytest.param(
        _body("csv_processing", '{"' + "k" * 500_000 + '":1}'),
        422,
        "Extra inputs are not permitted",
        id="500kb-field-name",
    ),
    pytest.param(
        _body("csv_processing", '{"num_rows":' + "9" * 4000 + "}"),
        422,
        "9999999999… is greater than the maximum of 5000000",
        id="4000-digit-number",
    ),
    pytest.param(
        _body("csv_processing", "{}", ',"timeout_s":NaN'),
        422,
        "'timeout_s']: Input should be less than or equal to 604800",
        id="nan-timeout",
    ),
    pytest.param(
        _body("csv_processing", '{"processing_time":Infinity}'),
        422,
        "'processing_time']: inf is greater than the maximum of 3600",
        id="infinite-pacing",
    ),
]


@pytest.mark.parametrize(("raw", "status", "problem"), HOSTILE)
def test_hostile_body_is_a_small_fast_4xx_naming_the_problem(
    system: System, raw: bytes, status: int, problem: str
) -> None:
    response, elapsed = _post_raw(system, raw)

    figures = f"{response.status_code}, {len(response.content):,} B in {elapsed:.2f} s"
    assert response.status_code == status, figures
    assert elapsed < _SECONDS, figures
    assert len(response.content) < _MAX_BODY, figures
    detail = response.json()["detail"]
    assert problem in _problems(detail)
    assert isinstance(detail, str) or len(detail) <= _MAX_SHOWN
    assert system.submit("csv_processing", {"num_rows": 10}, wait=0)["status"] == "PENDING"


def test_a_refused_input_is_echoed_short_and_encodable(system: System) -> None:
    response, _ = _post_raw(
        system, _body("email_sending", '{"subject":"' + "x" * 5000 + '\\ud800"}')
    )

    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "parameters"]
    assert error["msg"].startswith("Value error, parameters.'subject': unable to parse raw data")
    assert len(response.content) < 1000
    surrogate, _ = _post_raw(system, _body("csv_processing", "{}", ',"name":"a\\ud800b"'))
    assert surrogate.json()["detail"][0]["input"] == "a\\ud800b"


def test_files_are_looked_up_only_for_valid_parameters(system: System) -> None:
    parameters = {"file_ids": [str(uuid.uuid4())], "target_width": 0}

    response = system.client.post(
        "/api/tasks/submit", json={"task_type": "image_processing", "parameters": parameters}
    )

    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "parameters", "target_width"]]


def test_parameters_may_nest_32_levels(system: System) -> None:
    # The parameters object is level 1: 31 lists in it make 32 levels, 32 lists one too many.
    at_limit, _ = _post_raw(system, _body("csv_processing", f'{{"x":{_nested(31)}}}'))
    past_it, _ = _post_raw(system, _body("csv_processing", f'{{"x":{_nested(32)}}}'))

    assert [e["type"] for e in at_limit.json()["detail"]] == ["extra_forbidden"]
    assert [e["msg"] for e in past_it.json()["detail"]] == [
        "Value error, parameters nest deeper than 32 levels"
    ]


def test_api_memory_stays_flat_under_large_refused_bodies(system: System) -> None:
    api = psutil.Process(system.processes["taskbus-api"].pid)
    blows = [
        _body("image_processing", '{"file_ids":"' + "a" * 1_000_000 + '"}'),
        _body("email_sending", json.dumps({"recipients": ["a@"] * 10_000})),
    ]
    _post_raw(system, blows[0])
    before = api.memory_info().rss

    for _ in range(10):
        for raw in blows:
            assert _post_raw(system, raw)[0].status_code == 422

    assert api.memory_info().rss - before < 64 * 2**20
