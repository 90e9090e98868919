"""Playwright with Debian's Chromium (Playwright's own browser download cannot run here).

Where Chromium is missing the browser tests skip, with the reason, on a developer's
machine; on CI (CI=true) they fail instead, so that a broken image cannot pass by skipping them.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.conftest import LiveServer, serving

CHROMIUM = os.environ.get("LEDGERPANE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PANE = {"width": 350, "height": 700}  # Excel's task pane is 350 px wide (research/office.md 6.2)
OFFICE_CDN = "https://appsforoffice.microsoft.com/**"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run on CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator:
    if not (os.access(CHROMIUM, os.X_OK) or shutil.which(CHROMIUM)):
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set LEDGERPANE_CHROMIUM)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser) -> Iterator:
    """A fresh task pane-sized page (own storage) that fails the test on any uncaught script error.

    Office.js is refused at once, as on a machine without internet, so the pane runs in browser mode
    the same way everywhere; test_offline_office_js covers an Office CDN that never answers.
    """
    context = browser.new_context(viewport=PANE)
    context.route(OFFICE_CDN, lambda route: route.abort("internetdisconnected"))
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(10_000)
    yield page
    context.close()
    assert not errors, f"uncaught script errors in the task pane: {errors}"


@pytest.fixture
def live_server_with_catalog(tmp_path: Path) -> Iterator[LiveServer]:
    """Like `live_server`, with the built-in sandbox provider on, so the catalog has something in it."""
    with serving(tmp_path, sandbox=True) as server:
        yield server
