"""The consent dialog in a real browser: our start link, the provider's consent page, and the callback
page telling the window that opened it the outcome, on our exact origin and without any token."""
from __future__ import annotations

import json

import pytest
import requests
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def start_link(server) -> tuple[int, str]:
    answer = requests.post(f"{server.url}/api/v1/connections", json={"provider": "xero-sandbox"}, timeout=10,
                           headers={"Authorization": f"Bearer {server.key}"}).json()
    return answer["connection"]["id"], server.url + answer["authorize_url"]


def test_the_dialog_reports_a_connected_source_to_the_pane(page, service_with_provider):
    server = service_with_provider
    connection_id, link = start_link(server)
    with page.expect_popup() as opened:
        open_dialog(page, server, link)
    dialog = opened.value
    dialog.get_by_role("button", name="Allow access").click()
    dialog.wait_for_url(f"{server.url}/oauth/callback/xero-sandbox*")
    expect(page.locator("body")).to_have_attribute("data-told", "yes")  # the page's CSP forbids eval polling
    outcome = page.evaluate("window.outcome")
    assert outcome["origin"] == server.url
    assert outcome["data"] == {"source": "ledgerpane", "kind": "oauth-result", "outcome": "connected",
                               "connection_id": connection_id, "message": "We found 3 companies. Choose which "
                                                                          "to bring in."}
    assert "access_token" not in str(outcome) and "code=" not in str(outcome)


def test_the_dialog_reports_a_declined_consent(page, service_with_provider):
    server = service_with_provider
    connection_id, link = start_link(server)
    with page.expect_popup() as opened:
        open_dialog(page, server, link)
    opened.value.get_by_role("button", name="Cancel").click()
    expect(page.locator("body")).to_have_attribute("data-told", "yes")  # the page's CSP forbids eval polling
    data = page.evaluate("window.outcome.data")
    assert (data["outcome"], data["connection_id"]) == ("refused", connection_id)
    assert "declined" in data["message"]


def open_dialog(page, server, link: str) -> None:
    page.goto(f"{server.url}/help.html")
    page.evaluate("""link => {
        window.outcome = null;
        window.addEventListener("message", event => {
            window.outcome = {origin: event.origin, data: event.data};
            document.body.dataset.told = "yes";
        });
        window.open(link, "consent");
    }""", link)


def test_inside_office_the_dialog_messages_its_parent(page, service_with_provider):
    """As an Office dialog, with office.js present, the outcome goes through messageParent as JSON."""
    server = service_with_provider
    connection_id, link = start_link(server)
    page.context.add_init_script("""
        window.Office = {
            onReady: function (callback) { setTimeout(callback, 0); },
            context: {ui: {messageParent: function (message) {
                window.sentToParent = message;
                document.body.dataset.told = "yes";
            }}},
        };
    """)
    page.goto(link)
    page.get_by_role("button", name="Allow access").click()
    expect(page.locator("body")).to_have_attribute("data-told", "yes")
    message = json.loads(page.evaluate("window.sentToParent"))
    assert (message["outcome"], message["connection_id"]) == ("connected", connection_id)
