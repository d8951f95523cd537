"""``API_KEY``: when set, every /api call but the probes needs it."""

from support.fixtures import SystemFactory


def test_api_key_is_required_when_configured(system_factory: SystemFactory) -> None:
    services = ("taskbus-api", "taskbus-projector")
    with system_factory("api-key", services=services, extra_env={"API_KEY": "s3cret"}) as s:
        missing = s.client.get("/api/tasks/")
        wrong = s.client.get("/api/tasks/", headers={"X-API-Key": "guess"})
        header = s.client.get("/api/tasks/", headers={"X-API-Key": "s3cret"})
        query = s.client.get("/api/tasks/", params={"api_key": "s3cret"})
        health = s.client.get("/api/health")
        page = s.client.get("/")

    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert missing.json() == {"detail": "missing or wrong API key"}
    assert header.status_code == query.status_code == 200
    assert health.status_code == 200
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert missing.headers["x-content-type-options"] == "nosniff"
