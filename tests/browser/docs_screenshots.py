"""The README's screenshots, taken of a dedicated system brought into a lived-in state.

Not part of the suite: pytest collects only ``test_*.py`` unless given a file by path. Run

    .venv/bin/pytest tests/browser/docs_screenshots.py

and it rewrites ``docs/overview.png`` and ``docs/task-detail.png`` (1280x800).
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard import open_dashboard
from playwright.sync_api import Page, expect
from support.fixtures import SystemFactory
from support.system import System, Task

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[2] / "docs"
# Long enough to be still running when the shots are taken; stopped with the system.
STILL_RUNNING = {"num_rows": 2_000_000, "processing_time": 600}


@pytest.fixture(scope="module")
def demo_system(system_factory: SystemFactory) -> Iterator[System]:
    with system_factory("browser-docs") as demo:
        yield demo


def fill_with_work(system: System) -> Task:
    """Finished, failed, cancelled and running tasks of every type; returns one to feature."""
    finished = [
        system.submit("csv_processing", {"num_rows": rows, "seed": seed}, name=name)
        for seed, (name, rows) in enumerate(
            [
                ("Orders export, March", 40_000),
                ("Sensor readings, line 4", 120_000),
                ("Churn sample", 5_000),
                ("Warehouse stock levels", 60_000),
                ("Web analytics, week 12", 90_000),
            ]
        )
    ]
    finished += [
        system.submit(
            "email_sending",
            {"num_emails": 12, "subject": "Your March invoice"},
            name="March invoices",
        ),
        system.submit(
            "email_sending", {"num_emails": 3, "subject": "Welcome aboard"}, name="Welcome series"
        ),
        system.submit(
            "image_processing",
            {"num_images": 4, "target_width": 320, "target_height": 240},
            name="Catalogue thumbnails",
        ),
    ]
    featured = system.submit(
        "csv_processing",
        {"num_rows": 250_000, "seed": 42, "processing_time": 2},
        name="Quarterly sales report",
    )
    failed = [system.submit_failing(name="Supplier feed import", max_attempts=1)]
    cancelled = system.submit("csv_processing", STILL_RUNNING, name="Full history backfill")
    system.wait_for_status(cancelled["id"], "RUNNING")
    assert system.client.delete(f"/api/tasks/{cancelled['id']}").status_code == 202
    running = [
        system.submit("csv_processing", STILL_RUNNING, name="Clickstream, all of 2024"),
        system.submit(
            "email_sending", {"num_emails": 500, "delay_per_email": 1}, name="Spring newsletter"
        ),
    ]
    for task in [*finished, featured]:
        system.wait_for_status(task["id"], "SUCCESS")
    for task in failed:
        system.wait_for_status(task["id"], "FAILED")
    system.wait_for_status(cancelled["id"], "CANCELLED")
    for task in running:
        system.wait_until(task["id"], lambda t: t["status"] == "RUNNING" and t["progress"] > 0)
    return featured


def test_docs_screenshots(page: Page, demo_system: System) -> None:
    featured = fill_with_work(demo_system)
    DOCS.mkdir(exist_ok=True)

    open_dashboard(page, demo_system)
    expect(page.get_by_test_id("status-count-SUCCESS").locator(".counter-value")).to_have_text("9")
    expect(page.get_by_test_id("status-count-RUNNING").locator(".counter-value")).to_have_text("2")
    expect(page.get_by_test_id("worker-row")).to_have_count(3)
    expect(page.get_by_test_id("worker-row").locator("a")).to_have_count(2)
    page.screenshot(path=DOCS / "overview.png", animations="disabled")

    open_dashboard(page, demo_system, f"#/tasks/{featured['id']}")
    expect(page.get_by_test_id("detail-status")).to_have_attribute("data-status", "SUCCESS")
    expect(page.get_by_test_id("csv-numeric-table")).to_be_visible()
    expect(
        page.locator('[data-testid="timeline-item"][data-event-type="TaskSucceeded"]')
    ).to_have_count(1)
    page.screenshot(path=DOCS / "task-detail.png", animations="disabled")
