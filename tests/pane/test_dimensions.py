"""The Dimensions screen in Chromium, against the whole service and the sandbox provider over HTTP: an admin adds,
renames, orders and deletes the workspace's dimensions (the deletion saying first what happens to loaded lines);
a member reads them."""
from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from tests.support.browser import check_screen, connect_demo, member_key

pytestmark = pytest.mark.browser


def api(server, method: str, path: str, body=None) -> dict:
    response = requests.request(method, server.url + path, json=body, timeout=60,
                                headers={"Authorization": f"Bearer {server.key}"})
    assert response.ok, response.text
    return response.json()


def names(server) -> list[str]:
    return [d["name"] for d in api(server, "GET", "/api/v1/dimensions")["items"]]


def open_dimensions(page, server, key: str | None = None) -> None:
    page.goto(f"{server.url}/taskpane.html#key={key or server.key}")
    expect(page.get_by_role("heading", name="Connections")).to_be_visible()
    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Dimensions").click()
    expect(page.get_by_role("heading", name="Dimensions", exact=True)).to_be_visible()


def add(page, name: str) -> None:
    page.get_by_label("New dimension").fill(name)
    page.get_by_role("button", name="Add dimension").click()
    expect(page.get_by_role("status").filter(has_text=f"{name} added")).to_be_visible()


def card(page, name: str):
    return page.get_by_role("list", name="Workspace dimensions").get_by_role("listitem").filter(
        has=page.get_by_role("heading", name=name, exact=True))


def test_an_admin_adds_renames_orders_and_deletes_dimensions(page, service_with_provider, sandbox):
    server = service_with_provider
    connection_id = connect_demo(server, sandbox, "Acme books", companies=1)
    open_dimensions(page, server)
    expect(page.get_by_text("No dimension yet.")).to_be_visible()
    expect(page.get_by_role("link", name="Dimensions")).to_have_attribute("aria-current", "page")

    add(page, "Region")
    add(page, "Department")
    assert names(server) == ["Region", "Department"]

    department = card(page, "Department")
    department.get_by_label("Name", exact=True).fill("Cost centre")
    department.get_by_role("button", name="Rename").click()
    expect(page.get_by_role("status").filter(has_text="Department is now called Cost centre.")).to_be_visible()
    card(page, "Cost centre").get_by_role("button", name="Move up: Cost centre").click()
    headings = page.get_by_role("list", name="Workspace dimensions").get_by_role("heading")
    expect(headings).to_have_text(["Cost centre", "Region"])
    assert names(server) == ["Cost centre", "Region"]
    expect(page.get_by_role("button", name="Move down: Cost centre")).to_be_focused()

    card(page, "Region").get_by_label("New member").fill("Everywhere")
    card(page, "Region").get_by_role("button", name="Add member").click()
    expect(card(page, "Region")).to_contain_text("1 member: Everywhere, and Unmapped.")
    check_screen(page, server.url, "dimensions")

    region = next(d for d in api(server, "GET", "/api/v1/dimensions")["items"] if d["name"] == "Region")
    everywhere = next(m["id"] for m in region["members"] if m["name"] == "Everywhere")
    provider_region = next(d for d in api(server, "GET", f"/api/v1/connections/{connection_id}/mapping")
                           ["provider_dimensions"] if d["name"] == "Region")
    saved = api(server, "PUT", f"/api/v1/connections/{connection_id}/mapping", {"dimensions": [
        {"provider_dimension_id": provider_region["id"], "dimension_id": region["id"], "new_members": "member",
         "new_members_member_id": everywhere}]})
    assert saved["lines_moved"] > 0

    card(page, "Region").get_by_role("button", name="Delete Region…").click()
    dialog = page.get_by_role("dialog", name="Delete Region?")
    expect(dialog).to_contain_text("Lines already loaded keep their amounts, accounts and periods but lose their "
                                   "Region")
    check_screen(page, server.url, "dimensions-delete")
    dialog.get_by_role("button", name="Cancel").click()
    assert names(server) == ["Cost centre", "Region"]

    card(page, "Region").get_by_role("button", name="Delete Region…").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status").filter(has_text="Region is deleted")).to_contain_text(
        re.compile(r"[\d,]+ loaded lines no longer carry it"))
    assert names(server) == ["Cost centre"]
    expect(headings).to_have_text(["Cost centre"])


def test_a_member_reads_dimensions_without_changing_them(page, service_with_provider):
    server = service_with_provider
    api(server, "POST", "/api/v1/dimensions", {"name": "Region"})
    open_dimensions(page, server, key=member_key(server))

    expect(card(page, "Region")).to_contain_text("Only its Unmapped member so far.")
    expect(page.get_by_text("Only a workspace admin can change dimensions.")).to_be_visible()
    expect(page.locator("#view").get_by_role("textbox")).to_have_count(0)
    expect(page.locator("#view").get_by_role("button")).to_have_count(0)
    check_screen(page, server.url, "dimensions-member")
