"""The task list: rows follow their tasks live, and the filters narrow it as the server does."""

import random
import re

import pytest
from dashboard import go_to, open_dashboard, task_row, task_rows, unique_name
from playwright.sync_api import Page, expect
from support.system import System

pytestmark = pytest.mark.browser

# Strictly between 0 and 100: at SUCCESS the bar shows 100.
PART_DONE = re.compile(r"^[1-9][0-9]?$")
# Whether the page's stream has delivered log sequence ``seq``.
STREAM_REACHED = """seq => {
  const connection = document.querySelector('[data-testid="connection"]');
  return Number(connection.dataset.lastEventId) >= seq;
}"""


def test_row_appears_and_its_progress_moves_live(page: Page, system: System) -> None:
    name = unique_name("progress")
    open_dashboard(page, system, f"#/tasks?q={name}")
    expect(page.get_by_test_id("tasks-empty")).to_be_visible()

    task = system.submit("csv_processing", {"num_rows": 20_000, "processing_time": 4}, name=name)

    row = task_row(page, task["id"])
    expect(row.get_by_test_id("task-progress")).to_have_attribute("aria-valuenow", PART_DONE)
    expect(row).to_have_attribute("data-status", "SUCCESS")
    expect(row.get_by_test_id("task-progress")).to_have_attribute("aria-valuenow", "100")
    expect(row.get_by_test_id("task-status")).to_have_text("Success")


def test_status_tab_type_filter_and_search_narrow_the_list(page: Page, system: System) -> None:
    tag = unique_name("filter")
    csv = system.submit("csv_processing", {"num_rows": 50}, name=f"{tag}-csv")
    mail = system.submit("email_sending", {"num_emails": 1}, name=f"{tag}-mail")
    broken = system.submit_failing(name=f"{tag}-broken", max_attempts=1)
    system.wait_for_status(csv["id"], "SUCCESS")
    system.wait_for_status(mail["id"], "SUCCESS")
    system.wait_for_status(broken["id"], "FAILED")
    open_dashboard(page, system, f"#/tasks?q={tag}")
    rows = task_rows(page)
    expect(rows).to_have_count(3)

    page.get_by_test_id("status-tab-SUCCESS").click()
    expect(rows).to_have_count(2)
    expect(rows.and_(page.locator("[data-status=SUCCESS]"))).to_have_count(2)

    page.get_by_test_id("filter-type").select_option("csv_processing")
    expect(rows).to_have_count(1)
    expect(task_row(page, csv["id"])).to_be_visible()

    page.get_by_test_id("status-tab-ALL").click()
    expect(rows).to_have_count(2)
    expect(task_row(page, broken["id"])).to_be_visible()

    page.get_by_test_id("filter-search").fill(f"{tag}-broken")
    expect(rows).to_have_count(1)
    expect(task_row(page, broken["id"])).to_have_attribute("data-status", "FAILED")
    assert "task_type=csv_processing" in page.url


def test_the_list_shows_only_what_the_server_finds(page: Page, system: System) -> None:
    """Three hex characters are too few to search ids by: the server matches names only, and
    the live list must not add a task whose id merely starts with them."""
    open_dashboard(page, system, "#/tasks")
    # A name without hex digits, so that only its id could hold the prefix.
    hidden_name = "no-hex-" + "".join(random.choices("ghijklmnopqrstuvwxyz", k=16))
    hidden = system.submit(
        "csv_processing", {"num_rows": 20_000, "processing_time": 3}, name=hidden_name
    )
    prefix = hidden["id"][:3]
    go_to(page, f"#/tasks?q={prefix}")
    found = system.submit("csv_processing", {"num_rows": 50}, name=unique_name(prefix))
    last_seq = max(system.wait_for_status(task["id"], "SUCCESS")["seq"] for task in (hidden, found))

    expect(task_row(page, found["id"])).to_have_attribute("data-status", "SUCCESS")
    # The page's own stream has brought every change of both tasks by now.
    page.wait_for_function(STREAM_REACHED, arg=last_seq)
    expect(task_row(page, hidden["id"])).to_have_count(0)


def test_a_task_that_finishes_leaves_the_running_tab(page: Page, system: System) -> None:
    name = unique_name("leaves")
    open_dashboard(page, system, f"#/tasks?status=RUNNING&q={name}")

    task = system.submit("csv_processing", {"num_rows": 20_000, "processing_time": 3}, name=name)

    row = task_row(page, task["id"])
    expect(row).to_have_attribute("data-status", "RUNNING")
    expect(row).to_have_count(0)
    assert system.get(task["id"])["status"] == "SUCCESS"
