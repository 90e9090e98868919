"""The Connections page as a finance user meets it, in Chromium at Excel's width, against the whole service
and the sandbox provider over HTTP: add the demo source, consent, choose companies, watch it refresh."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from server.db.engine import transaction
from server.db.models import Connection, Workspace
from tests.support.browser import screenshot

pytestmark = pytest.mark.browser

DEMO = "Demo company (Xero sandbox)"


def open_pane(page, server) -> None:
    page.goto(f"{server.url}/taskpane.html#key={server.key}")
    expect(page.get_by_role("heading", name="Connections")).to_be_visible()


def start_wizard_to_consent(page) -> None:
    page.get_by_role("button", name="Add data source").click()
    expect(page.get_by_role("heading", name="Choose a data source")).to_be_focused()
    page.get_by_role("radio", name=re.compile(re.escape(DEMO))).check()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name=f"Sign in to {DEMO}")).to_be_visible()


def consent(page, decision: str = "Allow access"):
    with page.expect_popup() as opened:
        page.get_by_role("button", name=re.compile(f"Sign in to {re.escape(DEMO)}|Try again")).click()
    popup = opened.value
    popup.get_by_role("button", name=decision).click()
    return popup


def rows(page):
    return page.get_by_role("list", name="Connections").get_by_role("listitem")


def test_the_whole_wizard_to_a_live_source(page, service_with_provider, sandbox):
    tenant = sandbox.tenants()[0]["tenantId"]
    sandbox.admin("POST", f"/admin/tenants/{tenant}/faults", {"kind": "slow", "delay": 3, "count": 1}, expect=201)
    open_pane(page, service_with_provider)
    expect(page.get_by_text("No data sources yet.")).to_be_visible()

    start_wizard_to_consent(page)
    expect(page.get_by_text("Step 2 of 5", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Next")).to_be_disabled()
    consent(page)

    expect(page.get_by_role("heading", name="Choose companies and ledgers")).to_be_focused()
    boxes = page.get_by_role("group", name="Companies and ledgers to bring in").get_by_role("checkbox")
    expect(boxes).to_have_count(3)
    for box in boxes.all():
        expect(box).to_be_checked()
    boxes.nth(2).uncheck()
    page.get_by_role("button", name="Next").click()

    # The mapping step reads the companies first (the initial refresh, shown as it goes), then maps.
    expect(page.get_by_role("heading", name="Map dimensions")).to_be_visible()
    expect(page.get_by_role("progressbar", name=f"Reading {DEMO}")).to_be_visible()
    expect(page.get_by_label("Lands on workspace dimension").first).to_have_value("", timeout=60_000)
    page.get_by_role("button", name="Next").click()

    expect(page.get_by_role("heading", name="Finish")).to_be_visible()
    expect(page.get_by_text("Nothing is mapped yet: lines land on Unmapped")).to_be_visible()
    page.get_by_role("button", name="Finish").click()

    expect(page.get_by_text("the first refresh is under way or done")).to_be_visible()
    row = rows(page).filter(has_text=DEMO)
    expect(row).to_have_count(1)
    expect(row.get_by_text("Live", exact=True)).to_be_visible(timeout=60_000)  # no reload
    expect(row.get_by_text(re.compile(r"Last refresh: Succeeded"))).to_be_visible()
    expect(row.get_by_text("Active")).to_be_visible()
    expect(row.get_by_text("Daily at 02:00")).to_be_visible()  # the default overnight schedule


def test_a_declined_consent_says_so_and_offers_to_try_again(page, service_with_provider):
    open_pane(page, service_with_provider)
    start_wizard_to_consent(page)

    consent(page, decision="Cancel")

    expect(page.get_by_role("alert")).to_contain_text(f"You declined access at {DEMO}, so nothing was connected.")
    expect(page.get_by_role("button", name="Try again")).to_be_focused()
    expect(page.get_by_role("button", name="Next")).to_be_disabled()
    consent(page)  # and trying again works
    expect(page.get_by_role("heading", name="Choose companies and ledgers")).to_be_visible()


def test_a_closed_sign_in_window_says_so_and_offers_to_try_again(page, service_with_provider):
    open_pane(page, service_with_provider)
    start_wizard_to_consent(page)

    with page.expect_popup() as opened:
        page.get_by_role("button", name=f"Sign in to {DEMO}").click()
    opened.value.get_by_role("button", name="Allow access").wait_for()
    opened.value.close()

    expect(page.get_by_role("alert")).to_contain_text("The sign-in window was closed before you finished")
    expect(page.get_by_role("button", name="Try again")).to_be_visible()


def test_a_blocked_popup_says_how_to_allow_it(page, service_with_provider):
    page.add_init_script("window.open = () => null;")  # what a popup blocker does to the page
    open_pane(page, service_with_provider)
    start_wizard_to_consent(page)

    page.get_by_role("button", name=f"Sign in to {DEMO}").click()

    expect(page.get_by_role("alert")).to_contain_text("Your browser blocked the sign-in window. Allow pop-ups")
    expect(page.get_by_role("button", name="Try again")).to_be_visible()


def test_a_long_list_shows_25_sources_then_more_on_request(page, service_with_provider):
    with transaction(service_with_provider.sessions) as session:
        workspace = session.scalar(select(Workspace))
        session.add_all(Connection(workspace_id=workspace.id, provider="xero-sandbox", name=f"Group company {n:02d}",
                                   status="live") for n in range(1, 31))
    open_pane(page, service_with_provider)
    expect(rows(page)).to_have_count(25)
    expect(page.get_by_text("Showing 25 of 30 connections")).to_be_visible()
    page.get_by_role("button", name="Show 5 more").scroll_into_view_if_needed()
    screenshot(page, "list-show-more-light")
    page.emulate_media(color_scheme="dark")
    screenshot(page, "list-show-more-dark")
    page.emulate_media(color_scheme="light")

    page.get_by_role("button", name="Show 5 more").click()
    expect(rows(page)).to_have_count(30)
    expect(page.get_by_role("link", name="Group company 26")).to_be_focused()  # the first row the click brought in
    expect(page.get_by_text("30 connections", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name=re.compile(r"^Show \d+ more$"))).to_be_hidden()

    page.get_by_label("Search").fill("group company 1")  # a new search starts short again
    expect(rows(page)).to_have_count(10)
    page.get_by_label("Search").fill("group")
    expect(rows(page)).to_have_count(25)
    expect(page.get_by_role("button", name="Show 5 more")).to_be_visible()
