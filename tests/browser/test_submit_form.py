"""Submitting through the form: the task runs live on screen, and 422s land by their field."""

import pytest
from dashboard import Console, go_to, open_dashboard, task_row, unique_name
from playwright.sync_api import Page, expect
from support.system import System

pytestmark = pytest.mark.browser

CSV = b"item,price\napple,1.5\npear,2.5\n"
# A 1x1 PNG: a file of a type csv_processing does not take.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def test_task_submitted_through_the_form_reaches_success_without_a_reload(
    page: Page, console: Console, system: System
) -> None:
    name = unique_name("form")
    open_dashboard(page, system, "#/submit?type=csv_processing")
    # Survives hash navigation, not a reload.
    page.evaluate("window.loadedOnce = true")

    page.locator("[name=num_rows]").fill("2000")
    page.locator("[name=processing_time]").fill("1")
    page.locator("[name=name]").fill(name)
    page.get_by_test_id("submit-button").click()

    expect(page.get_by_test_id("detail-name")).to_have_text(name)
    expect(page.get_by_test_id("detail-status")).to_have_attribute("data-status", "SUCCESS")
    task_id = page.get_by_test_id("task-detail").get_attribute("data-task-id")
    assert task_id is not None
    go_to(page, f"#/tasks?q={name}")
    expect(task_row(page, task_id)).to_have_attribute("data-status", "SUCCESS")
    assert page.evaluate("window.loadedOnce") is True
    assert system.get(task_id)["parameters"]["num_rows"] == 2000
    assert console.errors == []


def test_validation_error_is_shown_next_to_its_field(
    page: Page, console: Console, system: System
) -> None:
    open_dashboard(page, system, "#/submit?type=csv_processing")
    # Chromium logs the 422 itself as a failed resource load.
    console.expect_errors("status of 422")

    page.locator("[name=num_rows]").fill("-1")
    page.get_by_test_id("submit-button").click()

    error = page.get_by_test_id("error-num_rows")
    expect(error).to_be_visible()
    expect(error).to_contain_text("minimum of 1")
    expect(page.locator("[name=num_rows]")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("[name=num_rows]")).to_be_focused()
    expect(page.get_by_test_id("form-error")).to_be_hidden()
    expect(page.get_by_test_id("submit-form")).to_be_visible()
    assert len(console.errors) == 1, console.errors


def test_validation_error_of_one_recipient_names_its_line(
    page: Page, console: Console, system: System
) -> None:
    open_dashboard(page, system, "#/submit?type=email_sending")
    console.expect_errors("status of 422")

    page.locator("[name=recipients]").fill("ada@example.test\nnot an address")
    page.get_by_test_id("submit-button").click()

    expect(page.get_by_test_id("error-recipients")).to_contain_text("Line 2:")
    expect(page.locator("[name=recipients]")).to_have_attribute("aria-invalid", "true")


def test_a_csv_uploaded_through_the_form_is_processed(
    page: Page, console: Console, system: System
) -> None:
    """The file field comes from the schema's ``format: taskbus-file``; its uploads name their
    task type, so the API refuses a file the type does not take on the spot."""
    open_dashboard(page, system, "#/submit?type=csv_processing")
    console.expect_errors("status of 415")
    page.get_by_test_id("source-file_id").check()
    expect(page.locator("[name=num_rows]")).to_be_hidden()
    chooser = page.get_by_test_id("file-file_id")

    chooser.set_input_files(files=[{"name": "dot.png", "mimeType": "image/png", "buffer": PNG}])
    item = page.get_by_test_id("upload-item")
    expect(item).to_have_attribute("data-state", "error")
    expect(item).to_contain_text("not accepted for csv_processing")

    chooser.set_input_files(files=[{"name": "prices.csv", "mimeType": "text/csv", "buffer": CSV}])
    expect(item).to_have_count(1)
    expect(item).to_have_attribute("data-state", "done")
    file_id = item.get_attribute("data-file-id")
    page.get_by_test_id("submit-button").click()

    expect(page.get_by_test_id("detail-status")).to_have_attribute("data-status", "SUCCESS")
    numeric = page.get_by_test_id("csv-numeric-table")
    expect(numeric.locator("[data-column=price]")).to_be_visible()
    task_id = page.get_by_test_id("task-detail").get_attribute("data-task-id")
    assert task_id is not None
    parameters = system.get(task_id)["parameters"]
    assert parameters["file_id"] == file_id
    assert "num_rows" not in parameters
