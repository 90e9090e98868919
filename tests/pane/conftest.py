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

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, pane_page
from tests.support.live import LiveServer, serving


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
    with pane_page(browser) as page:
        yield page


@pytest.fixture
def live_server_with_catalog(tmp_path: Path) -> Iterator[LiveServer]:
    """Like `live_server`, with the built-in sandbox provider on, so the catalog has something in it."""
    with serving(tmp_path, sandbox=True) as server:
        yield server


@pytest.fixture
def service_with_provider(tmp_path, sandbox):
    """The whole service on a real port, offering the demo company from the sandbox provider (its own real
    HTTP server), which sends the consent back to this service; no organisation granted yet."""
    from server.sandbox.config import DEMO_CLIENT

    sandbox.admin("POST", "/admin/reset", {"grants": True}, expect=200)
    with serving(tmp_path, sandbox_url=sandbox.url, sandbox_rate_scale=1 / 60) as server:
        sandbox.admin("POST", "/admin/clients", {"clientId": DEMO_CLIENT.client_id,
                                                 "clientSecret": DEMO_CLIENT.client_secret,
                                                 "redirectUris": [f"{server.url}/oauth/callback/xero-sandbox"]},
                      expect=201)
        yield server
