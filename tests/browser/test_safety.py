"""What a user typed is shown as text, and the page runs under a strict CSP."""

import pytest
from dashboard import Console, go_to, open_dashboard, task_row, unique_name
from playwright.sync_api import Page, expect
from support.system import System

pytestmark = pytest.mark.browser

MARKUP = "<img src=x onerror=alert(1)>"


def test_task_name_with_markup_is_shown_as_text(
    page: Page, console: Console, system: System
) -> None:
    tag = unique_name("markup")
    name = f"{tag} {MARKUP}"
    open_dashboard(page, system, "#/submit?type=csv_processing")

    page.locator("[name=num_rows]").fill("10")
    page.locator("[name=name]").fill(name)
    page.get_by_test_id("submit-button").click()

    # First: a notice leaves after a few seconds.
    expect(page.get_by_test_id("toast")).to_contain_text(MARKUP)
    expect(page.get_by_test_id("detail-name")).to_have_text(name)
    expect(page.get_by_test_id("detail-status")).to_have_attribute("data-status", "SUCCESS")
    expect(page.get_by_test_id("detail-parameters")).to_be_visible()
    expect(page).to_have_title(f"{name} · taskbus")
    task_id = page.get_by_test_id("task-detail").get_attribute("data-task-id")
    assert task_id is not None
    go_to(page, f"#/tasks?q={tag}")
    expect(task_row(page, task_id).get_by_test_id("task-link")).to_have_text(name)
    expect(page.locator('img[src="x"]')).to_have_count(0)
    assert console.dialogs == []
    assert console.errors == []


def test_api_serves_the_page_with_a_content_security_policy(system: System) -> None:
    response = system.client.get("/")

    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "object-src 'none'" in policy
