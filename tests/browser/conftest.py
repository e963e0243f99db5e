"""Browser tests of the sandbox page: a real server on a loopback port, Debian's Chromium driven by
Playwright (never a downloaded browser), a screenshot of every test kept as an artifact.

They skip, saying why, only where there is no browser: Playwright not installed or no Chromium at
`CDS_TEST_CHROMIUM` (default /usr/bin/chromium). Screenshots go to `$CDS_TEST_ARTIFACTS` or
`tests/browser/artifacts/` (git-ignored).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from cds import create_app
from cds.feedback import FeedbackStore
from cds.settings import Settings

CHROMIUM = Path(os.environ.get("CDS_TEST_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("CDS_TEST_ARTIFACTS") or Path(__file__).parent / "artifacts")
TIMEOUT_MS = 15_000

try:
    from playwright.sync_api import Browser, Page, Playwright, sync_playwright

    PLAYWRIGHT_INSTALLED = True
except ImportError:  # pragma: no cover - the `test` extra installs it
    PLAYWRIGHT_INSTALLED = False


def _browser_missing() -> str | None:
    if not PLAYWRIGHT_INSTALLED:
        return "the Python package playwright is not installed (pip install -e '.[test]')"
    if not CHROMIUM.exists():
        return (
            f"no Chromium at {CHROMIUM}: install Debian's chromium package "
            "(scripts/ci-system-packages.sh does) or set CDS_TEST_CHROMIUM"
        )
    return None


@dataclass
class LiveServer:
    """The service on a free loopback port, with its feedback store open for the assertions."""

    url: str
    store: FeedbackStore
    settings: Settings
    _stop: Callable[[], None] = field(repr=False)

    def feedback(self) -> list[dict[str, Any]]:
        return self.store.items()


def start_server(settings: Settings) -> LiveServer:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = create_app(settings)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="sandbox-server", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        thread.join(timeout=10)

    return LiveServer(
        f"http://127.0.0.1:{server.server_port}",
        app.extensions["cds.feedback"],
        settings,
        stop,
    )


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Open development mode (the page's default home), real clock, its own SQLite store."""
    database = tmp_path_factory.mktemp("sandbox") / "feedback.sqlite3"
    server = start_server(Settings(dev_mode=True, database_url=f"sqlite:///{database}"))
    yield server
    server._stop()


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    reason = _browser_missing()
    if reason:
        pytest.skip(f"browser tests skipped: {reason}")
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    launched = playwright_instance.chromium.launch(executable_path=str(CHROMIUM), headless=True)
    yield launched
    launched.close()


def _artifact_name(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid.split("::", 1)[-1])[:120]


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh page; JavaScript errors fail the test, and a screenshot is kept whatever happens."""
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    opened.on(
        "console",
        lambda message: (
            errors.append(f"console {message.type}: {message.text}")
            if message.type == "error" and "status of 401" not in message.text
            else None
        ),
    )
    yield opened
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        opened.screenshot(
            path=str(ARTIFACTS / f"{_artifact_name(request.node.nodeid)}.png"), full_page=True
        )
    finally:
        context.close()
    assert not errors, f"the page logged errors: {errors}"


def screenshot(page: Page, name: str) -> Path:
    """Keep a named screenshot of a step as a test artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
