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

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, OFFICE_CDN, PANE
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


ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


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


def screenshot(page, name: str) -> None:
    """Saves the pane as it looks now under test-artifacts/, for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def connect_demo(server, sandbox, name: str, companies: int | None = None, refresh: bool = True) -> int:
    """A demo source connected over HTTP as the pane would (consent approved for every organisation), its
    first `companies` companies selected and, with `refresh`, refreshed until Live. Returns its id."""
    import time

    import requests

    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {server.key}"
    answer = api.post(f"{server.url}/api/v1/connections", json={"provider": "xero-sandbox", "name": name},
                      timeout=30).json()
    connection_id = answer["connection"]["id"]
    provider_url = api.get(server.url + answer["authorize_url"], allow_redirects=False, timeout=30).headers["Location"]
    consent_page = requests.get(provider_url, timeout=30)
    back = requests.post(consent_page.url, data={"decision": "approve",
                                                 "tenant": [t["tenantId"] for t in sandbox.tenants()]},
                         allow_redirects=False, timeout=30).headers["Location"]
    assert api.get(back, timeout=60).status_code == 200
    entities = api.get(f"{server.url}/api/v1/connections/{connection_id}/entities", timeout=30).json()["items"]
    api.put(f"{server.url}/api/v1/connections/{connection_id}/entities",
            json={"selected_ids": [e["id"] for e in entities][:companies]}, timeout=30).raise_for_status()
    if refresh:
        api.post(f"{server.url}/api/v1/connections/{connection_id}/refresh", json={}, timeout=30).raise_for_status()
        deadline = time.monotonic() + 120
        while api.get(f"{server.url}/api/v1/connections/{connection_id}", timeout=30).json()["status"] != "live":
            assert time.monotonic() < deadline, "the first refresh did not reach Live"
            time.sleep(0.2)
    return connection_id


def member_key(server) -> str:
    """A key for a member (not an admin) of the served workspace."""
    from sqlalchemy import select

    from server.access.workspaces import add_member, create_key
    from server.db.models import Role, Workspace

    with server.sessions.begin() as session:
        workspace = session.scalar(select(Workspace))
        return create_key(session, add_member(session, workspace, "member@acme.test", Role.member))
