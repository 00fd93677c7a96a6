"""A real browser for end-to-end tests: Debian's chromium, driven by Playwright's sync API.

Playwright never downloads a browser here: it launches the system's ``chromium`` (installed by
``.ci/run`` with apt-get). Without it the tests skip locally and fail when ``CI`` is set.
They carry the ``browser`` marker: ``pytest -m "not browser"`` deselects them.

The sync API marks its event loop as running in the test's thread between calls, so these
tests are plain sync tests, and the browser lives for one module at most (the anyio tests of
other modules need the thread's loop slot free). The service runs in its own thread (the
``live`` fixture), so the browser talks to it over a real socket.

Every test's final state is saved as ``test-output/browser/<test name>.png`` (git-ignored),
whether the test passed or failed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from tests.support.redis_server import require

CHROMIUM_ARGS = [
    "--no-sandbox",  # CI containers run as root, where chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = require("chromium", package="chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def screenshots(request: pytest.FixtureRequest) -> Path:
    directory = request.config.rootpath / "test-output" / "browser"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def page(browser: Browser, screenshots: Path, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser context and page (1280x900); its final state is screenshotted.

    The page runs under its real Content-Security-Policy (no ``bypass_csp``), so a CSP
    violation or an uncaught exception in the page fails the test.
    """
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"uncaught: {exc}"))

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            problems.append(f"CSP: {message.text}")

    page.on("console", on_console)
    try:
        yield page
    finally:
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        page.screenshot(path=screenshots / f"{name}.png", full_page=True)
        context.close()
    assert not problems, problems
