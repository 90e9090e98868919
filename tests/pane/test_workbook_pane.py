"""Load into workbook, end to end: the task pane in Chromium, believing it runs in Excel (the Office.js stand-in),
against the whole service and a workspace refreshed from the sandbox provider over HTTP. The tables it writes equal
what the API serves; a new refresh makes the pane warn, and reloading fills the same tables again. In a plain
browser the screen offers the .xlsx download instead."""
from __future__ import annotations

import io
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from openpyxl import load_workbook
from playwright.sync_api import expect
from sqlalchemy import select

from server.db.models import Account, Workspace
from tests.support.browser import check_screen, connect_demo
from tests.support.database import add_company
from tests.support.office import REQUEST_LIMIT_BYTES, ExcelWorkbook, excel_pane
from tests.support.waiting import wait_until

pytestmark = pytest.mark.browser

LOAD_DEADLINE_MS = 90_000  # a load on a busy 2-core machine, not a speed requirement

SHEETS = ("Actuals", "Accounts", "Dimensions")


def api_get(server, path: str, **params) -> dict:
    response = requests.get(server.url + path, params=params, timeout=60,
                            headers={"Authorization": f"Bearer {server.key}"})
    assert response.ok, response.text
    return response.json()


def every_row(server, href: str) -> tuple[list[dict], list[list]]:
    """A sheet's columns and all its rows, page by page, as the API serves them."""
    page = api_get(server, href, offset=0)
    columns, rows = page["columns"], list(page["rows"])
    while page["next_offset"] is not None:
        page = api_get(server, href, offset=page["next_offset"])
        rows.extend(page["rows"])
    return columns, rows


def open_workbook_screen(page, server) -> None:
    page.goto(f"{server.url}/taskpane.html#key={server.key}")
    expect(page.get_by_role("heading", name="Connections")).to_be_visible()
    page.get_by_role("link", name="Load into workbook…").click()
    expect(page.get_by_role("heading", name="Workbook")).to_be_focused()


def load_by_keyboard(page) -> None:
    """From the screen's heading, Tab to Load into workbook and press Enter, as a keyboard user does."""
    load = page.get_by_role("button", name="Load into workbook")
    expect(load).to_be_visible()
    for _ in range(10):
        if load.evaluate("button => button === document.activeElement"):
            break
        page.keyboard.press("Tab")
    expect(load).to_be_focused()
    page.keyboard.press("Enter")


def loaded(page):
    return page.locator("#view").get_by_role("status").filter(has_text="Loaded Actuals")


def assert_tables_equal_the_api(book: ExcelWorkbook, server) -> None:
    overview = api_get(server, "/api/v1/workbook")
    tables = book.tables()
    for sheet in overview["sheets"]:
        columns, rows = every_row(server, sheet["href"])
        body = book.body(sheet["table"])
        assert body["header"] == [column["name"] for column in columns], sheet["name"]
        assert tables[sheet["table"]]["rows"] == max(1, len(rows)), sheet["name"]
        if not rows:
            continue
        # Text stays text ("0100" is not 100), amounts are numbers, dates are the serials the API sent.
        assert body["values"] == rows, f"{sheet['name']} differs from the API"
        assert body["formats"] == [[column["format"] for column in columns]] * len(rows), sheet["name"]


def test_a_load_writes_the_workspace_into_excel_tables_and_a_new_refresh_asks_for_a_reload(browser,
                                                                                        service_with_provider,
                                                                                        sandbox):
    server = service_with_provider
    connection_id = connect_demo(server, sandbox, "Acme books", companies=1)
    with excel_pane(browser, timeout_ms=30_000) as page:
        book = ExcelWorkbook(page)
        open_workbook_screen(page, server)
        expect(page.get_by_text("Nothing is loaded into this workbook yet.")).to_be_visible()
        check_screen(page, server.url, "workbook-excel")

        load_by_keyboard(page)
        expect(loaded(page)).to_be_visible(timeout=LOAD_DEADLINE_MS)
        assert_tables_equal_the_api(book, server)
        requests_sent = book.requests()
        assert max(request["bytes"] for request in requests_sent) <= REQUEST_LIMIT_BYTES
        row_writes = [r["calls"] for r in requests_sent if "resize" in r["calls"] and "values" in r["calls"]]
        assert row_writes and all("suspendApiCalculationUntilNextSync" in calls
                                  and "suspendScreenUpdatingUntilNextSync" in calls for calls in row_writes)
        first = {name: table["identity"] for name, table in book.tables().items()}

        overview = api_get(server, "/api/v1/workbook")
        remembered = book.settings()["ledgerpane.workbook"]
        assert remembered["data_as_of"] == overview["data_as_of"]
        assert remembered["workspace"] == overview["workspace"]["name"]
        stamp = book.cell("Actuals", "A1")
        assert stamp.startswith(f"Ledgerpane: {overview['workspace']['name']} · data as of ")
        expect(page.get_by_text("This workbook holds data from")).to_be_visible()

        # A new refresh: the workspace's data is newer than the workbook's, and the pane says so.
        requests.post(f"{server.url}/api/v1/connections/{connection_id}/refresh", json={}, timeout=30,
                      headers={"Authorization": f"Bearer {server.key}"}).raise_for_status()
        wait_until(lambda: api_get(server, "/api/v1/workbook")["data_as_of"] != overview["data_as_of"], deadline=120,
                   message="the second refresh did not succeed", interval=0.2)
        page.get_by_role("navigation", name="Pages").get_by_role("link", name="Connections").click()
        page.get_by_role("link", name="Load into workbook…").click()
        warning = page.get_by_role("alert").filter(has_text="The workspace has newer data")
        expect(warning).to_be_visible()
        check_screen(page, server.url, "workbook-stale")

        warning.get_by_role("button", name="Reload into workbook").click()
        expect(loaded(page)).to_be_visible(timeout=LOAD_DEADLINE_MS)
        expect(warning).to_have_count(0)
        assert {name: table["identity"] for name, table in book.tables().items()} == first, "tables were replaced"
        assert book.settings()["ledgerpane.workbook"]["data_as_of"] == api_get(server, "/api/v1/workbook")["data_as_of"]
        assert_tables_equal_the_api(book, server)


def test_the_filters_reach_the_requests_and_the_tables(browser, service_with_provider, sandbox):
    server = service_with_provider
    connect_demo(server, sandbox, "Acme books", companies=2)
    entity = api_get(server, "/api/v1/workbook/filters")["entities"][1]
    expected = api_get(server, "/api/v1/workbook/actuals", entity=entity["id"], summary="true")
    asked: list[dict] = []
    with excel_pane(browser, timeout_ms=30_000) as page:
        page.on("request", lambda request: asked.append(parse_qs(urlsplit(request.url).query))
                if "/api/v1/workbook/actuals" in request.url else None)
        book = ExcelWorkbook(page)
        open_workbook_screen(page, server)
        filters = page.get_by_role("group", name="What to load")
        filters.get_by_role("button", name="Entities: all").click()
        filters.get_by_role("group", name="Entities").get_by_role("checkbox", name=entity["name"]).check()
        expect(filters.get_by_role("button", name="Entities: 1 of 2")).to_have_attribute("aria-expanded", "true")
        filters.get_by_role("radio", name="Summarised by period, account and dimensions").check()
        expect(page.get_by_text(f"Actuals: {expected['total_rows']:,} rows")).to_be_visible()
        check_screen(page, server.url, "workbook-filters")

        page.get_by_role("button", name="Load into workbook").click()
        expect(loaded(page)).to_be_visible(timeout=LOAD_DEADLINE_MS)
        assert asked and all(query["entity"] == [str(entity["id"])] and query["summary"] == ["true"]
                             for query in asked), asked
        body = book.body("Actuals")
        assert body["header"] == [column["name"] for column in expected["columns"]]
        assert body["values"] == expected["rows"] and {row[0] for row in body["values"]} == {entity["name"]}


def test_in_a_plain_browser_the_screen_offers_the_xlsx_download(page, live_server):
    server = live_server
    seen: list = []
    page.on("request", lambda request: seen.append(request) if "/workbook.xlsx" in request.url else None)
    open_workbook_screen(page, server)
    expect(page.get_by_text("Loading into a workbook needs Excel")).to_be_visible()
    expect(page.get_by_role("button", name="Load into workbook")).to_have_count(0)
    check_screen(page, server.url, "workbook-browser")

    with page.expect_download() as download:
        page.get_by_role("button", name="Download .xlsx").click()
    content = download.value.path().read_bytes()
    assert seen and all(server.key not in request.url for request in seen)
    assert seen[0].headers["authorization"] == f"Bearer {server.key}"
    tables = {name for sheet in load_workbook(io.BytesIO(content)).worksheets for name in sheet.tables}
    assert set(SHEETS) <= tables
    expect(page.get_by_role("status").filter(has_text="Ledgerpane.xlsx is downloaded.")).to_be_visible()


def test_a_choice_too_long_to_send_is_refused_in_words(page, live_server):
    # Every one of 600 accounts ticked makes an address of about 9,600 characters: past what the production server
    # takes (8,190 bytes a request line). The pane says so instead of showing the server's bare HTTP 414.
    with live_server.sessions.begin() as session:
        workspace = session.scalar(select(Workspace))
        entity = add_company(session, workspace.id, "Big Co")
        session.add_all(Account(workspace_id=workspace.id, connection_id=entity.connection_id, entity_id=entity.id,
                                source_account_id=f"a{n}", code=f"{100000 + n}", name=f"Account {n}",
                                account_type="EXPENSE", account_class="expense") for n in range(600))
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url) if "/api/v1/workbook" in request.url else None)
    open_workbook_screen(page, live_server)
    filters = page.get_by_role("group", name="What to load")
    filters.get_by_role("button", name="Accounts: all").click()
    boxes = filters.get_by_role("group", name="Accounts").get_by_role("checkbox")
    expect(boxes).to_have_count(600)
    boxes.evaluate_all("boxes => { for (const box of boxes) box.checked = true; "
                       "boxes[0].dispatchEvent(new Event('change', { bubbles: true })); }")
    expect(filters.get_by_role("button", name="Accounts: 600 of 600")).to_be_visible()

    expect(page.get_by_role("alert").filter(has_text="Too many choices to send in one request")).to_be_visible()
    page.get_by_role("button", name="Download .xlsx").click()
    expect(page.get_by_role("alert").filter(has_text="Too many choices to send in one request")).to_have_count(2)
    check_screen(page, live_server.url, "workbook-too-many-choices")
    assert all(len(url) < 8100 for url in asked), [len(url) for url in asked]
