"""Load into workbook from the task pane, through the Office.js stand-in, at 10,000 and 1,000,000 lines (issue 16).

    .venv/bin/python -m benchmarks.workbook_pane [--lines 10000,1000000] [--description-chars 24]

The pane runs in Chromium (headless, Debian's) as in Excel on the web, with office.js replaced by
tests/support/office_standin.js, which records every request (each context.sync) with its serialised size. The
workbook API is a synthetic one of the server contract's shape (tests/support/office.py), answered by Playwright in
the same process, 50,000 lines a page, so what is measured is the pane: fetching pages, cutting them into
byte-bounded requests, writing the tables.

Printed per size: the whole load's time and per 100,000 lines, the requests and the largest (Excel on the web's
limit is 5 MB), and, for scale on this machine in the same run, the floor: the same pages fetched and serialised
once as JSON in the same page with no workbook writes (what any load must at least spend).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.live import serving
from tests.support.office import REQUEST_LIMIT_BYTES, ExcelWorkbook, SyntheticWorkbook, excel_pane

FLOOR = """async (pages) => {
    const started = performance.now();
    let bytes = 0;
    for (const href of pages) {
        const answer = await (await fetch(href, {headers: {Authorization: "Bearer x"}})).json();
        bytes += JSON.stringify(answer.rows).length;
    }
    return {ms: performance.now() - started, bytes};
}"""


def measure(browser, server, lines: int, description_chars: int) -> dict:
    ledger = SyntheticWorkbook(lines, description_chars)
    with excel_pane(browser, timeout_ms=3_600_000) as page:
        ledger.serve(page)
        page.goto(f"{server.url}/taskpane.html#key={server.key}")
        page.get_by_role("link", name="Load into workbook…").click()
        button = page.get_by_role("button", name="Load into workbook")
        expect(button).to_be_visible()
        started = time.perf_counter()
        button.click()
        expect(page.locator("#view").get_by_role("status").filter(has_text="Loaded Actuals")).to_be_visible(
            timeout=3_600_000)
        seconds = time.perf_counter() - started
        book = ExcelWorkbook(page)
        sent = book.requests()
        rows = book.tables()["Actuals"]["rows"]
        book.clear_requests()
        pages = [f"/api/v1/workbook/actuals?offset={offset}&limit=50000" for offset in range(0, lines, 50_000)]
        floor = page.evaluate(FLOOR, pages)
    return {"lines": lines, "rows": rows, "seconds": seconds, "requests": len(sent),
            "largest": max(r["bytes"] for r in sent), "refused": sum(not r["ok"] for r in sent),
            "floor_seconds": floor["ms"] / 1000, "cell_bytes": floor["bytes"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", default="10000,1000000")
    parser.add_argument("--description-chars", type=int, default=24)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory, serving(Path(directory)) as server, \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=[*CHROMIUM_ARGS, "--js-flags=--max-old-space-size=8192"])
        print(f"{'lines':>10} {'load s':>8} {'s/100k':>7} {'requests':>8} {'largest MB':>10} {'refused':>7} "
              f"{'floor s':>8} {'load/floor':>10} {'cells MB':>8}")
        for lines in (int(n) for n in arguments.lines.split(",")):
            result = measure(browser, server, lines, arguments.description_chars)
            assert result["rows"] == lines, result
            print(f"{lines:>10,} {result['seconds']:>8.1f} {result['seconds'] / lines * 100_000:>7.2f} "
                  f"{result['requests']:>8} {result['largest'] / 2**20:>10.2f} {result['refused']:>7} "
                  f"{result['floor_seconds']:>8.1f} {result['seconds'] / result['floor_seconds']:>10.1f} "
                  f"{result['cell_bytes'] / 2**20:>8.1f}", flush=True)
        print(f"Excel on the web's limit: {REQUEST_LIMIT_BYTES / 2**20:.0f} MB a request; the pane aims at 4 MB.")
        browser.close()


if __name__ == "__main__":
    main()
