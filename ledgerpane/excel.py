"""The sheets into an Excel workbook through xlwings: each as an Excel table of its name (Actuals, Accounts,
Dimensions) on a worksheet of that name, replaced in place when it exists, so formulas that read it keep working.
The same code serves desktop Excel (xlwings' open-source engine) and xlwings Server's remote book.

A frame may carry its columns' Excel number formats in `frame.attrs["formats"]` (the client puts them there): dates
then travel as serial day numbers under a date format, which every engine writes as a real date.
"""
from __future__ import annotations

import sys
from typing import Any

import pandas as pd

DESKTOP_EXCEL_PLATFORMS = ("win32", "darwin")
NEEDS_DESKTOP_EXCEL = ("Writing into an open workbook needs desktop Excel on Windows or macOS; on this computer, "
                       "download the sheets as an .xlsx (GET /api/v1/workbook.xlsx) or read them with "
                       "ledgerpane.client instead.")


def has_desktop_excel() -> bool:
    return sys.platform in DESKTOP_EXCEL_PLATFORMS


def write_sheets(book: Any, frames: dict[str, pd.DataFrame]) -> None:
    """Write each frame as the table named after its sheet: resized in place if the table is there, else written
    at A1 of a worksheet of that name (added at the end if missing) and made a table."""
    for name, frame in frames.items():
        sheet = next((s for s in book.sheets if s.name == name), None)
        if sheet is None:
            sheet = book.sheets.add(name=name, after=book.sheets[len(book.sheets) - 1])
        table = next((t for t in sheet.tables if t.name == name), None)
        origin = sheet["A1"] if table is None else table.range[0, 0]
        # formats before values: under "@" a code such as 090 stays text instead of becoming the number 90
        for position, column in enumerate(frame.columns):
            number_format = frame.attrs.get("formats", {}).get(column)
            if number_format and len(frame):
                sheet.range((origin.row + 1, origin.column + position),
                            (origin.row + len(frame), origin.column + position)).number_format = number_format
        if table is None:
            # written first, then made a table: xlwings' remote engine drops the header of a table it just added
            origin.options(index=False).value = frame
            sheet.tables.add(source=origin.resize(max(len(frame), 1) + 1, len(frame.columns)), name=name)
        else:
            table.update(frame, index=False)


def open_book(path: str) -> Any:
    """The workbook open in desktop Excel (or opened there)."""
    import xlwings  # imported here: it needs Excel only once a book is opened

    return xlwings.Book(path)
