"""The schedule on the Connections page, in Chromium: the next run in the list, the editor for admins, a
paused schedule's reason and its Resume action."""
from __future__ import annotations

import pytest
import requests
from playwright.sync_api import expect

from server.db.engine import transaction
from server.db.models import Connection
from tests.support.browser import connect_demo, member_key

pytestmark = pytest.mark.browser


def open_details(page, server, key: str, connection_id: int) -> None:
    page.goto(f"{server.url}/taskpane.html#key={key}")
    expect(page.get_by_role("heading", name="Connections")).to_be_visible()
    page.get_by_role("link", name="Acme books").click()
    expect(page.get_by_role("heading", name="Acme books")).to_be_visible()


def schedule(server, connection_id: int) -> dict:
    return requests.get(f"{server.url}/api/v1/connections/{connection_id}/schedule", timeout=30,
                        headers={"Authorization": f"Bearer {server.key}"}).json()


def pause_after_failures(server, connection_id: int) -> str:
    reason = "Paused after 3 scheduled refreshes in a row failed; the last said: the provider did not answer."
    with transaction(server.sessions) as session:
        connection = session.get(Connection, connection_id)
        connection.schedule_paused, connection.schedule_paused_reason, connection.schedule_failures = True, reason, 3
    return reason


def test_the_list_shows_the_schedule_and_the_next_run(page, service_with_provider, sandbox):
    server = service_with_provider
    connect_demo(server, sandbox, "Acme books", companies=1, refresh=False)
    page.goto(f"{server.url}/taskpane.html#key={server.key}")
    row = page.get_by_role("list", name="Connections").get_by_role("listitem").filter(has_text="Acme books")
    expect(row.get_by_text("Daily at 02:00")).to_be_visible()
    expect(row.get_by_text("Next run")).to_be_visible()


def test_an_admin_changes_the_schedule(page, service_with_provider, sandbox):
    server = service_with_provider
    connection_id = connect_demo(server, sandbox, "Acme books", companies=1, refresh=False)
    open_details(page, server, server.key, connection_id)
    editor = page.get_by_role("form", name="Edit schedule")
    editor.get_by_label("Runs").select_option(label="Every few hours")
    editor.get_by_label("How often").select_option(label="Every 6 hours")
    editor.get_by_label("Local time (Europe/London)").fill("01:15")
    editor.get_by_role("button", name="Save schedule").click()
    expect(page.get_by_text("Every 6 hours from 01:15").first).to_be_visible()
    saved = schedule(server, connection_id)
    assert (saved["kind"], saved["time"], saved["every_hours"]) == ("every_n_hours", "01:15", 6)


def test_a_paused_schedule_says_why_and_an_admin_resumes_it(page, service_with_provider, sandbox):
    server = service_with_provider
    connection_id = connect_demo(server, sandbox, "Acme books", companies=1, refresh=False)
    reason = pause_after_failures(server, connection_id)
    open_details(page, server, server.key, connection_id)
    alert = page.get_by_role("alert").filter(has_text=reason)
    expect(alert).to_be_visible()
    alert.get_by_role("button", name="Resume schedule").click()
    expect(page.get_by_text(reason)).to_have_count(0)
    assert schedule(server, connection_id)["paused"] is False


def test_a_member_sees_the_schedule_but_no_editor(page, service_with_provider, sandbox):
    server = service_with_provider
    connection_id = connect_demo(server, sandbox, "Acme books", companies=1, refresh=False)
    reason = pause_after_failures(server, connection_id)
    open_details(page, server, member_key(server), connection_id)
    expect(page.get_by_role("alert").filter(has_text=reason)).to_contain_text("Ask a workspace admin to resume it.")
    expect(page.get_by_role("form", name="Edit schedule")).to_have_count(0)
    expect(page.get_by_role("button", name="Resume schedule")).to_have_count(0)
