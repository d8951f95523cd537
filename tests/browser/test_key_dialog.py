"""A server with API keys: the page signs in once with a key, then works live on a session
cookie, shows only what the key's role allows, and never puts a credential in a URL."""

import secrets
from collections.abc import Iterator

import pytest
from dashboard import Console, task_row, unique_name
from playwright.sync_api import Page, expect
from support.fixtures import SystemFactory
from support.system import System
from taskbus_api.keys import digest_of

pytestmark = pytest.mark.browser

LEGACY_KEY = "browser-s3cret"
VIEWER_KEY = secrets.token_urlsafe(32)


@pytest.fixture(scope="module")
def keyed_system(system_factory: SystemFactory) -> Iterator[System]:
    env = {"API_KEY": LEGACY_KEY, "TASKBUS_API_KEYS": f"viewer:read:{digest_of(VIEWER_KEY).hex()}"}
    services = ("taskbus-api", "taskbus-projector", "taskbus-worker-csv")
    with system_factory("browser-api-key", services=services, extra_env=env) as held:
        yield held


def _sign_in(page: Page, key: str) -> None:
    page.get_by_label("API key", exact=True).fill(key)
    page.get_by_test_id("api-key-submit").click()


def test_the_page_signs_in_once_and_then_works_live(
    keyed_system: System, page: Page, console: Console
) -> None:
    # Until a key is given, every call is refused; the browser logs each refusal.
    console.expect_errors("401")
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    s = keyed_system
    page.goto(f"{s.api_url}/#/tasks")
    dialog = page.get_by_test_id("api-key-dialog")
    expect(dialog).to_be_visible()
    expect(page.get_by_test_id("api-key-refused")).to_have_text("")

    _sign_in(page, "a wrong guess")
    expect(page.get_by_test_id("api-key-refused")).to_have_text("The server refused that key.")

    _sign_in(page, LEGACY_KEY)
    expect(dialog).to_be_hidden()
    expect(page.get_by_test_id("toast-error")).to_have_count(0)
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")
    expect(page.get_by_test_id("session-role")).to_have_text("admin · admin")

    response = s.client.post(
        "/api/tasks/submit",
        json={
            "task_type": "csv_processing",
            "parameters": {"num_rows": 10},
            "name": unique_name("keyed"),
        },
        headers={"X-API-Key": LEGACY_KEY},
    )
    assert response.status_code == 201, response.text
    expect(task_row(page, response.json()["id"])).to_have_attribute("data-status", "SUCCESS")

    # The page submits on its session cookie and CSRF token, and says it is the UI.
    page.get_by_test_id("nav-submit").click()
    page.locator("[name=num_rows]").fill("10")
    page.get_by_test_id("submit-button").click()
    expect(page.get_by_test_id("detail-status")).to_have_attribute("data-status", "SUCCESS")
    timeline = page.get_by_test_id("timeline-item").first
    expect(timeline).to_contain_text("Submitted by admin via ui")

    assert [url for url in urls if LEGACY_KEY in url or "api_key" in url] == []
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["taskbus_session"]["httpOnly"]
    assert cookies["taskbus_session"]["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""
    assert page.evaluate("JSON.stringify(sessionStorage)") == "{}"
    assert "taskbus_session" not in s.log_path("taskbus-api").read_text()


def test_a_read_key_sees_no_commands(keyed_system: System, page: Page, console: Console) -> None:
    console.expect_errors("401")
    s = keyed_system
    cli = {"X-API-Key": LEGACY_KEY, "X-Taskbus-Via": "cli"}
    slow = {"num_rows": 10, "processing_time": 60}
    task = s.client.post(
        "/api/tasks/submit", json={"task_type": "csv_processing", "parameters": slow}, headers=cli
    ).json()
    cancelled = s.client.request(
        "DELETE", f"/api/tasks/{task['id']}", json={"reason": "wrong input"}, headers=cli
    )
    assert cancelled.status_code == 202, cancelled.text
    page.goto(f"{s.api_url}/#/tasks/{task['id']}")
    _sign_in(page, VIEWER_KEY)

    expect(page.get_by_test_id("session-role")).to_have_text("viewer · read")
    expect(page.get_by_test_id("detail-status")).to_have_attribute("data-status", "CANCELLED")
    cancel_entry = page.locator('[data-testid="timeline-item"][data-event-type="TaskCancelled"]')
    expect(cancel_entry).to_contain_text("Cancelled by admin via cli: wrong input")
    expect(page.get_by_test_id("retry-button")).to_be_hidden()
    expect(page.get_by_test_id("cancel-button")).to_be_hidden()
    expect(page.get_by_test_id("nav-submit")).to_be_hidden()
    page.goto(f"{s.api_url}/#/submit")
    expect(page.get_by_test_id("submit-not-allowed")).to_be_visible()
    expect(page.get_by_test_id("submit-form")).to_be_hidden()
