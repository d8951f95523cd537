"""What the browser tests share: ways into the dashboard, and what its page reported."""

import uuid
from dataclasses import dataclass, field

from playwright.sync_api import ConsoleMessage, Dialog, Locator, Page, expect
from support.system import System


@dataclass
class Console:
    """What a page reported while a test drove it."""

    errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)

    def expect_errors(self, fragment: str) -> None:
        """Console errors holding ``fragment`` are expected: a 4xx the test provokes on purpose."""
        self.expected.append(fragment)

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.errors if not any(f in e for f in self.expected)]

    def watch(self, page: Page) -> None:
        page.on("console", self._on_message)
        page.on("pageerror", self._on_exception)
        page.on("dialog", self._on_dialog)

    def _on_message(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location
            self.errors.append(f"{message.text} ({where['url']}:{where['lineNumber']})")

    def _on_exception(self, error: Exception) -> None:
        self.exceptions.append(str(error))

    def _on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()


def open_dashboard(page: Page, system: System, route: str = "#/") -> None:
    """Load the page at ``route`` and wait until its live stream is connected.

    Waiting for the stream first means every change from then on reaches the page.
    """
    page.goto(f"{system.api_url}/{route}")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live")


def go_to(page: Page, route: str) -> None:
    """Change the route the way a link does: no reload."""
    page.evaluate("route => { location.hash = route; }", route)


def unique_name(label: str) -> str:
    """A task name no other test uses, so a search for it finds only this test's tasks."""
    return f"{label}-{uuid.uuid4().hex[:12]}"


def task_row(page: Page, task_id: str) -> Locator:
    return page.locator(f'[data-testid="task-row"][data-task-id="{task_id}"]')


def task_rows(page: Page) -> Locator:
    return page.get_by_test_id("task-row")
