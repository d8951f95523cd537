"""The task page: its timeline grows live, and Cancel and Retry act and update."""

from collections.abc import Iterator

import pytest
from dashboard import open_dashboard, unique_name
from playwright.sync_api import Locator, Page, expect
from support.fixtures import SystemFactory
from support.system import System

pytestmark = pytest.mark.browser

SLOW_CSV = {"num_rows": 1000, "processing_time": 60}


@pytest.fixture(scope="module")
def workerless_system(system_factory: SystemFactory) -> Iterator[System]:
    """A system whose workers start only when a test starts them."""
    with system_factory(
        "browser-workerless", services=("taskbus-api", "taskbus-projector")
    ) as held:
        yield held


def event_item(page: Page, event_type: str) -> Locator:
    return page.locator(f'[data-testid="timeline-item"][data-event-type="{event_type}"]')


def test_timeline_shows_each_event_as_it_happens(page: Page, workerless_system: System) -> None:
    system = workerless_system
    task = system.submit(
        "csv_processing", {"num_rows": 5000, "processing_time": 1}, name=unique_name("timeline")
    )
    open_dashboard(page, system, f"#/tasks/{task['id']}")
    items = page.get_by_test_id("timeline-item")
    expect(items).to_have_count(1)
    expect(items.first).to_have_attribute("data-event-type", "TaskSubmitted")
    expect(page.get_by_test_id("detail-status")).to_have_attribute("data-status", "PENDING")

    system.start("taskbus-worker-csv")

    expect(event_item(page, "TaskStarted")).to_have_count(1)
    expect(event_item(page, "TaskSucceeded")).to_have_count(1)
    expect(page.get_by_test_id("detail-status")).to_have_attribute("data-status", "SUCCESS")
    expect(page.get_by_test_id("detail-result").get_by_test_id("csv-numeric-table")).to_be_visible()
    types = items.evaluate_all("items => items.map(item => item.dataset.eventType)")
    seqs = items.evaluate_all("items => items.map(item => Number(item.dataset.seq))")
    assert types[:2] == ["TaskSubmitted", "TaskStarted"]
    assert types[-1] == "TaskSucceeded"
    assert set(types[2:-1]) <= {"TaskProgress", "TaskCheckpoint"}
    assert seqs == sorted(seqs)


def test_cancel_from_the_detail_view(page: Page, system: System) -> None:
    task = system.submit("csv_processing", SLOW_CSV, name=unique_name("cancel"))
    system.wait_for_status(task["id"], "RUNNING")
    open_dashboard(page, system, f"#/tasks/{task['id']}")
    status = page.get_by_test_id("detail-status")
    cancel = page.get_by_test_id("cancel-button")
    retry = page.get_by_test_id("retry-button")
    expect(status).to_have_attribute("data-status", "RUNNING")
    expect(cancel).to_be_enabled()
    expect(retry).to_be_disabled()

    cancel.click()

    # First: a notice leaves after a few seconds.
    expect(page.get_by_test_id("toast")).to_contain_text("Cancel requested")
    expect(status).to_have_attribute("data-status", "CANCELLED")
    expect(cancel).to_be_disabled()
    expect(retry).to_be_enabled()
    expect(event_item(page, "TaskCancelled")).to_have_count(1)


def test_retry_from_the_detail_view_runs_another_attempt(page: Page, system: System) -> None:
    task = system.submit_failing(name=unique_name("retry"), max_attempts=1)
    system.wait_for_status(task["id"], "FAILED")
    open_dashboard(page, system, f"#/tasks/{task['id']}")
    expect(page.get_by_test_id("detail-status")).to_have_attribute("data-status", "FAILED")
    expect(page.get_by_test_id("detail-error")).not_to_be_empty()
    expect(page.get_by_test_id("detail-error-attempt")).to_contain_text("Attempt 1 of 1")

    page.get_by_test_id("retry-button").click()

    expect(event_item(page, "TaskRetried")).to_have_count(1)
    expect(event_item(page, "TaskFailed")).to_have_count(2)
    expect(page.get_by_test_id("detail-status")).to_have_attribute("data-status", "FAILED")
    expect(page.get_by_test_id("detail-attempt")).to_have_text("2 of 2")
    expect(page.get_by_test_id("detail-error-attempt")).to_contain_text("Attempt 2 of")
