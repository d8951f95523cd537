"""``API_KEY``, the single key of before named keys: still works, as an admin key named admin.

It is taken from the ``X-API-Key`` header (or a session) only: a key in the URL is refused.
"""

from support.fixtures import SystemFactory


def test_api_key_is_required_when_configured(system_factory: SystemFactory) -> None:
    services = ("taskbus-api", "taskbus-projector")
    with system_factory("api-key", services=services, extra_env={"API_KEY": "s3cret"}) as s:
        missing = s.client.get("/api/tasks/")
        wrong = s.client.get("/api/tasks/", headers={"X-API-Key": "guess"})
        header = s.client.get("/api/tasks/", headers={"X-API-Key": "s3cret"})
        query = s.client.get("/api/tasks/", params={"api_key": "s3cret"})
        who = s.client.get("/api/session", headers={"X-API-Key": "s3cret"})
        submit = s.client.post(
            "/api/tasks/submit",
            json={"task_type": "csv_processing", "parameters": {"num_rows": 1}},
            headers={"X-API-Key": "s3cret"},
        )
        health = s.client.get("/api/health")
        page = s.client.get("/")
        log = s.log_path("taskbus-api").read_text()

    assert (missing.status_code, wrong.status_code, query.status_code) == (401, 401, 401)
    assert missing.json() == {
        "detail": "missing API key: send X-API-Key, or sign in with POST /api/session"
    }
    assert wrong.json() == {"detail": "wrong API key"}
    assert query.json() == {"detail": "send the key as the X-API-Key header, not in the URL"}
    assert header.status_code == 200
    assert (who.json()["name"], who.json()["role"]) == ("admin", "admin")
    assert submit.status_code == 201, submit.text
    assert health.status_code == 200
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert missing.headers["x-content-type-options"] == "nosniff"
    assert "s3cret" not in log
