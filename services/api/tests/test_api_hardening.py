"""The API's one hardening layer in process: each protection it folds together, in order.

The end-to-end tests (tests/e2e: test_access_roles, test_api_key, test_submit, test_files,
test_abuse_limits, test_observability) hold the running API to the same rules.
"""

import secrets
from collections.abc import AsyncIterator

import httpx
import pytest
import structlog
from opentelemetry import trace
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from taskbus_api.security import CONTENT_SECURITY_POLICY, Hardening

MAX_BODY = 1024


async def _echo(request: Request) -> Response:
    await request.body()
    span = trace.get_current_span().get_span_context()
    bound = structlog.contextvars.get_contextvars().get("trace_id")
    return JSONResponse(
        {"trace_id": format(span.trace_id, "032x") if span.is_valid else None, "logged": bound}
    )


async def _own_policy(_: Request) -> Response:
    return PlainTextResponse("x", headers={"Content-Security-Policy": "sandbox"})


def _client(hosts: list[str] | None = None) -> httpx.AsyncClient:
    app = Starlette(
        routes=[
            Route("/api/echo", _echo, methods=["GET", "POST", "DELETE"]),
            Route("/api/files", _echo, methods=["POST"]),
            Route("/api/stream", _echo),
            Route("/healthz", _echo),
            Route("/own", _own_policy),
        ]
    )
    guarded = Hardening(app, allowed_hosts=hosts or ["localhost"], max_body_bytes=MAX_BODY)
    return httpx.AsyncClient(transport=httpx.ASGITransport(guarded), base_url="http://localhost")


def _marked(response: httpx.Response) -> bool:
    headers = response.headers
    return bool(
        headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        and headers["x-content-type-options"] == "nosniff"
        and headers["referrer-policy"] == "no-referrer"
        and headers["x-frame-options"] == "DENY"
    )


async def test_only_the_configured_hosts_are_answered_but_probes_answer_any() -> None:
    client = _client(["localhost", "*.example.com"])
    assert (await client.get("/api/echo")).status_code == 200
    assert (
        await client.get("/api/echo", headers={"Host": "api.example.com:8000"})
    ).status_code == 200
    refused = await client.get("/api/echo", headers={"Host": "evil.example"})
    assert (refused.status_code, refused.text) == (400, "Invalid host header")
    assert _marked(refused)
    assert (await client.get("/api/echo", headers={"Host": "local host"})).status_code == 400
    assert (await client.get("/healthz", headers={"Host": "10.1.2.3:8000"})).status_code == 200
    assert (await _client(["*"]).get("/api/echo", headers={"Host": "anything"})).status_code == 200


def test_a_host_pattern_must_be_a_domain_wildcard() -> None:
    with pytest.raises(ValueError, match="must be like"):
        _client(["api.*.example.com"])


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Sec-Fetch-Site": "same-site"}, 403),
        ({"Sec-Fetch-Site": "same-origin"}, 200),
        ({"Sec-Fetch-Site": "none"}, 200),
        ({"Origin": "https://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Origin": "http://localhost"}, 200),
        ({}, 200),
    ],
)
async def test_state_changing_requests_from_other_sites_are_refused(
    headers: dict[str, str], status: int
) -> None:
    client = _client()
    response = await client.post("/api/echo", content=b"{}", headers=headers)
    assert response.status_code == status
    assert _marked(response)
    # Reading is not refused: a cross-site GET cannot act, and its answer is the browser's
    # to withhold (CORS).
    assert (await client.get("/api/echo", headers=headers)).status_code == 200


async def test_command_bodies_are_bounded_before_they_are_read() -> None:
    client = _client()
    assert (await client.post("/api/echo", content=b"x" * MAX_BODY)).status_code == 200
    oversized = await client.post("/api/echo", content=b"x" * (MAX_BODY + 1))
    assert oversized.status_code == 413
    assert oversized.json() == {"detail": f"request body larger than {MAX_BODY} bytes"}
    assert _marked(oversized)
    bogus = await client.delete("/api/echo", headers={"Content-Length": "12a"})
    assert bogus.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:
        yield b"x"

    chunked = await client.post("/api/echo", content=chunks())
    assert chunked.status_code == 411
    # Uploads count their own bytes as they arrive.
    assert (await client.post("/api/files", content=b"x" * (MAX_BODY + 1))).status_code == 200


async def test_each_api_call_continues_the_callers_trace_and_logs_its_id() -> None:
    client = _client()
    trace_id = secrets.token_hex(16)
    traceparent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    answer = (
        await client.post("/api/echo", content=b"{}", headers={"traceparent": traceparent})
    ).json()
    assert answer == {"trace_id": trace_id, "logged": trace_id}
    fresh = (await client.get("/api/echo")).json()
    assert fresh["trace_id"] is not None
    assert fresh["trace_id"] != trace_id
    assert fresh["logged"] == fresh["trace_id"]
    # Outside the API, and around the long-lived stream, there is no span.
    assert (await client.get("/healthz")).json() == {"trace_id": None, "logged": None}
    assert (await client.get("/api/stream")).json()["trace_id"] is None


async def test_security_headers_go_on_every_response_unless_it_set_its_own() -> None:
    client = _client()
    assert _marked(await client.get("/api/echo"))
    assert _marked(await client.get("/missing"))
    own = await client.get("/own")
    assert own.headers["content-security-policy"] == "sandbox"
    assert own.headers["x-frame-options"] == "DENY"
