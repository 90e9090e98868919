"""The sheets as a real .xlsx, for users outside Excel's task pane: Actuals, Accounts and Dimensions as Excel tables
of those names (numbers as numbers, dates as dates under their formats), and an About sheet with the stamp.

Written with XlsxWriter, the faster of the two writers measured (benchmarks/workbook_build.py: 100,000 Actuals rows
in 32.7 s against openpyxl write-only's 48.2 s). Its price: it keeps a sheet's cells in memory until the file is
saved (its low-memory mode cannot hold a table), about 360 MiB per 100,000 rows, where openpyxl streams.
"""
from __future__ import annotations

import gc
import re
from datetime import datetime
from typing import BinaryIO

import xlsxwriter

from server.workbook.sheets import SHEETS, TITLES, Filters, SheetColumn, Workbook
from server.workbook.stamp import Stamp

STAMP_FORMAT = "yyyy-mm-dd hh:mm:ss"
CHUNK_ROWS = 50_000


def download_name(stamp: Stamp) -> str:
    """`<workspace> <YYYY-MM-DD>.xlsx`, without the characters a file name cannot hold."""
    name = re.sub(r'[\x00-\x1f\x7f"*/:<>?\\|]+', " ", stamp.workspace.name).strip(" .") or "Workbook"
    return f"{name} {stamp.built_at:%Y-%m-%d}.xlsx"


def write_xlsx(workbook: Workbook, stamp: Stamp, target: BinaryIO) -> None:
    _write_book(workbook, stamp, target)
    # XlsxWriter's book and sheets refer to each other, so the cells they held are freed only by a full collection
    # of the cyclic garbage, which a serving process may not run for a long time (its start-up objects are frozen):
    # a gunicorn worker kept 3.6 GiB after one 1,000,000-line download. Collected now, it returns to ~200 MiB.
    gc.collect()


def _write_book(workbook: Workbook, stamp: Stamp, target: BinaryIO) -> None:
    # Text stays text: a description starting with "=" or "http" is not a formula or a link.
    book = xlsxwriter.Workbook(target, {"strings_to_formulas": False, "strings_to_urls": False,
                                        "strings_to_numbers": False, "remove_timezone": True})
    formats = {}

    def number_format(column: SheetColumn):
        if column.format not in formats:
            formats[column.format] = book.add_format({"num_format": column.format})
        return formats[column.format]

    for sheet in SHEETS:
        columns = workbook.columns(sheet)
        worksheet = book.add_worksheet(TITLES[sheet])
        written = 0
        for frame in workbook.chunks(sheet, CHUNK_ROWS):
            for index, column in enumerate(columns):
                values = frame[column.name].astype(object).where(frame[column.name].notna(), None).tolist()
                worksheet.write_column(written + 1, index, values, number_format(column))
            written += len(frame)
        # A table needs a body row: an empty sheet gets one blank row.
        worksheet.add_table(0, 0, max(written, 1), len(columns) - 1, {
            "name": TITLES[sheet], "style": "Table Style Medium 2",
            "columns": [{"header": column.name, "format": number_format(column)} for column in columns]})
        for index, column in enumerate(columns):
            worksheet.set_column(index, index, max(12, min(40, len(column.name) + 4)), number_format(column))
        worksheet.freeze_panes(1, 0)
    _write_about(book, stamp, workbook.filters)
    book.close()


def describe_filters(filters: Filters) -> str:
    """The filters in plain words, so a file passed on says what it leaves out."""
    parts = []
    if filters.entity_ids:
        parts.append("entity ids " + ", ".join(map(str, filters.entity_ids)))
    if filters.period_from or filters.period_to:
        first = f"{filters.period_from:%Y-%m}" if filters.period_from else "the first"
        last = f"{filters.period_to:%Y-%m}" if filters.period_to else "the last"
        parts.append(f"periods {first} to {last}")
    if filters.account_codes:
        parts.append("accounts " + ", ".join(filters.account_codes))
    if filters.member_ids:
        parts.append("dimension member ids " + ", ".join(map(str, filters.member_ids)))
    if filters.summary:
        parts.append("summarised by entity, period, account and dimensions")
    return "; ".join(parts) or "none: every line of the workspace"


def _write_about(book: xlsxwriter.Workbook, stamp: Stamp, filters: Filters) -> None:
    about = book.add_worksheet("About")
    bold = book.add_format({"bold": True})
    moment = book.add_format({"num_format": STAMP_FORMAT, "align": "left"})
    about.set_column(0, 0, 28)
    about.set_column(1, 3, 32)
    about.write_string(0, 0, "Ledgerpane workbook", bold)
    facts: list[tuple[str, str | datetime | None]] = [
        ("Workspace", stamp.workspace.name), ("Base currency", stamp.workspace.base_currency),
        ("Built at (UTC)", stamp.built_at), ("Data as of (UTC)", stamp.data_as_of),
        ("Filters", describe_filters(filters))]
    for row, (label, value) in enumerate(facts, start=2):
        about.write_string(row, 0, label, bold)
        _write_moment_or_text(about, row, 1, value, moment)
    first = len(facts) + 3
    headers = ["Connection", "Provider", "Entities", "Last successful refresh (UTC)"]
    for row, connection in enumerate(stamp.connections, start=first + 1):
        about.write_string(row, 0, connection.name)
        about.write_string(row, 1, connection.provider)
        about.write_string(row, 2, ", ".join(connection.entities))
        _write_moment_or_text(about, row, 3, connection.last_successful_refresh_at, moment)
    about.add_table(first, 0, first + max(len(stamp.connections), 1), len(headers) - 1, {
        "name": "Stamp", "style": "Table Style Light 9", "columns": [{"header": h} for h in headers]})


def _write_moment_or_text(sheet, row: int, column: int, value: str | datetime | None, moment) -> None:
    if isinstance(value, datetime):
        sheet.write_datetime(row, column, value, moment)  # the workbook option drops the (UTC) zone
    elif value is None:
        sheet.write_string(row, column, "never")
    else:
        sheet.write_string(row, column, value)
