"""How the browser tests run Chromium, and what a task pane looks like to it."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
from sqlalchemy import select

from server.access.workspaces import add_member, create_key
from server.db.engine import transaction
from server.db.models import Role, Workspace
from tests.support.waiting import wait_until

CHROMIUM = os.environ.get("LEDGERPANE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PANE = {"width": 350, "height": 700}  # Excel's task pane is 350 px wide (research/office.md 6.2)
OFFICE_CDN = "https://appsforoffice.microsoft.com/**"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@contextmanager
def pane_page(browser, timeout_ms: int = 10_000, **context_options) -> Iterator:
    """A fresh task pane-sized page (own storage) that fails the test on any uncaught script error.

    Office.js is refused at once, as on a machine without internet, so the pane runs in browser mode
    the same way everywhere; test_offline_office_js covers an Office CDN that never answers."""
    context = browser.new_context(viewport=PANE, **context_options)
    context.route(OFFICE_CDN, lambda route: route.abort("internetdisconnected"))
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(timeout_ms)
    yield page
    context.close()
    assert not errors, f"uncaught script errors in the task pane: {errors}"


def screenshot(page, name: str) -> None:
    """Saves the pane as it looks now under test-artifacts/, for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def connect_demo(server, sandbox, name: str, companies: int | None = None, refresh: bool = True) -> int:
    """A demo source connected over HTTP as the pane would (consent approved for every organisation), its
    first `companies` companies selected and, with `refresh`, refreshed until Live. Returns its id."""
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
        wait_until(lambda: api.get(f"{server.url}/api/v1/connections/{connection_id}", timeout=30)
                   .json()["status"] == "live", deadline=120, message="the first refresh did not reach Live",
                   interval=0.2)
    return connection_id


def member_key(server) -> str:
    """A key for a member (not an admin) of the served workspace."""
    with transaction(server.sessions) as session:
        workspace = session.scalar(select(Workspace))
        return create_key(session, add_member(session, workspace, "member@acme.test", Role.member))


def fits_sideways(page) -> bool:
    """The page does not scroll sideways at its current width."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def serious_violations(page, server_url: str) -> list[str]:
    """What axe-core (vendored with the pane) finds serious or critical on the page, one line each."""
    page.add_script_tag(url=f"{server_url}/vendor/axe-core/axe.min.js")
    return page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']}))
        .violations.filter(v => ['serious', 'critical'].includes(v.impact))
        .map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))""")


def check_screen(page, server_url: str, name: str) -> None:
    """The screen on show, in light and dark: at 320 px it does not scroll sideways and axe-core finds no serious
    or critical violation; at Excel's 350 px it is saved as test-artifacts/<name>-<scheme>.png."""
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.set_viewport_size({"width": 320, "height": PANE["height"]})
        assert fits_sideways(page), f"{name} ({scheme}) scrolls sideways at 320 px"
        violations = serious_violations(page, server_url)
        assert violations == [], f"{name} ({scheme}): {violations}"
        page.set_viewport_size(PANE)
        screenshot(page, f"{name}-{scheme}")
    page.emulate_media(color_scheme="light")
