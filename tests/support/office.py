"""The task pane inside "Excel": Chromium with the Office.js stand-in (office_standin.js) served in place of
Microsoft's office.js, the workbook it writes read back from the page, and a synthetic workbook API (the
contract's shape, any number of lines) for sizes a test workspace cannot hold."""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.browser import OFFICE_CDN, PANE

STANDIN = Path(__file__).with_name("office_standin.js")
REQUEST_LIMIT_BYTES = 5 * 1024 * 1024  # Excel on the web (research/wave2.md 3)


@contextmanager
def excel_pane(browser, timeout_ms: int = 10_000) -> Iterator[Any]:
    """A page of its own context where office.js is the stand-in, so the pane runs as in Excel on the web.
    Fails on any uncaught script error, as the `page` fixture does."""
    context = browser.new_context(viewport=PANE)
    script = STANDIN.read_text(encoding="utf-8")
    context.route(OFFICE_CDN, lambda route: route.fulfill(status=200, content_type="text/javascript", body=script))
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(timeout_ms)
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"uncaught script errors in the task pane: {errors}"


class ExcelWorkbook:
    """What the stand-in's workbook holds, read through the page."""

    def __init__(self, page) -> None:
        self.page = page

    def _call(self, name: str, *args: Any) -> Any:
        # As one JSON string: Playwright's own serialisation of a large array of arrays takes seconds.
        answer = self.page.evaluate(f"(args) => JSON.stringify(officeStandin.{name}(...args) ?? null)", list(args))
        return json.loads(answer)

    def tables(self) -> dict[str, dict]:
        return {table["name"]: table for table in self._call("tables")}

    def body(self, table: str) -> dict:
        """{"header": [...], "values": [[...]], "formats": [[...]]} of the table's body."""
        return self._call("tableBody", table)

    def column_by_identity(self, identity: int, header: str) -> list | None:
        return self._call("columnByIdentity", identity, header)

    def cell(self, sheet: str, address: str) -> Any:
        return self._call("cellText", sheet, address)

    def cells_below(self, table: str, rows: int) -> list[list]:
        return self._call("cellsBelow", table, rows)

    def requests(self) -> list[dict]:
        return self._call("requests")

    def largest_request(self) -> int:
        return self._call("largestRequest")

    def clear_requests(self) -> None:
        self._call("clearRequests")

    def settings(self) -> dict:
        return self._call("settings")

    def sheet_names(self) -> list[str]:
        return self._call("sheetNames")

    def inserted_sheets(self) -> list[str]:
        return self._call("insertedSheets")

    def hold(self, call: str | None = None) -> None:
        """Requests that make `call` (all, without one) wait until `release()`."""
        self._call("hold", call)

    def release(self) -> None:
        self._call("release")


# ---- a synthetic workbook API, of the server contract's shape ----------------------------------------------

ACTUALS_COLUMNS = [
    {"name": "Entity", "type": "text", "format": "@"},
    {"name": "Period", "type": "date", "format": "mmm yyyy"},
    {"name": "Date", "type": "date", "format": "yyyy-mm-dd"},
    {"name": "Account Code", "type": "text", "format": "@"},
    {"name": "Account Name", "type": "text", "format": "@"},
    {"name": "Description", "type": "text", "format": "@"},
    {"name": "Region", "type": "text", "format": "General"},  # text in a General column: Excel would convert it
    {"name": "Amount", "type": "number", "format": "#,##0.00"},
    {"name": "Transaction Currency", "type": "text", "format": "@"},
    {"name": "Transaction Amount", "type": "number", "format": "#,##0.00"},
    {"name": "Data Source", "type": "text", "format": "@"},
]
ACCOUNTS_COLUMNS = [{"name": "Entity", "type": "text", "format": "@"},
                    {"name": "Account Code", "type": "text", "format": "@"},
                    {"name": "Account Name", "type": "text", "format": "@"}]
DIMENSIONS_COLUMNS = [{"name": "Dimension", "type": "text", "format": "@"},
                      {"name": "Member", "type": "text", "format": "@"}]
REGIONS = ["North", "0042", "=Zürich", "Unmapped"]  # read by Excel as a number and a formula, unless kept as text


def synthetic_line(index: int, description_chars: int = 24, generation: int = 0) -> list:
    """Line `index` of a synthetic ledger: the same every time for the same arguments."""
    month = index % 24
    serial = 45658 + month * 30 + index % 28  # days in 2025-2026
    amount = round(((index * 7919) % 200_000 - 100_000) / 100 + generation, 2)
    return [f"Entity {index % 3 + 1}", 45658 + month * 30, serial, f"{index % 150:04d}",
            f"Account {index % 150} – sales & “fees”", f"Line {index} ".ljust(description_chars, "x"),
            REGIONS[index % 4], amount, "EUR" if index % 5 else "USD", round(amount * 1.1, 2), "Acme books"]


class SyntheticWorkbook:
    """Answers GET /api/v1/workbook and its sheets from `lines` synthetic lines; change `lines`,
    `data_as_of` or `generation` between loads to play a new refresh."""

    def __init__(self, lines: int, description_chars: int = 24, data_as_of: str = "2026-11-30T06:00:00Z") -> None:
        self.lines, self.description_chars, self.data_as_of, self.generation = (lines, description_chars,
                                                                                data_as_of, 0)
        self.pages_served = 0

    def rows(self, sheet: str, offset: int, limit: int) -> list[list]:
        if sheet == "actuals":
            end = min(self.lines, offset + limit)
            return [synthetic_line(i, self.description_chars, self.generation) for i in range(offset, end)]
        if sheet == "accounts":
            every = [[f"Entity {e}", f"{a:04d}", f"Account {a} – sales & “fees”"]
                     for e in (1, 2, 3) for a in range(150)]
        else:
            every = [["Region", region] for region in REGIONS]
        return every[offset:offset + limit]

    def total(self, sheet: str) -> int:
        return {"actuals": self.lines, "accounts": 450, "dimensions": len(REGIONS)}[sheet]

    def overview(self) -> dict:
        return {"workspace": {"name": "Acme Holdings"}, "built_at": self.data_as_of, "data_as_of": self.data_as_of,
                "connections": [],
                "sheets": [{"name": name.title(), "table": name.title(), "href": f"/api/v1/workbook/{name}",
                            "rows": self.total(name)} for name in ("actuals", "accounts", "dimensions")]}

    def page(self, sheet: str, offset: int, limit: int) -> dict:
        columns = {"actuals": ACTUALS_COLUMNS, "accounts": ACCOUNTS_COLUMNS, "dimensions": DIMENSIONS_COLUMNS}[sheet]
        rows = self.rows(sheet, offset, limit)
        end = offset + len(rows)
        self.pages_served += 1
        return {"sheet": sheet.title(), "table": sheet.title(), "columns": columns, "rows": rows, "offset": offset,
                "next_offset": end if end < self.total(sheet) else None, "total_rows": self.total(sheet),
                "built_at": self.data_as_of, "data_as_of": self.data_as_of}

    def serve(self, page_or_context) -> None:
        """Route the workbook endpoints (not the templates) of `page_or_context` to this synthetic workspace."""
        def answer(route) -> None:
            url = urlsplit(route.request.url)
            query = {name: values[0] for name, values in parse_qs(url.query).items()}
            name = url.path.rstrip("/").rsplit("/", 1)[-1]
            if url.path == "/api/v1/workbook":
                body = self.overview()
            elif name in ("actuals", "accounts", "dimensions"):
                body = self.page(name, int(query.get("offset", 0)), int(query.get("limit", 50_000)))
            else:
                route.fallback()
                return
            route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

        page_or_context.route("**/api/v1/workbook**", answer)
