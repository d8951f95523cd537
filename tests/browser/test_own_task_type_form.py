"""Task types declared only in tests/ in the browser: the dice of tests/apps/dice.py and the
shapes of shapes_app.py. Their forms are built from their schemas, their 422s land by their
fields, and their results get the generic view."""

import random
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard import Console, go_to, open_dashboard, task_row
from playwright.sync_api import Page, expect
from support.fixtures import SystemFactory
from support.system import System

pytestmark = pytest.mark.browser

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent


@pytest.fixture(scope="module")
def own_types(system_factory: SystemFactory) -> Iterator[System]:
    """A system of its own, so that the shared one's catalog keeps only the built-ins; none of
    their workers runs, only the test apps'."""
    with system_factory("browser-own-types", services=("taskbus-api", "taskbus-projector")) as held:
        for app, folder in (("apps.dice:app", TESTS), ("shapes_app:app", HERE)):
            env = {"PYTHONPATH": str(folder)}
            held.start("taskbus", "worker", app, env=env, name=f"worker-{app}")
        yield held


def test_the_form_of_a_type_from_the_catalog_submits_and_shows_its_result(
    page: Page, console: Console, own_types: System
) -> None:
    system = own_types
    console.expect_errors("status of 422")
    open_dashboard(page, system, "#/submit")
    expect(page.get_by_role("radio", name="Roll dice")).to_have_accessible_description(
        "Roll some dice and add them up. 1 worker running"
    )
    expect(page.get_by_role("radio", name="CSV processing")).to_have_accessible_description(
        re.compile("No worker running")
    )

    page.get_by_test_id("task-type-csv_processing").check()
    expect(page.locator("[name=num_rows]")).to_be_visible()
    page.get_by_test_id("task-type-roll_dice").check()

    expect(page).to_have_url(f"{system.api_url}/#/submit?type=roll_dice")
    dice, sides, seed = (page.get_by_test_id(f"param-{name}") for name in ("dice", "sides", "seed"))
    for field, (value, low, high) in {dice: ("2", "1", "50"), sides: ("6", "2", "1000")}.items():
        expect(field).to_have_value(value)
        expect(field).to_have_attribute("type", "number")
        expect(field).to_have_attribute("min", low)
        expect(field).to_have_attribute("max", high)
        expect(field).to_have_attribute("step", "1")
    expect(seed).to_have_value("0")
    expect(seed).not_to_have_attribute("min", "0")
    expect(page.get_by_label("Dice", exact=True)).to_have_accessible_description(
        "How many dice to roll. 1 to 50."
    )
    expect(page.get_by_label("Seed", exact=True)).to_have_accessible_description(
        "The same seed rolls the same numbers."
    )
    expect(page.locator("[name=num_rows]")).to_have_count(0)

    sides.fill("1")
    page.get_by_test_id("submit-button").click()

    error = page.get_by_test_id("error-sides")
    expect(error).to_contain_text("minimum of 2")
    expect(sides).to_have_attribute("aria-invalid", "true")
    expect(sides).to_be_focused()
    expect(page.get_by_test_id("form-error")).to_be_hidden()

    dice.fill("4")
    sides.fill("20")
    seed.fill("7")
    page.get_by_test_id("submit-button").click()

    expect(page.get_by_test_id("detail-status")).to_have_attribute("data-status", "SUCCESS")
    expect(page.get_by_test_id("detail-type")).to_have_text("Roll dice")
    rng = random.Random(7)
    rolls = [rng.randint(1, 20) for _ in range(4)]
    result = page.get_by_test_id("detail-result").get_by_test_id("generic-result")
    fields = result.get_by_test_id("result-field")
    expect(fields.and_(page.locator("[data-key=rolls]")).locator("li")).to_have_text(
        [str(roll) for roll in rolls]
    )
    expect(fields.and_(page.locator("[data-key=total]")).locator("dd")).to_have_text(
        str(sum(rolls))
    )
    task_id = page.get_by_test_id("task-detail").get_attribute("data-task-id")
    assert task_id is not None
    assert system.get(task_id)["parameters"] == {"dice": 4, "sides": 20, "seed": 7}
    assert len(console.errors) == 1, console.errors

    go_to(page, "#/tasks?task_type=roll_dice")
    type_filter = page.get_by_test_id("filter-type")
    expect(type_filter).to_have_value("roll_dice")
    expect(type_filter.locator("option[value=roll_dice]")).to_have_text("Roll dice")
    expect(task_row(page, task_id)).to_contain_text("Roll dice")


def test_enums_lists_and_nested_models_are_sent_as_entered(
    page: Page, console: Console, own_types: System
) -> None:
    system = own_types
    console.expect_errors("status of 422")
    open_dashboard(page, system, "#/submit?type=draw_shape")
    field = page.get_by_test_id
    expect(field("param-colour").locator("option:checked")).to_have_text("red")
    expect(field("param-size.width")).to_have_value("1")
    expect(field("param-border.width")).to_be_disabled()
    expect(field("param-filled").locator("option:checked")).to_have_text("Not set")

    field("param-colour").select_option(label="blue")
    field("param-kind").select_option(label="circle")
    field("param-tags").fill("a\nb\n\nc")
    field("param-weights").fill("1.5\n2\n\nheavy")
    field("param-size.width").fill("4")
    field("include-border").check()
    field("param-border.height").fill("0")
    field("param-filled").select_option(label="Yes")
    field("submit-button").click()

    # Checked before sending: a line that is no number.
    expect(field("error-weights")).to_have_text("Line 4: Enter a number.")
    field("param-weights").fill("1.5\n2\n3")
    field("submit-button").click()

    # Refused by the API's schema, and shown by the nested field.
    expect(field("error-border.height")).to_contain_text("minimum of 1")
    expect(field("param-border.height")).to_be_focused()
    field("param-border.height").fill("2")
    field("submit-button").click()

    expect(field("detail-status")).to_have_attribute("data-status", "SUCCESS")
    task_id = field("task-detail").get_attribute("data-task-id")
    assert task_id is not None
    assert system.get(task_id)["parameters"] == {
        "colour": "blue",
        "kind": "circle",
        "tags": ["a", "b", "c"],
        "weights": [1.5, 2, 3],
        "size": {"width": 4, "height": 1},
        "border": {"width": 1, "height": 2},
        "filled": True,
    }
    parts = field("generic-result").locator("[data-key=parts]").get_by_test_id("result-table")
    expect(parts.locator("tbody tr")).to_have_count(3)
    expect(parts.locator("tbody tr").first.locator("td")).to_have_text(["a", "1.5"])
    assert len(console.errors) == 1, console.errors
