"""A server started with API_KEY: the page asks for the key once, then works live with it."""

from collections.abc import Iterator

import pytest
from dashboard import Console, task_row, unique_name
from playwright.sync_api import Page, expect
from support.fixtures import SystemFactory
from support.system import System

pytestmark = pytest.mark.browser

KEY = "browser-s3cret"


@pytest.fixture(scope="module")
def keyed_system(system_factory: SystemFactory) -> Iterator[System]:
    services = ("taskbus-api", "taskbus-projector", "taskbus-worker-csv")
    with system_factory("browser-api-key", services=services, extra_env={"API_KEY": KEY}) as held:
        yield held


def test_the_page_asks_for_the_key_and_then_works_live(
    keyed_system: System, page: Page, console: Console
) -> None:
    # Until the key is given, every call is refused; the browser logs each refusal.
    console.expect_errors("401")
    console.expect_errors("text/event-stream")
    s = keyed_system
    page.goto(f"{s.api_url}/#/tasks")
    dialog = page.get_by_test_id("api-key-dialog")
    expect(dialog).to_be_visible()
    expect(page.get_by_test_id("api-key-refused")).to_have_text("")

    page.get_by_label("API key", exact=True).fill("a wrong guess")
    page.get_by_test_id("api-key-submit").click()
    expect(page.get_by_test_id("api-key-refused")).to_have_text("The server refused that key.")

    page.get_by_label("API key", exact=True).fill(KEY)
    page.get_by_test_id("api-key-submit").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_test_id("toast-error")).to_have_count(0)
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")

    response = s.client.post(
        "/api/tasks/submit",
        json={
            "task_type": "csv_processing",
            "parameters": {"num_rows": 10},
            "name": unique_name("keyed"),
        },
        headers={"X-API-Key": KEY},
    )
    assert response.status_code == 201, response.text
    expect(task_row(page, response.json()["id"])).to_have_attribute("data-status", "SUCCESS")
