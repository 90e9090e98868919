"""The load for teams already running xlwings Server scripts: xlwings' Office.js client posts the book
(`runPython(url)`), we write the sheets into it as Excel tables (Actuals, Accounts, Dimensions, replaced in place)
and answer the actions its client replays (`book.json()`).

Registered only when XLWINGS_LICENSE_KEY is set: xlwings' remote engine is licence-gated (the free `noncommercial`
key is for non-commercial use only; commercial use needs a paid licence). The task pane's own load needs none.
"""
from __future__ import annotations

from typing import Any

import pandas as pd
from flask import request
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, ConfigDict, Field

from ledgerpane.excel import write_sheets
from server.errors import ApiError
from server.web.common import BEARER, ERRORS, ErrorOut
from server.web.workbook import SheetFilters, open_workbook
from server.workbook.sheets import SHEETS, TITLES, Workbook

LICENSE_KEY_VARIABLE = "XLWINGS_LICENSE_KEY"
MAX_ROWS = 100_000  # every cell travels in one JSON answer: past this, the pane's chunked load is the way

bp = APIBlueprint("xlwings_server", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="Workbook")],
                  abp_security=BEARER, abp_responses=ERRORS)


class TableIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    range_address: str
    data_body_range_address: str | None = None
    header_row_range_address: str | None = None


class SheetIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    values: list[list[Any]]
    tables: list[TableIn] = []
    pictures: list[Any] = []


class BookInfo(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    active_sheet_index: int = Field(ge=0)
    selection: str | None = None


class BookIn(BaseModel):
    """What xlwings' Office.js client posts (xlwingsjs `runPython`)."""

    model_config = ConfigDict(extra="allow")
    client: str = Field(description="`Office.js`, `VBA`, `Microsoft Office Scripts` or `Google Apps Script`.")
    version: str
    book: BookInfo
    names: list[dict[str, Any]] = []
    sheets: list[SheetIn] = Field(min_length=1)


class ActionsOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    actions: list[dict[str, Any]] = Field(description="What the xlwings client carries out in the workbook.")


def _frames(workbook: Workbook) -> dict[str, pd.DataFrame]:
    frames = {}
    for sheet in SHEETS:
        if workbook.count(sheet) > MAX_ROWS:
            raise ApiError(422, "too_many_rows", f"The {TITLES[sheet]} sheet has more than {MAX_ROWS:,} rows for "
                                                 "xlwings: narrow the filters, summarise, or load from the task pane.")
        columns = workbook.columns(sheet)
        chunks = list(workbook.chunks(sheet))
        frame = pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame(columns=[c.name for c in columns])
        frame = frame.astype(object).where(frame.notna(), None)  # a missing value is a blank cell
        # dates stay serial days, under the column's date format: xlwings' client writes them as real dates
        frame.attrs["formats"] = {column.name: column.format for column in columns}
        frames[TITLES[sheet]] = frame
    return frames


def licence_refusal() -> str | None:
    """Why xlwings refuses the service's licence key (None when it takes it), in xlwings' own words, which never
    repeat the key. Asked afresh each time: xlwings remembers its first verdict for the life of the process."""
    import xlwings  # here, not at the top: only a licensed service ever loads xlwings' licence-gated engines
    from xlwings.pro.utils import LicenseHandler

    LicenseHandler.validate_license.cache_clear()
    try:
        LicenseHandler.validate_license("pro")
    except xlwings.LicenseError as error:
        return str(error)
    if not xlwings.__pro__:  # the key was changed after xlwings loaded without its remote engine
        return "xlwings started without a valid key; restart the service after setting it."
    return None


@bp.post("/workbook/xlwings", responses={200: ActionsOut, 503: ErrorOut})
def load_with_xlwings(query: SheetFilters, body: BookIn):
    """Write Actuals, Accounts and Dimensions into the book xlwings' client sent, as tables of those names (replaced
    in place), and answer the actions for the client to apply. Only when the service has an xlwings licence key;
    503 `xlwings_license_invalid` when xlwings refuses that key (the service's setting, not the caller's book)."""
    import xlwings

    if refusal := licence_refusal():
        raise ApiError(503, "xlwings_license_invalid", f"The service's xlwings licence key ({LICENSE_KEY_VARIABLE}) "
                       f"is not valid: {refusal} An administrator sets a valid key; Load into workbook in the task "
                       "pane needs none.")
    frames = _frames(open_workbook(query))
    try:
        with xlwings.Book(json=request.get_json()) as book:  # closing it frees what xlwings keeps per book
            write_sheets(book, frames)
            return book.json()
    except (KeyError, IndexError, TypeError, ValueError, xlwings.XlwingsError) as error:
        # what the schema cannot say (an address that is not one, a table past its sheet) xlwings finds here
        raise ApiError(422, "invalid_book", f"xlwings could not work with the book it was sent: {error!r}.") from None
