"""The workspace's sheets (Actuals, Accounts, Dimensions) as pandas DataFrames, over the Ledgerpane API:

    from ledgerpane.client import Workspace
    books = Workspace("https://ledgerpane.example.com", key)
    actuals = books.actuals(entities=[3], period_from="2025-01", period_to="2025-12", summary=True)

A sheet comes in pages; every page is fetched (following `next_offset`). Date columns arrive as Excel serial days
and are turned into real dates; a blank cell becomes a missing value. An error answer raises `LedgerpaneError`
(or the subclass for its status) carrying the API's `code`, `message` and `field`.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import pandas as pd
import requests

EXCEL_EPOCH = "1899-12-30"  # serial day 0 of Excel's 1900 date system


class LedgerpaneError(Exception):
    """An error the API answered: `status`, its stable `code`, `message` and the request `field` at fault."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{message} ({code}{f', {field}' if field else ''})")
        self.status, self.code, self.message, self.field = status, code, message, field


class NotAuthenticated(LedgerpaneError):
    """401: the key is missing, unknown or revoked."""


class NotAllowed(LedgerpaneError):
    """403: the key's member may not do this."""


class NotFound(LedgerpaneError):
    """404: no such thing in this workspace."""


class InvalidRequest(LedgerpaneError):
    """422: a filter the API refuses (see `field`)."""


_BY_STATUS = {401: NotAuthenticated, 403: NotAllowed, 404: NotFound, 422: InvalidRequest}


def _month(value: str | date | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return f"{value.year:04d}-{value.month:02d}"


class Workspace:
    """One workspace, reached with one of its members' keys."""

    def __init__(self, url: str, key: str, timeout: float = 60, session: requests.Session | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.http = session or requests.Session()
        self.http.headers["Authorization"] = f"Bearer {key}"

    def _get(self, path: str, params: dict[str, Any] | None = None) -> dict:
        try:
            response = self.http.get(f"{self.url}/api/v1{path}", params=params, timeout=self.timeout)
        except requests.RequestException as error:
            raise LedgerpaneError(0, "unreachable", f"Could not reach {self.url}: {error}") from None
        if response.status_code == 200:
            return response.json()
        try:
            error = response.json()["error"]
            code, message, field = error["code"], error["message"], error.get("field")
        except (ValueError, KeyError, TypeError):
            code, message, field = "http_error", f"{response.status_code} {response.reason}", None
        raise _BY_STATUS.get(response.status_code, LedgerpaneError)(response.status_code, code, message, field)

    def stamp(self) -> dict:
        """The workspace, its connections with each one's last successful refresh, when the sheets were built and
        how fresh the data is (`built_at`, `data_as_of` as datetimes)."""
        stamp = self._get("/workbook")
        for name in ("built_at", "data_as_of"):
            if stamp.get(name):
                stamp[name] = datetime.fromisoformat(stamp[name].replace("Z", "+00:00"))
        return stamp

    def sheet(self, sheet: str, entities: Iterable[int] = (), period_from: str | date | None = None,
              period_to: str | date | None = None, accounts: Iterable[str] = (), members: Iterable[int] = (),
              summary: bool = False, page_size: int | None = None) -> pd.DataFrame:
        """One sheet, every page of it, as a DataFrame with the sheet's column names and types."""
        params: dict[str, Any] = {"entity": list(entities), "account": list(accounts), "member": list(members),
                                  "from": _month(period_from), "to": _month(period_to)}
        if summary:
            params["summary"] = "true"
        if page_size:
            params["limit"] = page_size
        page = self._get(f"/workbook/{sheet}", params)
        columns, rows = page["columns"], list(page["rows"])
        while page["next_offset"] is not None:
            page = self._get(f"/workbook/{sheet}", {**params, "offset": page["next_offset"]})
            rows += page["rows"]
        return as_frame(columns, rows)

    def actuals(self, **filters: Any) -> pd.DataFrame:
        """Actuals: one row per ledger line, or per entity x period x account x members with `summary=True`.
        `Amount` is in the entity's base currency, debit positive and credit negative."""
        return self.sheet("actuals", **filters)

    def accounts(self, **filters: Any) -> pd.DataFrame:
        return self.sheet("accounts", **filters)

    def dimensions(self, **filters: Any) -> pd.DataFrame:
        return self.sheet("dimensions", **filters)


def as_frame(columns: list[dict], rows: list[list]) -> pd.DataFrame:
    """Rows of the API's compact JSON as a typed DataFrame: dates as datetimes, whole numbers as nullable
    integers, amounts as floats, blanks ("") as missing. The other columns' Excel number formats ride along in
    `attrs["formats"]` for `ledgerpane.excel` (dates, being datetimes, are written as dates by xlwings)."""
    names = [column["name"] for column in columns]
    frame = pd.DataFrame(rows, columns=names, dtype=object).replace({"": None})
    for column in columns:
        values = frame[column["name"]]
        if column["type"] == "date":
            frame[column["name"]] = pd.to_datetime(pd.to_numeric(values), unit="D", origin=EXCEL_EPOCH)
        elif column["type"] == "integer":
            frame[column["name"]] = pd.to_numeric(values).astype("Int64")
        elif column["type"] == "number":
            frame[column["name"]] = pd.to_numeric(values).astype("float64")
        else:
            frame[column["name"]] = values.astype("string")
    frame.attrs["formats"] = {column["name"]: column["format"] for column in columns if column["type"] != "date"}
    return frame
