"""The Connections page with sources already connected: the play button, the log and its endpoints, details,
disconnect and delete, search and sort, roles, narrow panes, the dark scheme and an accessibility scan."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser import PANE, connect_demo, fits_sideways, member_key, screenshot, serious_violations

pytestmark = pytest.mark.browser



@pytest.fixture
def live_source(service_with_provider, sandbox):
    """The served workspace with one Live demo source, "Acme UK", refreshed once with two companies."""
    connect_demo(service_with_provider, sandbox, "Acme UK", companies=2)
    return service_with_provider


def open_pane(page, server, key: str | None = None, path: str = "") -> None:
    page.goto(f"{server.url}/taskpane.html#key={key or server.key}")
    expect(page.get_by_role("heading", name="Connections")).to_be_visible()
    if path:
        page.evaluate("path => { location.hash = path; }", path)


def row(page, name: str):
    return page.get_by_role("list", name="Connections").get_by_role("listitem").filter(
        has=page.get_by_role("link", name=name))


def test_the_play_button_shows_progress_then_the_outcome(page, live_source, sandbox):
    tenant = sandbox.tenants()[0]["tenantId"]
    sandbox.admin("POST", f"/admin/tenants/{tenant}/faults", {"kind": "slow", "delay": 3, "count": 1}, expect=201)
    open_pane(page, live_source)
    source = row(page, "Acme UK")

    source.get_by_role("button", name="Refresh Acme UK").click()

    expect(source.get_by_role("progressbar", name="Refreshing Acme UK")).to_be_visible()
    progress = re.compile(r"Refreshing: \d+ pages?, [\d,]+ rows? read|Waiting to start")
    expect(source.get_by_text(progress)).to_be_visible()
    screenshot(page, "list-refreshing-light")
    expect(source.get_by_text(re.compile(r"Last refresh: Succeeded"))).to_be_visible(timeout=60_000)
    expect(source.get_by_role("progressbar")).to_have_count(0)


def test_a_log_event_shows_its_endpoints_on_hover_and_on_focus(page, live_source):
    open_pane(page, live_source)
    page.get_by_role("link", name="Log", exact=True).click()

    events = page.get_by_role("list", name="Integration log events").get_by_role("listitem")
    journals = events.filter(has_text="Journals: Acme UK").first
    expect(journals).to_contain_text("rows retrieved")
    tip = journals.get_by_role("tooltip")
    expect(tip).to_be_hidden()

    journals.hover()
    expect(tip).to_be_visible()
    expect(tip).to_contain_text(re.compile(r"GET /\S*Journals · status 200"))
    assert "access_token" not in tip.inner_text() and "?" not in tip.get_by_role("code").first.inner_text()
    screenshot(page, "log-endpoint-light")

    page.mouse.move(0, 0)
    expect(tip).to_be_hidden()
    journals.focus()
    expect(tip).to_be_visible()
    expect(journals).to_have_accessible_description(re.compile("Provider endpoints"))


def test_the_log_filters_by_data_type(page, live_source):
    open_pane(page, live_source, path="/log")
    page.get_by_label("Data type").select_option(label="Accounts")

    events = page.get_by_role("list", name="Integration log events").get_by_role("listitem")
    expect(events.first).to_contain_text("Accounts: Acme UK")
    # Retried until the filtered answer has replaced the whole list (the first event is an Accounts one either way).
    expect(events.filter(has_not_text=re.compile(r"^Accounts: "))).to_have_count(0)


def test_details_then_disconnect_after_a_confirmation(page, live_source):
    open_pane(page, live_source)
    row(page, "Acme UK").get_by_role("link", name="Acme UK").click()

    expect(page.get_by_role("heading", name="Acme UK")).to_be_visible()
    expect(page.get_by_text("Companies and ledgers")).to_be_visible()
    expect(page.get_by_text(re.compile(r"Demo Company \(\w+\): selected"))).to_have_count(2)
    expect(page.get_by_text(re.compile(r": not selected"))).to_have_count(1)
    expect(page.get_by_role("heading", name="Recent runs")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Succeeded"))).to_be_visible()
    screenshot(page, "details-light")

    page.get_by_role("button", name="More actions for Acme UK").click()
    page.get_by_role("menuitem", name="Disconnect…").click()
    dialog = page.get_by_role("dialog", name="Disconnect Acme UK?")
    expect(dialog).to_contain_text("stops refreshing Acme UK and signs out of it at the provider; your data stays")
    screenshot(page, "confirm-disconnect-light")
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.get_by_text("Live", exact=True)).to_be_visible()

    page.get_by_role("button", name="More actions for Acme UK").click()
    page.get_by_role("menuitem", name="Disconnect…").click()
    page.get_by_role("dialog").get_by_role("button", name="Disconnect").click()

    expect(page.get_by_text("Disconnected", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Refresh Acme UK")).to_have_count(0)


def test_delete_after_a_confirmation_removes_the_row(page, live_source):
    open_pane(page, live_source)
    row(page, "Acme UK").get_by_role("button", name="More actions for Acme UK").click()
    page.get_by_role("menuitem", name="Delete…").click()
    dialog = page.get_by_role("dialog", name="Delete Acme UK?")
    expect(dialog).to_contain_text("removes the connection and its sign-in at the provider; your loaded data stays")

    dialog.get_by_role("button", name="Delete").click()

    expect(page.get_by_role("status").filter(has_text="Acme UK is deleted; your loaded data stays")).to_be_visible()
    expect(page.get_by_text("No data sources yet.")).to_be_visible()


def test_search_and_sort(page, live_source, sandbox):
    connect_demo(live_source, sandbox, "Zeta group", companies=1, refresh=False)
    open_pane(page, live_source)
    names = page.get_by_role("list", name="Connections").get_by_role("link")
    expect(names).to_have_text(["Acme UK", "Zeta group"])

    page.get_by_role("button", name="Descending").click()
    expect(names).to_have_text(["Zeta group", "Acme UK"])
    page.get_by_label("Sort by").select_option(label="Records (30 days)")
    expect(names).to_have_text(["Acme UK", "Zeta group"])

    page.get_by_label("Search").fill("zeta")
    expect(names).to_have_text(["Zeta group"])
    page.get_by_label("Search").fill("Demo Company (AU)")  # a company's name finds its connections
    expect(names).to_have_count(2)
    page.get_by_label("Search").fill("nothing like it")
    expect(page.get_by_text("No connection matches “nothing like it”.")).to_be_visible()


def test_a_member_sees_no_admin_actions(page, live_source):
    open_pane(page, live_source, key=member_key(live_source))
    source = row(page, "Acme UK")
    expect(page.get_by_text("Europe/London · GBP · Member")).to_be_visible()
    expect(source.get_by_role("button", name="Refresh Acme UK")).to_be_visible()

    source.get_by_role("button", name="More actions for Acme UK").click()
    expect(page.get_by_role("menuitem")).to_have_text(["Sync accounts", "Edit companies"])
    expect(page.get_by_role("button", name="Add data source")).to_be_visible()


def test_an_open_menu_stays_open_while_the_list_polls(page, live_source):
    # Chromium blurs a focused element that leaves the page, even for a moment, and the menu closes on that blur;
    # the poll must therefore leave unchanged rows where they are (a full run once failed on this).
    page.clock.install()
    open_pane(page, live_source)
    # The fake clock also runs each request's deadline (AbortSignal.timeout), so a load still in flight when
    # the clock jumps 25 s is aborted, and the next poll is then 20 real seconds away (CI failed on this once,
    # when the list view loaded the list a second time as it opened). Start from a quiet network.
    page.wait_for_load_state("networkidle")
    row(page, "Acme UK").get_by_role("button", name="More actions for Acme UK").click()
    expect(page.get_by_role("menuitem", name="Sync accounts")).to_be_focused()

    with page.expect_response(lambda answer: "/api/v1/connections?" in answer.url):
        page.clock.run_for(25_000)  # past the idle poll

    expect(page.get_by_role("menu", name="More actions for Acme UK")).to_be_visible()
    expect(page.get_by_role("menuitem", name="Sync accounts")).to_be_focused()


def test_an_admin_sees_every_action(page, live_source):
    open_pane(page, live_source)
    row(page, "Acme UK").get_by_role("button", name="More actions for Acme UK").click()
    expect(page.get_by_role("menuitem")).to_have_text(
        ["Sync accounts", "Edit companies", "Reconnect", "Disconnect…", "Delete…"])


def test_companies_already_chosen_stay_chosen_on_a_second_consent(page, live_source):
    open_pane(page, live_source, path="/connections/1")
    page.get_by_role("button", name="More actions for Acme UK").click()
    page.get_by_role("menuitem", name="Reconnect").click()
    expect(page.get_by_role("heading", name="Reconnect Acme UK")).to_be_visible()

    with page.expect_popup() as opened:
        page.get_by_role("button", name=re.compile("Sign in to")).click()
    opened.value.get_by_role("button", name="Allow access").click()

    boxes = page.get_by_role("group", name="Companies and ledgers to bring in").get_by_role("checkbox")
    expect(boxes).to_have_count(3)
    expect(boxes.nth(0)).to_be_checked()
    expect(boxes.nth(1)).to_be_checked()
    expect(boxes.nth(2)).not_to_be_checked()


SCREENS = {"list": "", "details": "/connections/1", "log": "/log", "add": "/add",
           "companies": "/connections/1/companies"}


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_screen_fits_320px_reads_well_and_passes_axe(browser, live_source, scheme):
    context = browser.new_context(viewport={"width": 320, "height": PANE["height"]}, color_scheme=scheme)
    context.route("https://appsforoffice.microsoft.com/**", lambda route: route.abort("internetdisconnected"))
    page = context.new_page()
    try:
        open_pane(page, live_source)
        background = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
        assert background == ("rgb(41, 41, 41)" if scheme == "dark" else "rgb(255, 255, 255)")
        for name, path in SCREENS.items():
            page.evaluate("path => { location.hash = path || '/connections'; }", path)
            expect(page.get_by_role("heading", level=2).first).to_be_visible()
            expect(page.get_by_text("Loading…")).to_have_count(0)
            assert fits_sideways(page), f"{name} scrolls sideways at 320 px"
            violations = serious_violations(page, live_source.url)
            assert violations == [], f"{name} ({scheme}): {violations}"
            page.set_viewport_size({"width": PANE["width"], "height": PANE["height"]})
            screenshot(page, f"{name}-{scheme}")
            page.set_viewport_size({"width": 320, "height": PANE["height"]})
    finally:
        context.close()


def test_keyboard_alone_opens_details_and_refreshes(page, live_source):
    open_pane(page, live_source)
    page.get_by_role("link", name="Acme UK").press("Enter")
    expect(page.get_by_role("heading", name="Acme UK")).to_be_focused(timeout=10_000)

    refresh = page.get_by_role("button", name="Refresh Acme UK")
    for _ in range(12):
        page.keyboard.press("Tab")
        if refresh.evaluate("b => b === document.activeElement"):
            break
    expect(refresh).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_text(re.compile(r"Last refresh: Succeeded"))).to_be_visible(timeout=60_000)

    page.keyboard.press("Escape")
    expect(page.get_by_role("heading", name="Connections")).to_be_visible()
