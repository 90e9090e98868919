"""The workbook's sheets over HTTP: what a load would write (`/workbook`), each sheet in pages of rows
(`/workbook/{sheet}`), and all of them as a real .xlsx (`/workbook.xlsx`). Any member of the workspace may read them.

The JSON is our own compact shape: columns with their type and Excel number format, then rows as arrays. Dates are
Excel serial day numbers, amounts JSON numbers, and a missing value is "" (a blank cell).
"""
from __future__ import annotations

import io
from datetime import date, datetime
from typing import Annotated, Any, Literal

from flask import send_file
from flask_openapi3 import APIBlueprint, Tag
from pydantic import AfterValidator, BaseModel, Field

from server.access.keys import current_caller
from server.db.engine import request_session
from server.errors import ApiError
from server.web.common import BEARER, ERRORS, MAX_ID, Id, StrictModel, plain_text
from server.workbook.sheets import (
    EXCEL_MAX_ROWS,
    SHEETS,
    TITLES,
    Filters,
    UnknownIds,
    Workbook,
    filter_choices,
    json_rows,
)
from server.workbook.stamp import Stamp, workbook_stamp
from server.workbook.xlsx import download_name, write_xlsx

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_FILTER_VALUES = 1000  # ids or codes per filter: far past a real choice, well inside SQL's limits

bp = APIBlueprint("workbook", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="Workbook")],
                  abp_security=BEARER, abp_responses=ERRORS)
# The filters a load repeats (`?entity=1&entity=2`); the service refuses any other repeated parameter (app.py).
bp.repeatable_parameters = frozenset({"entity", "account", "member"})


def _first_of_month(value: str) -> date:
    return date(int(value[:4]), int(value[5:7]), 1)


Period = Annotated[str, Field(pattern=r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])$", description="A month, `YYYY-MM`."),
                   AfterValidator(_first_of_month)]


class SheetFilters(StrictModel):
    entity: list[Id] = Field([], max_length=MAX_FILTER_VALUES, description="Entity ids (repeat the parameter).")
    from_: Period | None = Field(None, alias="from", description="First period, `YYYY-MM`, inclusive.")
    to: Period | None = Field(None, description="Last period, `YYYY-MM`, inclusive.")
    account: list[plain_text(50, min_length=1)] = Field([], max_length=MAX_FILTER_VALUES, description=(
        "Account codes as the sheets show them, the workspace account's (repeat the parameter)."))
    member: list[Id] = Field([], max_length=MAX_FILTER_VALUES, description=(
        "Dimension member ids (repeat the parameter): a line must carry one of the given members of each "
        "dimension named."))
    summary: bool = Field(False, description="Actuals summed by entity x period x account x dimension members "
                                             "instead of one row per ledger line.")


class SheetQuery(SheetFilters):
    offset: int = Field(0, ge=0, le=MAX_ID, description="Rows to skip.")
    limit: int = Field(50_000, ge=1, le=100_000, description="Rows to return at most.")


class SheetPath(BaseModel):
    sheet: Literal["actuals", "accounts", "dimensions"]


class WorkspaceRef(BaseModel):
    id: int
    name: str
    base_currency: str
    timezone: str


class ConnectionRef(BaseModel):
    id: int
    name: str
    provider: str
    entities: list[str] = Field(description="Names of the entities whose data the sheets hold.")
    last_successful_refresh_at: datetime | None


class SheetRef(BaseModel):
    name: str
    table: str = Field(description="The Excel table's name.")
    href: str
    rows: int = Field(description="Rows a load with these filters writes.")


class WorkbookOut(BaseModel):
    workspace: WorkspaceRef
    built_at: datetime
    data_as_of: datetime | None = Field(description="The newest successful refresh among the workspace's "
                                                    "connections (deleted ones aside); null before any.")
    connections: list[ConnectionRef] = Field(description="Connections whose data the sheets hold; a deleted "
                                                         "connection's lines stay under its name.")
    sheets: list[SheetRef]


class ColumnOut(BaseModel):
    name: str
    type: Literal["text", "number", "integer", "date"]
    format: str = Field(description="Excel number format, e.g. `@`, `#,##0.00`, `mmm yyyy`.")


class SheetOut(BaseModel):
    sheet: str
    table: str
    columns: list[ColumnOut]
    rows: list[list[str | float | int]] = Field(description=(
        "Values in column order: text as strings, amounts as numbers, dates as Excel serial day numbers (days "
        "since 1899-12-30), \"\" where there is no value. `Unmapped` is the text TRUE or FALSE."))
    offset: int
    next_offset: int | None = Field(description="The offset of the next page; null after the last.")
    total_rows: int
    built_at: datetime
    data_as_of: datetime | None


class EntityChoice(BaseModel):
    id: int
    name: str
    connection: str = Field(description="The connection the entity comes from.")


class AccountChoice(BaseModel):
    code: str = Field(description="A workspace account's code: what `account` takes and the Actuals show.")
    name: str


class MemberChoice(BaseModel):
    id: int
    name: str
    unmapped: bool


class DimensionChoice(BaseModel):
    id: int
    name: str
    members: list[MemberChoice]


class FilterChoices(BaseModel):
    entities: list[EntityChoice] = Field(description="For `entity`.")
    accounts: list[AccountChoice] = Field(description="For `account`, by code.")
    dimensions: list[DimensionChoice] = Field(description="Their members for `member`.")


def open_workbook(query: SheetFilters) -> Workbook:
    """The caller's workspace as sheets, filtered as the query asks (also what xlwings' route writes)."""
    if query.from_ and query.to and query.from_ > query.to:
        raise ApiError(422, "invalid_value", "The last period comes before the first.", "to")
    filters = Filters(entity_ids=tuple(query.entity), period_from=query.from_, period_to=query.to,
                      account_codes=tuple(query.account), member_ids=tuple(query.member), summary=query.summary)
    try:
        return Workbook(request_session().connection(), current_caller().workspace_id, filters)
    except UnknownIds as error:  # another workspace's ids answer exactly as ids that do not exist
        raise ApiError(404, "not_found", f"No such {error.field}.", error.field) from None


def _stamp_out(stamp: Stamp) -> dict[str, Any]:
    workspace = stamp.workspace
    return {
        "workspace": {"id": workspace.id, "name": workspace.name, "base_currency": workspace.base_currency,
                      "timezone": workspace.timezone},
        "built_at": stamp.built_at, "data_as_of": stamp.data_as_of,
        "connections": [{"id": c.id, "name": c.name, "provider": c.provider, "entities": c.entities,
                         "last_successful_refresh_at": c.last_successful_refresh_at} for c in stamp.connections],
    }


@bp.get("/workbook", responses={200: WorkbookOut})
def describe_workbook(query: SheetFilters):
    """The stamp (workspace, connections and their last successful refresh, built at) and the sheets a load
    writes with these filters, with their row counts."""
    workbook = open_workbook(query)
    stamp = workbook_stamp(request_session(), current_caller().workspace_id)
    sheets = [{"name": TITLES[sheet], "table": TITLES[sheet], "href": f"/api/v1/workbook/{sheet}",
               "rows": workbook.count(sheet)} for sheet in SHEETS]
    return {**_stamp_out(stamp), "sheets": sheets}


@bp.get("/workbook/filters", responses={200: FilterChoices})
def list_filter_choices():
    """What a load's filters can choose from: the workspace's entities, the account codes the sheets show, and each
    dimension's members."""
    return FilterChoices(**filter_choices(request_session().connection(), current_caller().workspace_id)).model_dump()


@bp.get("/workbook/<sheet>", responses={200: SheetOut})
def read_sheet(path: SheetPath, query: SheetQuery):
    """One page of a sheet's rows, in a stable order (entity, period, account code, then line), with its columns'
    names, types and number formats."""
    workbook = open_workbook(query)
    stamp = workbook_stamp(request_session(), current_caller().workspace_id)
    page = workbook.page(path.sheet, query.offset, query.limit)
    end = query.offset + len(page.frame)
    return {
        "sheet": TITLES[path.sheet], "table": TITLES[path.sheet],
        "columns": [{"name": c.name, "type": c.type, "format": c.format} for c in page.columns],
        "rows": json_rows(page.frame), "offset": query.offset,
        "next_offset": end if end < page.total_rows and len(page.frame) else None,
        "total_rows": page.total_rows,
        "built_at": stamp.built_at, "data_as_of": stamp.data_as_of,
    }


@bp.get("/workbook.xlsx", responses={200: {"description": "The workbook as an .xlsx file.", "content": {
    XLSX: {"schema": {"type": "string", "format": "binary"}}}}})
def download_workbook(query: SheetFilters):
    """Actuals, Accounts and Dimensions as Excel tables of those names, and an About sheet with the stamp, in one
    .xlsx file. Refused (422 `too_many_rows`) when a sheet would not fit in a worksheet."""
    workbook = open_workbook(query)
    for sheet in SHEETS:
        if workbook.count(sheet) > EXCEL_MAX_ROWS - 1:
            raise ApiError(422, "too_many_rows", f"The {TITLES[sheet]} sheet would have more rows than a worksheet "
                                                 f"holds ({EXCEL_MAX_ROWS - 1:,}): narrow the filters or summarise.")
    stamp = workbook_stamp(request_session(), current_caller().workspace_id)
    content = io.BytesIO()
    write_xlsx(workbook, stamp, content)
    content.seek(0)
    return send_file(content, mimetype=XLSX, as_attachment=True, download_name=download_name(stamp),
                     max_age=0)
