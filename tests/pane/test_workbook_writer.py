"""Load into workbook at a size a test workspace does not hold: 10,000 synthetic lines (the workbook API's shape,
routed in the page) whose long descriptions make more than one 5 MB request's worth, written through the Office.js
stand-in. Requests stay under Excel on the web's limit; a reload resizes the same tables in place (smaller, then
larger); Cancel stops after the current request and leaves a consistent table; Insert template adds a template's
sheets."""
from __future__ import annotations

import base64
import io

import pytest
import requests
from openpyxl import load_workbook
from playwright.sync_api import expect

from tests.support.office import REQUEST_LIMIT_BYTES, ExcelWorkbook, SyntheticWorkbook, excel_pane, synthetic_line
from tests.support.waiting import wait_until

pytestmark = pytest.mark.browser

LOAD_DEADLINE_MS = 90_000  # a load on a busy 2-core machine, not a speed requirement

LINES = 10_000
DESCRIPTION_CHARS = 350  # 10,000 such lines are about 5.6 MB of cells and formats: more than one request takes


@pytest.fixture
def excel(browser, live_server):
    """The pane "in Excel" against the live service, with the workbook endpoints answered by a synthetic ledger."""
    with excel_pane(browser, timeout_ms=30_000) as page:
        ledger = SyntheticWorkbook(LINES, DESCRIPTION_CHARS)
        ledger.serve(page)
        page.goto(f"{live_server.url}/taskpane.html#key={live_server.key}")
        page.get_by_role("link", name="Load into workbook…").click()
        expect(page.get_by_role("heading", name="Workbook")).to_be_visible()
        yield page, ledger, ExcelWorkbook(page)


def load(page) -> None:
    page.get_by_role("button", name="Load into workbook").click()


def loaded(page):
    return page.locator("#view").get_by_role("status").filter(has_text="Loaded Actuals")


def expected_lines(ledger: SyntheticWorkbook) -> list[list]:
    return [synthetic_line(i, ledger.description_chars, ledger.generation) for i in range(ledger.lines)]


def row_requests(book: ExcelWorkbook) -> list[dict]:
    return [r for r in book.requests() if "resize" in r["calls"] and "values" in r["calls"]]


def test_ten_thousand_lines_go_in_requests_under_5_mb_and_a_reload_resizes_the_same_tables(excel):
    page, ledger, book = excel
    load(page)
    expect(loaded(page)).to_be_visible(timeout=LOAD_DEADLINE_MS)
    body = book.body("Actuals")
    # "0042" and "=Zürich" stay text; serial dates and amounts stay numbers.
    assert body["values"] == expected_lines(ledger)
    assert body["formats"][0] == ["@", "mmm yyyy", "yyyy-mm-dd", "@", "@", "@", "General", "#,##0.00", "@",
                                  "#,##0.00", "@"]
    actuals = [r for r in row_requests(book) if r["bytes"] > 100_000]
    assert len(actuals) >= 2, "10,000 long lines should not fit in one request"
    assert book.largest_request() <= REQUEST_LIMIT_BYTES
    assert all(r["ok"] for r in book.requests())
    identity = book.tables()["Actuals"]["identity"]
    assert book.cell("Actuals", "A1").startswith("Ledgerpane: Acme Holdings · data as of 30 Nov 2026")

    # Fewer lines after a refresh: the same table shrinks, and nothing of the old rows is left below it.
    ledger.lines, ledger.generation, ledger.data_as_of = 3_000, 1, "2026-11-30T07:00:00Z"
    load(page)
    expect(loaded(page)).to_contain_text("Actuals (3,000 rows)", timeout=LOAD_DEADLINE_MS)
    tables = book.tables()
    assert tables["Actuals"]["identity"] == identity and tables["Actuals"]["address"] == "Actuals!A3:K3003"
    assert book.cells_below("Actuals", 7_000) == [[""] * 11] * 7_000
    # What =SUM(Actuals[Amount]) reads: the table it was written against, now holding the new amounts.
    assert book.column_by_identity(identity, "Amount") == [line[7] for line in expected_lines(ledger)]

    # More lines: the same table grows.
    ledger.lines, ledger.generation = 4_000, 2
    load(page)
    expect(loaded(page)).to_contain_text("Actuals (4,000 rows)", timeout=LOAD_DEADLINE_MS)
    assert book.tables()["Actuals"]["identity"] == identity
    assert book.body("Actuals")["values"] == expected_lines(ledger)
    assert sorted(book.tables()) == ["Accounts", "Actuals", "Dimensions"]


def test_cancel_stops_after_the_current_request_and_leaves_a_consistent_table(excel):
    page, ledger, book = excel
    book.hold("resize")  # the first request that writes rows waits: Cancel comes while it is under way
    load(page)
    wait_until(lambda: row_requests(book), deadline=30, message="no rows were sent to Excel")
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("button", name="Stopping…")).to_be_disabled()
    book.release()

    stopped = page.locator("#view").get_by_role("status").filter(has_text="Stopped: Actuals holds")
    expect(stopped).to_contain_text("of 10,000 rows. Its table is consistent up to there", timeout=LOAD_DEADLINE_MS)
    written = book.tables()["Actuals"]["rows"]
    assert 0 < written < LINES
    assert book.body("Actuals")["values"] == expected_lines(ledger)[:written]
    assert "Accounts" not in book.tables(), "a cancelled load goes no further"
    assert f"stopped after {written:,} of 10,000 rows" in book.cell("Actuals", "A1")
    assert book.settings()["ledgerpane.workbook"]["sheets"]["Actuals"] == {"rows": written, "total": LINES,
                                                                         "complete": False}
    expect(page.get_by_role("alert").filter(has_text="stopped before the end")).to_be_visible()
    expect(page.get_by_role("button", name="Load into workbook", exact=True)).to_be_focused()


def test_the_stand_in_refuses_a_request_over_5_mb_as_excel_on_the_web_does(excel):
    page, _, book = excel
    refused = page.evaluate("""async () => {
        try {
            await Excel.run(async (context) => {
                const sheet = context.workbook.worksheets.add("Big");
                sheet.getRangeByIndexes(0, 0, 6000, 1).values = Array.from({length: 6000}, () => ["x".repeat(1000)]);
                await context.sync();
            });
            return null;
        } catch (error) {
            return error.code;
        }
    }""")
    assert refused == "RequestPayloadSizeLimitExceeded"
    assert "Big" not in book.sheet_names(), "a refused request changes nothing"


def test_insert_template_adds_the_template_sheets_to_the_workbook(excel, live_server):
    """Against the service's own templates: Excel gets the report sheet only, not the template's sample Actuals
    table (which would sit beside the user's loaded one)."""
    page, _, book = excel
    headers = {"Authorization": f"Bearer {live_server.key}"}
    template = requests.get(f"{live_server.url}/api/v1/workbook/templates", headers=headers,
                            timeout=30).json()["templates"][0]
    content = requests.get(live_server.url + template["href"], headers=headers, timeout=30).content
    assert template["sheet"] in load_workbook(io.BytesIO(content)).sheetnames

    page.get_by_role("button", name=f"Insert template: {template['title']}").click()
    expect(page.get_by_role("status").filter(has_text=f"{template['title']} is inserted")).to_be_visible()
    assert book.inserted_sheets() == [template["sheet"]]
    inserting = [r for r in book.requests() if "insertWorksheetsFromBase64" in r["calls"]]
    assert len(inserting) == 1 and inserting[0]["bytes"] > len(base64.b64encode(content))
