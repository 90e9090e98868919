"""The task pane's first screens in a real Chromium, against the whole service (`live_server`)."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from server.db.models import Connection, ConnectionStatus, Workspace
from tests.support.browser import OFFICE_CDN, PANE

pytestmark = pytest.mark.browser

STORED_KEY = "localStorage.getItem('ledgerpane.workspaceKey')"


def open_pane(page, live_server, key: str | None = None) -> None:
    page.goto(f"{live_server.url}/taskpane.html" + (f"#key={key}" if key else ""))


def workspace_heading(page):
    return page.get_by_role("heading", level=1)


def rename_workspace(live_server, name: str) -> int:
    with live_server.sessions.begin() as session:
        workspace = session.scalar(select(Workspace))
        workspace.name = name
        return workspace.id


def add_connection(live_server, name: str, provider: str, status: ConnectionStatus) -> None:
    with live_server.sessions.begin() as session:
        workspace = session.scalar(select(Workspace))
        session.add(Connection(workspace_id=workspace.id, name=name, provider=provider, status=status.value))


def test_key_in_the_address_opens_the_connections_page_and_leaves_the_address(page, live_server):
    open_pane(page, live_server, live_server.key)

    expect(workspace_heading(page)).to_have_text(live_server.workspace_name)
    expect(page.get_by_text("Europe/London · GBP · Admin")).to_be_visible()
    expect(page.get_by_text("No data sources yet.")).to_be_visible()
    assert live_server.key not in page.url
    assert page.url == f"{live_server.url}/taskpane.html"
    assert page.evaluate(STORED_KEY) == live_server.key


def test_the_stored_key_opens_the_pane_next_time(page, live_server):
    open_pane(page, live_server, live_server.key)
    expect(workspace_heading(page)).to_have_text(live_server.workspace_name)

    page.reload()

    expect(workspace_heading(page)).to_have_text(live_server.workspace_name)


def test_a_wrong_key_shows_sign_in_with_the_reason(page, live_server):
    open_pane(page, live_server, "lp_not-a-real-key")

    expect(page.get_by_role("heading", name="Sign in to your workspace")).to_be_visible()
    expect(page.get_by_text("That workspace key was not accepted")).to_be_visible()
    expect(page.get_by_label("Workspace key")).to_be_focused()
    assert page.evaluate(STORED_KEY) is None


def test_signing_in_with_the_right_key(page, live_server):
    open_pane(page, live_server)
    key_field = page.get_by_label("Workspace key")
    expect(key_field).to_have_attribute("type", "password")

    key_field.fill(live_server.key)
    page.get_by_role("button", name="Continue").click()

    expect(workspace_heading(page)).to_have_text(live_server.workspace_name)
    assert page.evaluate(STORED_KEY) == live_server.key


def test_signing_out_forgets_the_key(page, live_server):
    open_pane(page, live_server, live_server.key)
    expect(workspace_heading(page)).to_be_visible()

    page.get_by_role("button", name="Sign out").click()

    expect(page.get_by_label("Workspace key")).to_be_visible()
    assert page.evaluate(STORED_KEY) is None


def test_text_from_the_api_is_shown_as_text_never_run_as_html(page, live_server):
    hostile = '<img src=x onerror="window.injected=1">'
    rename_workspace(live_server, hostile)
    add_connection(live_server, "<b>Books</b>", "xero", ConnectionStatus.live)

    open_pane(page, live_server, live_server.key)

    expect(workspace_heading(page)).to_have_text(hostile)
    expect(page.get_by_role("link", name="<b>Books</b>")).to_be_visible()
    assert page.locator("main img, main b").count() == 0
    assert page.evaluate("window.injected") is None


def test_connections_are_listed_with_provider_and_status(page, live_server):
    add_connection(live_server, "Acme UK", "xero", ConnectionStatus.live)
    add_connection(live_server, "Acme US", "quickbooks", ConnectionStatus.reauth_required)

    open_pane(page, live_server, live_server.key)

    rows = page.get_by_role("list", name="Connections").get_by_role("listitem")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Acme UK")
    expect(rows.nth(0).get_by_text("Live", exact=True)).to_be_visible()
    expect(rows.nth(1)).to_contain_text("Acme US")
    expect(rows.nth(1).get_by_text("Re-auth required", exact=True)).to_be_visible()
    expect(page.get_by_text("No data sources yet.")).to_be_hidden()


def list_requests(page) -> list[str]:
    """The Connections list's requests from here on."""
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url) if "/api/v1/connections?" in request.url else None)
    return asked


def test_opening_the_pane_asks_for_the_list_once(page, live_server):
    add_connection(live_server, "Acme UK", "xero", ConnectionStatus.live)
    asked = list_requests(page)
    open_pane(page, live_server, live_server.key)
    expect(page.get_by_role("list", name="Connections").get_by_role("listitem")).to_have_count(1)
    page.wait_for_load_state("networkidle")

    assert len(asked) == 1, asked

    page.get_by_role("link", name="Log").click()  # the list was loaded a moment ago: the log's filter uses it
    expect(page.get_by_role("heading", name="Integration log")).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert len(asked) == 1, asked


def test_a_page_opened_later_loads_the_list_again(page, live_server):
    add_connection(live_server, "Acme UK", "xero", ConnectionStatus.live)
    page.clock.install()
    open_pane(page, live_server, live_server.key)
    expect(page.get_by_role("list", name="Connections").get_by_role("listitem")).to_have_count(1)
    page.wait_for_load_state("networkidle")
    add_connection(live_server, "Acme US", "quickbooks", ConnectionStatus.live)
    page.clock.fast_forward(5_000)  # past the moment the list counts as fresh, short of the next poll

    page.get_by_role("link", name="Log").click()
    page.get_by_role("link", name="Connections").click()

    expect(page.get_by_role("list", name="Connections").get_by_role("listitem")).to_have_count(2)


def test_add_data_source_lists_the_providers_the_service_offers(page, live_server_with_catalog):
    open_pane(page, live_server_with_catalog, live_server_with_catalog.key)
    expect(page.get_by_text("Choose Add data source to connect Demo company (Xero sandbox) or "
                            "Demo company (QuickBooks sandbox).")).to_be_visible()

    page.get_by_role("button", name="Add data source").click()

    expect(page.get_by_role("radio")).to_have_count(2)
    expect(page.get_by_role("radio", name=re.compile(r"Demo company \(Xero sandbox\) Demo"))).to_be_visible()
    expect(page.get_by_role("radio", name=re.compile(r"Demo company \(QuickBooks sandbox\) Demo"))).to_be_visible()


def test_a_connection_shows_its_provider_by_the_catalog_name(page, live_server_with_catalog):
    add_connection(live_server_with_catalog, "Try-out books", "xero-sandbox", ConnectionStatus.authenticated)

    open_pane(page, live_server_with_catalog, live_server_with_catalog.key)

    rows = page.get_by_role("list", name="Connections").get_by_role("listitem")
    expect(rows.get_by_text("Demo company (Xero sandbox)", exact=True)).to_be_visible()


def test_with_nothing_to_connect_there_is_no_add_button(page, live_server):
    open_pane(page, live_server, live_server.key)  # live_server runs without the sandbox provider
    expect(workspace_heading(page)).to_be_visible()

    expect(page.get_by_role("button", name="Add data source")).to_be_hidden()
    expect(page.get_by_text("This Ledgerpane service has no data sources to connect yet.")).to_be_visible()


def test_an_unreachable_service_shows_a_banner_with_retry(page, live_server):
    page.route("**/api/v1/workspace", lambda route: route.abort("connectionrefused"))
    open_pane(page, live_server, live_server.key)

    banner = page.get_by_role("alert").filter(has=page.get_by_role("button", name="Retry"))
    expect(banner).to_contain_text("can't reach its service")
    page.unroute("**/api/v1/workspace")
    banner.get_by_role("button", name="Retry").click()

    expect(workspace_heading(page)).to_have_text(live_server.workspace_name)
    expect(banner).to_be_hidden()


def test_the_pane_runs_in_browser_mode_without_office(page, live_server):
    open_pane(page, live_server, live_server.key)

    expect(page.locator("html")).to_have_attribute("data-host", "browser")


def test_an_office_cdn_that_never_answers_does_not_hold_the_pane(browser, live_server):
    context = browser.new_context(viewport=PANE)
    context.route(OFFICE_CDN, lambda route: None)  # leave the request hanging, like a black-holed network
    try:
        page = context.new_page()
        # The pending script holds the window's load event (not the pane), so wait for the DOM only.
        page.goto(f"{live_server.url}/taskpane.html#key={live_server.key}", wait_until="domcontentloaded")
        expect(workspace_heading(page)).to_have_text(live_server.workspace_name, timeout=5_000)
        assert page.evaluate("document.documentElement.dataset.host") is None  # still waiting for Office
    finally:
        context.close()


def test_screenshot_of_the_first_screen(page, live_server, tmp_path):
    open_pane(page, live_server, live_server.key)
    expect(workspace_heading(page)).to_be_visible()

    shot = tmp_path / "taskpane.png"
    page.screenshot(path=str(shot))

    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2_000
    assert int.from_bytes(png[16:20], "big") == PANE["width"]
