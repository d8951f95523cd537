"""The dashboard loads cleanly, connects live, and its overview shows the system's state."""

import re

import pytest
from dashboard import Console, go_to, open_dashboard, unique_name
from playwright.sync_api import Page, expect
from support.system import System

pytestmark = pytest.mark.browser


def test_every_view_loads_without_console_errors(
    page: Page, console: Console, system: System
) -> None:
    task = system.submit("csv_processing", {"num_rows": 100}, name=unique_name("load"))
    system.wait_for_status(task["id"], "SUCCESS")

    open_dashboard(page, system)
    expect(page.get_by_test_id("status-count-SUCCESS").locator(".counter-value")).to_have_text(
        re.compile(r"^[1-9]")
    )
    go_to(page, "#/tasks")
    expect(page.get_by_test_id("task-row").first).to_be_visible()
    go_to(page, f"#/tasks/{task['id']}")
    expect(page.get_by_test_id("timeline-item").last).to_have_attribute(
        "data-event-type", "TaskSucceeded"
    )
    go_to(page, "#/submit")
    expect(page.get_by_test_id("submit-button")).to_be_enabled()

    assert console.errors == []


def test_connection_indicator_goes_live(page: Page, system: System) -> None:
    page.goto(system.api_url)

    indicator = page.get_by_test_id("connection")
    expect(indicator).to_have_attribute("data-state", "live")
    expect(indicator).to_have_text("Live")


def test_overview_shows_counters_queues_and_workers(page: Page, system: System) -> None:
    task = system.submit("csv_processing", {"num_rows": 100}, name=unique_name("overview"))
    system.wait_for_status(task["id"], "SUCCESS")

    open_dashboard(page, system)

    for status in ("PENDING", "RUNNING", "SUCCESS", "FAILED", "CANCELLED"):
        counter = page.get_by_test_id(f"status-count-{status}").locator(".counter-value")
        expect(counter).to_have_text(re.compile(r"^\d[\d,.\s]*$"))
    expect(page.get_by_test_id("status-count-SUCCESS").locator(".counter-value")).not_to_have_text(
        "0"
    )
    expect(page.get_by_test_id("throughput-chart").locator("svg")).to_be_visible()
    queues = page.get_by_test_id("queue-row")
    expect(queues).to_have_count(3)
    workers = page.get_by_test_id("worker-row")
    for type_label in ("CSV processing", "Email sending", "Image processing"):
        expect(workers.filter(has_text=type_label)).not_to_have_count(0)


def test_a_counter_opens_the_list_of_its_status(page: Page, system: System) -> None:
    task = system.submit("csv_processing", {"num_rows": 100}, name=unique_name("counter"))
    system.wait_for_status(task["id"], "SUCCESS")
    open_dashboard(page, system)

    page.get_by_test_id("status-count-SUCCESS").click()

    expect(page.get_by_test_id("status-tab-SUCCESS")).to_have_attribute("aria-current", "page")
    rows = page.get_by_test_id("task-row")
    expect(rows.first).to_be_visible()
    expect(rows.and_(page.locator(":not([data-status=SUCCESS])"))).to_have_count(0)


def test_every_view_fits_a_narrow_screen(page: Page, system: System) -> None:
    name = unique_name("a task name long enough to wrap on a phone")
    task = system.submit("csv_processing", {"num_rows": 1000}, name=name)
    system.wait_for_status(task["id"], "SUCCESS")
    page.set_viewport_size({"width": 375, "height": 800})
    open_dashboard(page, system)
    views = {
        "#/": page.get_by_test_id("worker-row").first,
        f"#/tasks?q={name}": page.get_by_test_id("task-row"),
        f"#/tasks/{task['id']}": page.get_by_test_id("csv-numeric-table"),
        "#/submit": page.get_by_test_id("submit-button"),
    }

    for route, content in views.items():
        go_to(page, route)
        expect(content).to_be_visible()
        # Wide tables scroll inside their card; the page itself never scrolls sideways.
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, route
