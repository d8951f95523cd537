"""Browser fixtures: Debian's chromium driven by Playwright, a fresh browser for each test.

Every page records what would show in the developer console (console errors, uncaught
exceptions, dialogs), fails its test on any of them the test did not expect, and leaves a
screenshot in ``test-artifacts/browser/`` when its test ends, passed or failed.

Playwright's sync API marks its own event loop as running in the test's thread for as long as
it is started, so neither ``asyncio.run`` (which starting a system uses) nor an async test can
run meanwhile. Hence a driver per test: it starts after every system fixture, which all have a
wider scope, and is gone before the next test, whatever kind that is.
"""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard import Console
from playwright.sync_api import Page, expect, sync_playwright
from support.fixtures import ARTIFACTS, system, system_factory

__all__ = ["system", "system_factory"]

CHROMIUM = Path("/usr/bin/chromium")
# Headless, and nothing that calls out to Google's services from a test machine.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ARTIFACTS / "browser"
# Generous: the machine runs five services, Postgres, NATS and chromium on two cores.
TIMEOUT_MS = 20_000


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(
        reason=f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)"
    )
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(skip)


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def page(console: Console, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A 1280x800 page; at the end a screenshot, and no unexpected error or any dialog."""
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
        )
        tab = browser.new_page(viewport={"width": 1280, "height": 800})
        tab.set_default_timeout(TIMEOUT_MS)
        console.watch(tab)
        try:
            yield tab
        finally:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^\w.-]+", "_", request.node.name)
            # From the top: a full-page shot of a scrolled page paints the sticky header mid-page.
            tab.evaluate("window.scrollTo(0, 0)")
            tab.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True, animations="disabled")
            browser.close()
    assert console.exceptions == [], "uncaught errors in the page"
    assert console.unexpected_errors() == [], "errors in the console"
    assert console.dialogs == [], "the page opened dialogs"
