"""Mapping in the task pane, in Chromium against the whole service and the sandbox provider over HTTP: the add-source
wizard's mapping step (proposal, preview, Finish placing the lines), the editor on a connection's details, the
"source changed: review mapping" notice after a new option appears at the provider, and a member's read-only view."""
from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect
from sqlalchemy import select

from server.db.models import Dimension, LedgerLine
from tests.support.browser import check_screen, connect_demo, member_key
from tests.support.waiting import wait_until

pytestmark = pytest.mark.browser

DEMO = "Demo company (Xero sandbox)"


class Api:
    """The service's API as the tests check it, with the admin's key."""

    def __init__(self, server):
        self.url = server.url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {server.key}"

    def call(self, method: str, path: str, body=None, expect: int = 200) -> dict:
        response = self.session.request(method, self.url + path, json=body, timeout=60)
        assert response.status_code == expect, response.text
        return response.json()

    def dimension(self, name: str, members: list[tuple[str, str]] = ()) -> dict:
        made = self.call("POST", "/api/v1/dimensions", {"name": name}, expect=201)
        for member, code in members:
            self.call("POST", f"/api/v1/dimensions/{made['id']}/members", {"name": member, "code": code}, expect=201)
        return self.call("GET", f"/api/v1/dimensions/{made['id']}")

    def mapping(self, connection_id: int) -> dict:
        return self.call("GET", f"/api/v1/connections/{connection_id}/mapping")

    def refresh_until_done(self, connection_id: int) -> None:
        run_id = self.call("POST", f"/api/v1/connections/{connection_id}/refresh", {}, expect=202)["run_id"]
        wait_until(lambda: self.call("GET", f"/api/v1/runs/{run_id}")["status"] not in ("queued", "running"),
                   deadline=120, message="the refresh did not end", interval=0.2)


def member_id(dimension: dict, name: str) -> int:
    return next(m["id"] for m in dimension["members"] if m["name"] == name)


def lines_placed(server, dimension_id: int, provider_dimension: dict, option_name: str,
                 required: bool = True) -> set[int | None]:
    """The workspace members (in the dimension's slot) of every loaded line tagged with this provider member
    (`required`: at least one line is)."""
    option = next(m for m in provider_dimension["members"] if m["name"] == option_name)
    tag = f"{provider_dimension['source_id']}={option['source_id']}"
    with server.sessions() as session:
        position = session.get(Dimension, dimension_id).position
        slot = getattr(LedgerLine, f"dim{position}_member_id")
        rows = session.execute(select(LedgerLine.source_dimensions, slot).where(
            LedgerLine.entity_id == provider_dimension["entity_id"])).all()
    placed = [member for text, member in rows if tag in text.split(";")]
    assert placed or not required, f"no loaded line carries {option_name}"
    return set(placed)


def saved_stays_put(api: Api, connection_id: int) -> dict:
    """The saved mapping previewed again: nothing would move, so the lines are where it says."""
    saved = [{**plan, "members": [{"provider_member_id": row["provider_member_id"], "member_id": row["member_id"]}
                                  for row in plan["members"]]} for plan in api.mapping(connection_id)["mapping"]]
    answer = api.call("POST", f"/api/v1/connections/{connection_id}/mapping/preview", {"dimensions": saved})
    assert answer["lines_moving"] == 0
    return answer


def open_pane(page, server, key: str | None = None) -> None:
    page.goto(f"{server.url}/taskpane.html#key={key or server.key}")
    expect(page.get_by_role("heading", name="Connections")).to_be_visible()


def walk_to_companies(page) -> None:
    page.get_by_role("button", name="Add data source").click()
    page.get_by_role("radio", name=re.compile(re.escape(DEMO))).check()
    page.get_by_role("button", name="Next").click()
    with page.expect_popup() as opened:
        page.get_by_role("button", name=f"Sign in to {DEMO}").click()
    opened.value.get_by_role("button", name="Allow access").click()
    expect(page.get_by_role("heading", name="Choose companies and ledgers")).to_be_visible()


def group(page, name: str):
    return page.get_by_role("region", name=name, exact=True)


def open_details(page, name: str) -> None:
    page.get_by_role("link", name=name).click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()


def test_the_wizard_proposes_previews_and_finish_places_the_lines(page, service_with_provider):
    server = service_with_provider
    api = Api(server)
    region = api.dimension("Region", [("London", ""), ("North West", "Manchester")])
    open_pane(page, server)
    walk_to_companies(page)
    expect(page.get_by_text("Step 3 of 5", exact=True)).to_be_visible()
    page.get_by_role("button", name="Next").click()

    expect(page.get_by_role("heading", name="Map dimensions")).to_be_focused()
    regions = group(page, "Region")
    expect(regions.get_by_label("Lands on workspace dimension")).to_have_value(str(region["id"]), timeout=60_000)
    expect(regions).to_contain_text("In Demo Company (AU), Demo Company (UK), Demo Company (US)")
    expect(regions.get_by_label("London", exact=True)).to_have_value(f"m:{member_id(region, 'London')}")
    expect(regions.get_by_label("Manchester", exact=True)).to_have_value(f"m:{member_id(region, 'North West')}")
    expect(regions.get_by_label("Sydney", exact=True)).to_have_value("")  # no match: the rule places it

    departments = group(page, "Department")
    expect(departments.get_by_label("Lands on workspace dimension")).to_have_value("")
    departments.get_by_role("button", name="Create workspace dimension Department").click()
    expect(departments.get_by_label("Lands on workspace dimension")).not_to_have_value("")
    expect(departments.get_by_label("Finance", exact=True)).to_have_value("create")

    table = page.get_by_role("region", name="Region: the latest 3 periods")
    expect(table).to_be_visible()
    expect(table.get_by_role("row", name=re.compile("^Unmapped"))).to_have_class("is-unmapped")
    expect(table.get_by_role("rowheader", name="London")).to_be_visible()
    share = page.get_by_role("paragraph").filter(has_text=re.compile(r"^Unmapped: \d+% of lines"))
    expect(share.first).to_contain_text("(now 100%)")
    check_screen(page, server.url, "wizard-mapping")

    page.get_by_role("button", name="Next").click()
    expect(page.get_by_text("Finish saves the mapping")).to_be_visible()
    page.get_by_role("button", name="Finish").click()

    expect(page.get_by_role("status").filter(has_text="mapping saved")).to_contain_text(
        re.compile(r"[\d,]+ loaded lines moved\. New members: "))
    connection_id = api.call("GET", "/api/v1/connections")["items"][0]["id"]
    saved_stays_put(api, connection_id)
    uk_region = next(d for d in api.mapping(connection_id)["provider_dimensions"]
                     if d["name"] == "Region" and d["entity"] == "Demo Company (UK)")
    assert lines_placed(server, region["id"], uk_region, "London") == {member_id(region, "London")}
    assert lines_placed(server, region["id"], uk_region, "Manchester") == {member_id(region, "North West")}
    department = next(d for d in api.call("GET", "/api/v1/dimensions")["items"] if d["name"] == "Department")
    us_department = next(d for d in api.mapping(connection_id)["provider_dimensions"]
                         if d["name"] == "Department" and d["entity"] == "Demo Company (US)")
    assert lines_placed(server, department["id"], us_department, "Finance") == {member_id(department, "Finance")}


def test_a_member_adding_a_source_is_told_an_admin_maps_later(page, service_with_provider):
    open_pane(page, service_with_provider, key=member_key(service_with_provider))
    walk_to_companies(page)
    expect(page.get_by_text("Step 3 of 4", exact=True)).to_be_visible()
    page.get_by_role("button", name="Next").click()

    expect(page.get_by_role("heading", name="Finish")).to_be_visible()
    expect(page.get_by_text("An admin can map this source's dimensions onto the workspace's later")).to_be_visible()
    page.get_by_role("button", name="Finish").click()
    expect(page.get_by_text("the first refresh has started")).to_be_visible()


@pytest.fixture
def books(service_with_provider, sandbox):
    """One Live demo source, "Acme books" (its first company), and the workspace's "Region" with "North"."""
    server = service_with_provider
    connection_id = connect_demo(server, sandbox, "Acme books", companies=1)
    api = Api(server)
    region = api.dimension("Region", [("North", "")])
    provider_region = next(d for d in api.mapping(connection_id)["provider_dimensions"] if d["name"] == "Region")
    return server, api, connection_id, region, provider_region


def test_editing_the_mapping_on_details_moves_the_lines(page, books):
    server, api, connection_id, region, provider_region = books
    first = provider_region["members"][0]["name"]
    open_pane(page, server)
    open_details(page, "Acme books")
    mapping = page.get_by_role("region", name="Mapping", exact=True)
    expect(mapping).to_contain_text("2 provider dimensions are not mapped")
    mapping.get_by_role("button", name="Edit mapping").click()

    expect(page.get_by_role("heading", name="Mapping: Acme books")).to_be_focused()
    regions = group(page, "Region")
    regions.get_by_label("Lands on workspace dimension").select_option(label="Region")
    regions.get_by_label(first, exact=True).select_option(label="North")
    table = page.get_by_role("region", name="Region: the latest 3 periods")
    expect(table.get_by_role("rowheader", name="North")).to_be_visible()
    unmapped_row = table.get_by_role("row", name=re.compile("^Unmapped"))
    lines_shown = unmapped_row.inner_text()
    page.get_by_label("Show").select_option(label="Amount (base currency)")
    expect(unmapped_row).not_to_have_text(lines_shown)
    check_screen(page, server.url, "mapping-editor")
    page.get_by_role("button", name="Save mapping").click()

    expect(page.get_by_role("heading", name="Acme books")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Acme books: mapping saved")).to_contain_text(
        re.compile(r"[\d,]+ loaded lines? moved"))
    saved_stays_put(api, connection_id)
    assert lines_placed(server, region["id"], provider_region, first) == {member_id(region, "North")}
    others = {m["name"] for m in provider_region["members"]} - {first}
    unmapped = member_id(region, "Unmapped")
    assert all(lines_placed(server, region["id"], provider_region, name, required=False) <= {unmapped}
               for name in others)
    expect(mapping).to_contain_text("1 provider dimension is not mapped")


def add_option_and_use_it(sandbox, tenant_id: str, name: str) -> None:
    sandbox.admin("POST", f"/admin/tenants/{tenant_id}/tracking-categories/Region/options", {"name": name},
                  expect=201)
    sandbox.admin("POST", f"/admin/tenants/{tenant_id}/journals", {
        "date": "2025-02-28", "lines": [
            {"accountCode": "429", "netAmount": "80.00", "tracking": [{"category": "Region", "option": name}]},
            {"accountCode": "800", "netAmount": "-80.00"}]}, expect=201)


def test_a_new_option_at_the_source_asks_for_review_and_review_takes_it_in(page, books, sandbox):
    server, api, connection_id, region, provider_region = books
    plan = [{"provider_dimension_id": provider_region["id"], "dimension_id": region["id"]}]
    api.call("PUT", f"/api/v1/connections/{connection_id}/mapping", {"dimensions": plan})
    tenant = next(e for e in api.call("GET", f"/api/v1/connections/{connection_id}/entities")["items"]
                  if e["selected"])["provider_entity_id"]
    add_option_and_use_it(sandbox, tenant, "Hobart")
    api.refresh_until_done(connection_id)

    open_pane(page, server)
    open_details(page, "Acme books")
    mapping = page.get_by_role("region", name="Mapping", exact=True)
    notice = mapping.get_by_role("alert")
    expect(notice).to_contain_text("Source changed: review mapping.")
    expect(notice).to_contain_text("new member of Region Hobart")
    expect(mapping.get_by_text(re.compile(r"provider members land on Unmapped: .*Hobart"))).to_be_visible()
    check_screen(page, server.url, "details-mapping")

    notice.get_by_role("button", name="Review mapping").click()
    expect(page.get_by_role("heading", name="Mapping: Acme books")).to_be_visible()
    hobart = group(page, "Region").get_by_label("Hobart", exact=True)
    expect(hobart).to_have_value("")
    hobart.select_option(label="Create new")
    expect(page.get_by_role("region", name="Region: the latest 3 periods").get_by_role(
        "rowheader", name="Hobart (new)")).to_be_visible()
    page.get_by_role("button", name="Save mapping").click()

    expect(page.get_by_role("status").filter(has_text="mapping saved")).to_contain_text("New members: Hobart")
    expect(mapping.get_by_text("Source changed")).to_have_count(0)
    hobart_member = member_id(api.call("GET", f"/api/v1/dimensions/{region['id']}"), "Hobart")
    provider_region = next(d for d in api.mapping(connection_id)["provider_dimensions"] if d["name"] == "Region")
    assert lines_placed(server, region["id"], provider_region, "Hobart") == {hobart_member}

    mapping.get_by_role("link", name="Recent mapping changes").click()
    changes = page.get_by_role("list", name="Recent mapping changes").get_by_role("listitem")
    expect(changes).to_have_count(2)
    expect(changes.first).to_contain_text("Mapping of Acme books saved by")
    expect(changes.first).to_contain_text(re.compile(r"· \d{1,2} \w{3} \d{4}"))  # when
    check_screen(page, server.url, "mapping-changes")


def test_a_member_sees_the_mapping_read_only(page, books):
    server, api, connection_id, region, provider_region = books
    first = provider_region["members"][0]
    api.call("PUT", f"/api/v1/connections/{connection_id}/mapping", {"dimensions": [
        {"provider_dimension_id": provider_region["id"], "dimension_id": region["id"],
         "members": [{"provider_member_id": first["id"], "member_id": member_id(region, "North")}]}]})
    open_pane(page, server, key=member_key(server))
    open_details(page, "Acme books")
    page.get_by_role("region", name="Mapping", exact=True).get_by_role("button", name="View mapping").click()

    expect(page.get_by_role("heading", name="Mapping: Acme books")).to_be_visible()
    regions = page.get_by_role("region", name="Region", exact=True)
    expect(regions).to_contain_text("Lands on Region.")
    expect(regions.get_by_role("listitem").filter(has_text=first["name"])).to_have_text(f"{first['name']}: North")
    expect(page.get_by_text("Only a workspace admin can change the mapping.")).to_be_visible()
    expect(page.locator("#view").get_by_role("combobox")).to_have_count(0)
    expect(page.get_by_role("button", name="Save mapping")).to_have_count(0)
    check_screen(page, server.url, "mapping-readonly")


def test_account_rules_are_edited_previewed_and_saved(page, books):
    server, api, connection_id, region, provider_region = books
    open_pane(page, server)
    open_details(page, "Acme books")
    page.get_by_role("region", name="Mapping", exact=True).get_by_role("button", name="Edit mapping").click()
    expect(page.get_by_role("heading", name="Mapping: Acme books")).to_be_focused()

    accounts = group(page, "Accounts")
    expect(accounts.get_by_label("Accounts no row or rule maps land on")).to_have_value("mirror")
    accounts.get_by_role("button", name="Add a code rule").click()
    expect(accounts.get_by_label("Rule 1: first code")).to_be_focused()
    accounts.get_by_label("Rule 1: first code").fill("400")
    accounts.get_by_label("Rule 1: last code").fill("499")
    accounts.get_by_label("Rule 1: lands on workspace account").fill("6000 Overheads")
    table = page.get_by_role("region", name="Accounts: the latest 3 periods")
    expect(table.get_by_role("rowheader", name="6000 Overheads (new)")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^[\d,]+ loaded lines? would change account\."))).to_be_visible()
    check_screen(page, server.url, "mapping-accounts")
    page.get_by_role("button", name="Save mapping").click()

    expect(page.get_by_role("status").filter(has_text="Acme books: mapping saved")).to_contain_text(
        re.compile(r"[\d,]+ accounts? re-mapped"))
    seen = api.mapping(connection_id)
    overheads = next(a["id"] for a in seen["workspace_accounts"] if (a["code"], a["name"]) == ("6000", "Overheads"))
    assert seen["account_mapping"]["rules"] == [{"kind": "range", "code_from": "400", "code_to": "499",
                                                 "workspace_account_id": overheads}]
    placed = {a["code"]: a["workspace_account_id"] for a in seen["accounts"]}
    assert placed["429"] == placed["404"] == overheads and placed["800"] != overheads
