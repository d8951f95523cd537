"""Named keys with roles, sessions instead of keys in URLs, and refusals of other sites.

One system with a read, an operate and an admin key (one of them from a keys file), against
real NATS and Postgres.
"""

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.fixtures import SystemFactory
from support.system import System
from taskbus_api.keys import digest_of

KEYS = {name: secrets.token_urlsafe(32) for name in ("viewer", "ops-eu", "root")}
ROLES = {"viewer": "read", "ops-eu": "operate", "root": "admin"}
CSV = {"task_type": "csv_processing", "parameters": {"num_rows": 5}}


def entry(name: str) -> str:
    return f"{name}:{ROLES[name]}:{digest_of(KEYS[name]).hex()}"


def as_key(name: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[name]}


@pytest.fixture(scope="module")
def keyed(
    system_factory: SystemFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    keys_file = tmp_path_factory.mktemp("keys") / "api-keys"
    keys_file.write_text(f"# operators\n{entry('ops-eu')}\n")
    env = {
        "TASKBUS_API_KEYS": f"{entry('viewer')},{entry('root')}",
        "TASKBUS_API_KEYS_FILE": str(keys_file),
        "API_SESSION_SECRET": secrets.token_urlsafe(32),
    }
    services = ("taskbus-api", "taskbus-projector", "taskbus-worker-csv")
    with system_factory("access-roles", services=services, extra_env=env) as held:
        yield held


_UUID = "00000000-0000-4000-8000-000000000000"


def _api_operations(system: System) -> list[tuple[str, str]]:
    """Every operation of the OpenAPI schema under /api but the open ones, ids filled in."""
    schema = system.client.get("/openapi.json").json()
    return [
        (method.upper(), path.replace("{task_id}", _UUID).replace("{file_id}", _UUID))
        for path, operations in schema["paths"].items()
        for method in operations
        if path.startswith("/api/") and path not in ("/api/health", "/api/session")
    ]


def test_every_api_operation_needs_a_key(keyed: System) -> None:
    operations = _api_operations(keyed)
    assert len(operations) >= 10
    refused = {op: keyed.client.request(*op).status_code for op in operations}

    assert set(refused.values()) == {401}, refused
    assert keyed.client.get("/api/health").status_code == 200


def test_read_key_reads_and_is_refused_commands_naming_the_role(keyed: System) -> None:
    submitted = keyed.client.post("/api/tasks/submit", json=CSV, headers=as_key("ops-eu"))
    task_id = submitted.json()["id"]
    reader = as_key("viewer")
    files = {"file": ("a.csv", b"a,b\n1,2\n", "text/csv")}

    reads = [
        keyed.client.get("/api/tasks/", headers=reader),
        keyed.client.get(f"/api/tasks/{task_id}", headers=reader),
        keyed.client.get(f"/api/tasks/{task_id}/events", headers=reader),
        keyed.client.get("/api/stats", headers=reader),
        keyed.client.get("/api/audit", headers=reader),
    ]
    refusals = [
        keyed.client.post("/api/tasks/submit", json=CSV, headers=reader),
        keyed.client.delete(f"/api/tasks/{task_id}", headers=reader),
        keyed.client.post(f"/api/tasks/{task_id}/retry", headers=reader),
        keyed.client.post("/api/files", files=files, headers=reader),
    ]

    assert submitted.status_code == 201, submitted.text
    assert [r.status_code for r in reads] == [200] * len(reads)
    assert [r.status_code for r in refusals] == [403] * len(refusals)
    assert refusals[0].json() == {
        "detail": "this needs the operate role; key viewer has read",
        "required_role": "operate",
    }


def test_operate_and_admin_keys_run_commands(keyed: System) -> None:
    for name in ("ops-eu", "root"):
        upload = keyed.client.post(
            "/api/files", files={"file": ("a.csv", b"a\n1\n", "text/csv")}, headers=as_key(name)
        )
        submit = keyed.client.post(
            "/api/tasks/submit",
            json={
                "task_type": "csv_processing",
                "parameters": {"file_id": upload.json()["file_id"]},
            },
            headers=as_key(name),
        )
        download = keyed.client.get(f"/api/files/{upload.json()['file_id']}", headers=as_key(name))
        who = keyed.client.get("/api/session", headers=as_key(name)).json()

        assert (upload.status_code, submit.status_code, download.status_code) == (201, 201, 200)
        assert (who["name"], who["role"], who["csrf_token"]) == (name, ROLES[name], None)


@contextmanager
def _signed_in(
    system: System, name: str, **headers: str
) -> Iterator[tuple[httpx.Client, dict[str, Any]]]:
    """A browser-like client holding a session cookie of key ``name``, and the session."""
    with httpx.Client(base_url=system.api_url, timeout=30) as client:
        answer = client.post("/api/session", json={"key": KEYS[name]}, headers=headers)
        assert answer.status_code == 200, answer.text
        yield client, answer.json()


def test_a_session_cookie_replaces_the_key_and_commands_need_its_csrf_token(keyed: System) -> None:
    wrong = keyed.client.post("/api/session", json={"key": "guess"})
    set_cookie = httpx.post(f"{keyed.api_url}/api/session", json={"key": KEYS["ops-eu"]}).headers[
        "set-cookie"
    ]
    with _signed_in(keyed, "ops-eu") as (client, session):
        cookie = client.cookies["taskbus_session"]
        who = client.get("/api/session").json()
        listed = client.get("/api/tasks/")
        without_token = client.post("/api/tasks/submit", json=CSV)
        with_token = client.post(
            "/api/tasks/submit", json=CSV, headers={"X-CSRF-Token": session["csrf_token"]}
        )
        with client.stream("GET", "/api/stream") as stream:
            stream_status = stream.status_code
        client.cookies.set("taskbus_session", cookie[:-2] + "xx")
        tampered = client.get("/api/tasks/")

    assert wrong.status_code == 401
    assert (session["name"], session["role"]) == ("ops-eu", "operate")
    assert session["csrf_token"]
    assert "httponly" in set_cookie.lower()
    assert "samesite=strict" in set_cookie.lower()
    assert "secure" not in set_cookie.lower()  # plain http: a Secure cookie would not come back
    assert "max-age=43200" in set_cookie.lower()
    assert who["csrf_token"] == session["csrf_token"]
    assert listed.status_code == 200
    assert without_token.status_code == 403
    assert "X-CSRF-Token" in without_token.json()["detail"]
    assert with_token.status_code == 201, with_token.text
    assert stream_status == 200
    assert tampered.status_code == 401


def test_over_https_the_cookie_is_secure(keyed: System) -> None:
    # uvicorn takes the scheme from the loopback proxy's X-Forwarded-Proto.
    with _signed_in(keyed, "viewer", **{"X-Forwarded-Proto": "https"}) as (client, _):
        answer = client.post(
            "/api/session", json={"key": KEYS["viewer"]}, headers={"X-Forwarded-Proto": "https"}
        )

    assert "secure" in answer.headers["set-cookie"].lower()


def test_cross_site_commands_are_refused_whatever_the_credential(keyed: System) -> None:
    files = {"file": ("a.csv", b"a\n1\n", "text/csv")}
    own_origin = keyed.api_url
    with _signed_in(keyed, "root") as (client, session):
        csrf = {"X-CSRF-Token": session["csrf_token"]}
        cases = {
            "form post to /api/files from another site": client.post(
                "/api/files", files=files, headers={**csrf, "Origin": "https://evil.example"}
            ),
            "fetch metadata says cross-site": client.post(
                "/api/tasks/submit", json=CSV, headers={**csrf, "Sec-Fetch-Site": "cross-site"}
            ),
            "a sibling site": client.delete(
                f"/api/tasks/{_UUID}", headers={**csrf, "Sec-Fetch-Site": "same-site"}
            ),
            "an opaque origin": client.post(
                f"/api/tasks/{_UUID}/retry", headers={**csrf, "Origin": "null"}
            ),
            "a key does not make it right": keyed.client.post(
                "/api/tasks/submit",
                json=CSV,
                headers={**as_key("root"), "Origin": "https://evil.example"},
            ),
        }
        same_origin = client.post(
            "/api/tasks/submit",
            json=CSV,
            headers={**csrf, "Origin": own_origin, "Sec-Fetch-Site": "same-origin"},
        )

    assert {name: r.status_code for name, r in cases.items()} == dict.fromkeys(cases, 403)
    assert same_origin.status_code == 201, same_origin.text


def test_only_the_configured_host_names_are_answered(keyed: System) -> None:
    rebound = keyed.client.get("/api/tasks/", headers={**as_key("root"), "Host": "evil.example"})
    probe = keyed.client.get("/healthz", headers={"Host": "10.1.2.3:8000"})
    local = keyed.client.get("/", headers={"Host": "localhost:8000"})

    assert rebound.status_code == 400
    assert probe.status_code == 200
    assert local.status_code == 200


def test_no_key_session_or_token_reaches_a_log_line(keyed: System) -> None:
    with _signed_in(keyed, "root") as (client, session):
        client.get("/api/tasks/", params={"api_key": KEYS["viewer"]})
        cookie = client.cookies["taskbus_session"]
    keyed.client.get("/api/tasks/", params={"api_key": KEYS["ops-eu"]})
    secrets_given = [*KEYS.values(), cookie, session["csrf_token"]]

    logs = [path.read_text() for path in Path(keyed.log_dir).glob("*.log")]

    assert logs
    assert [s for s in secrets_given if any(s in log for log in logs)] == []
