"""The integration log: recent events per entity and data type, newest first."""
from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from flask import Response, request
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field, PlainValidator, WithJsonSchema
from sqlalchemy import and_, func, or_, select

from server.access.keys import current_caller
from server.db.engine import request_session
from server.db.models import Connection, Entity, LogEvent, Workspace
from server.db.snapshots import remembered
from server.errors import ApiError
from server.web.common import BEARER, ERRORS, MAX_ID, Id, PageQuery

bp = APIBlueprint("log", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="Integration log")],
                  abp_security=BEARER, abp_responses=ERRORS)


def _iso_date_or_time(value: Any) -> date | datetime:
    """An ISO 8601 date or date-time, as written: no Unix timestamps (`0.5` is not a time anyone means)."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError("Expected an ISO 8601 date (2024-01-31) or date-time (2024-01-31T09:00:00+00:00)")
    try:
        return datetime.fromisoformat(value) if "T" in value or " " in value else date.fromisoformat(value)
    except ValueError:
        raise ValueError("Expected an ISO 8601 date (2024-01-31) or date-time (2024-01-31T09:00:00+00:00)") from None


# A date means the start of that day, and a time without a zone is the workspace's own (its timezone).
WorkspaceTime = Annotated[date | datetime, PlainValidator(_iso_date_or_time), WithJsonSchema(
    {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]})]


@dataclass(frozen=True)
class Cursor:
    """Where a page of the log ended: the newest-first order is (created_at, id), so the next page starts
    strictly below this pair whatever the page's depth (no OFFSET to walk)."""

    created_at: datetime
    id: int

    def encode(self) -> str:
        return base64.urlsafe_b64encode(f"{self.created_at.isoformat()}|{self.id}".encode()).decode().rstrip("=")


NOT_A_CURSOR = "Not a cursor of this log: pass `next_cursor` from the previous page as it was given"


def _cursor(value: Any) -> Cursor:
    if isinstance(value, Cursor):
        return value
    if not isinstance(value, str) or len(value) > 100:
        raise ValueError(NOT_A_CURSOR)
    try:
        moment, _, number = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode().partition("|")
        created_at, event_id = datetime.fromisoformat(moment), int(number)
        if created_at.tzinfo is None or not 1 <= event_id <= MAX_ID:
            raise ValueError(NOT_A_CURSOR)
        created_at = created_at.astimezone(UTC)  # ours are in UTC; 0001-01-01 at +14:00 has no UTC time
    except (ValueError, UnicodeDecodeError, OverflowError):
        raise ValueError(NOT_A_CURSOR) from None
    return Cursor(created_at, event_id)


LogCursor = Annotated[Cursor, PlainValidator(_cursor), WithJsonSchema({"type": "string", "maxLength": 100})]

# Counting a workspace's whole log read every event of it on every request (100,000 events: 28 ms of
# PostgreSQL's time); the pane only needs to say how many, or that there are more than this.
COUNT_LIMIT = 1000


class LogQuery(PageQuery):
    connection_id: Id | None = None
    entity_id: Id | None = None
    # The refresh's data types, and what the scheduler did (a skipped night, a paused schedule).
    data_type: Literal["accounts", "dimensions", "journals", "trial_balance", "currencies", "schedule"] | None = None
    status: Literal["succeeded", "failed", "needs_attention", "skipped"] | None = None
    since: WorkspaceTime | None = Field(None, description="Events at or after this time (ISO 8601). A date is the "
                                                          "start of that day; no zone means the workspace's.")
    until: WorkspaceTime | None = Field(None, description="Events before this time (ISO 8601), read as `since`.")
    cursor: LogCursor | None = Field(None, description="The `next_cursor` of the previous page: the events after "
                                                       "it, however deep (instead of `page`).")


def instant(value: date | datetime, timezone: str) -> datetime:
    """An aware moment for a date or date-time read in the workspace's timezone."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time.min)
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(timezone))
    try:
        return value.astimezone(UTC)
    except OverflowError:  # hours from the ends of the calendar: the bound is simply the end it is near
        return datetime.min.replace(tzinfo=UTC) if value.year == 1 else datetime.max.replace(tzinfo=UTC)


class LogEventOut(BaseModel):
    id: int
    created_at: datetime
    connection_id: int
    connection_name: str
    entity_id: int | None
    entity_name: str | None
    run_id: int | None
    data_type: str
    status: str
    rows_inserted: int
    rows_updated: int
    rows_deleted: int
    pages: int
    duration_ms: int
    endpoints: list[dict[str, Any]] = Field(description="Provider endpoints used: method, url (no secrets), "
                                                        "calls, statuses, duration, attempts, rows.")
    detail: str


class LogPage(BaseModel):
    items: list[LogEventOut]
    total: int = Field(description=f"Events matching the filters, counted up to {COUNT_LIMIT:,}.")
    total_exact: bool = Field(description=f"False when more than {COUNT_LIMIT:,} events match (`total` is then "
                                          f"{COUNT_LIMIT:,}).")
    page: int
    per_page: int
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) events; null on the last "
                                                "page.")


EVENT_COLUMNS = [getattr(LogEvent, name) for name in LogEventOut.model_fields if hasattr(LogEvent, name)]


@bp.get("/log", responses={200: LogPage})
def list_events(query: LogQuery):
    """Integration-log events, newest first, filtered by connection, entity, data type, status and time.
    Page with `cursor` (each page's `next_cursor`); `page` still works, but walks every event before it."""
    if query.cursor is not None and query.page != 1:
        raise ApiError(422, "invalid_value", "Give either page or cursor, not both.", "cursor")
    caller = current_caller()
    # Open panes ask for the same first page: while the database is unchanged it is given again (no clock in it).
    page = remembered("log", (caller.workspace_id, caller.role, request.query_string), lambda: _log_page(query),
                      max_age=None, shared=True)
    return Response(page, mimetype="application/json")


def _log_page(query: LogQuery) -> str:
    session = request_session()
    workspace_id = current_caller().workspace_id
    where = [LogEvent.workspace_id == workspace_id]
    for name in ("connection_id", "entity_id", "status", "data_type"):
        if getattr(query, name) is not None:
            where.append(getattr(LogEvent, name) == getattr(query, name))
    if query.since is not None or query.until is not None:
        timezone = session.scalar(select(Workspace.timezone).where(Workspace.id == workspace_id))
        if query.since is not None:
            where.append(LogEvent.created_at >= instant(query.since, timezone))
        if query.until is not None:
            where.append(LogEvent.created_at < instant(query.until, timezone))
    after = []
    if query.cursor is not None:  # written so that the (workspace, created_at) index bounds the scan
        after = [LogEvent.created_at <= query.cursor.created_at,
                 or_(LogEvent.created_at < query.cursor.created_at,
                     and_(LogEvent.created_at == query.cursor.created_at, LogEvent.id < query.cursor.id))]
    result = session.execute(
        select(*EVENT_COLUMNS, Connection.name.label("connection_name"), Entity.name.label("entity_name"))
        .join(Connection, Connection.id == LogEvent.connection_id)
        .outerjoin(Entity, Entity.id == LogEvent.entity_id).where(*where, *after)
        .order_by(LogEvent.created_at.desc(), LogEvent.id.desc())
        .offset((query.page - 1) * query.per_page).limit(query.per_page + 1))
    names = list(result.keys())
    # Plain dicts: pydantic reads a row mapping's fields one by one through Python (a fifth of a page's time).
    rows = [dict(zip(names, row, strict=True)) for row in result]
    more = len(rows) > query.per_page
    rows = rows[:query.per_page]
    if query.page == 1 and query.cursor is None and not more:
        total = len(rows)  # the whole answer is on this page: nothing to count
    else:
        total = session.scalar(select(func.count()).select_from(
            select(LogEvent.id).where(*where).limit(COUNT_LIMIT + 1).subquery()))
    next_cursor = Cursor(rows[-1]["created_at"], rows[-1]["id"]).encode() if more else None
    return LogPage.model_validate({
        "items": rows, "total": min(total, COUNT_LIMIT), "total_exact": total <= COUNT_LIMIT, "page": query.page,
        "per_page": query.per_page, "next_cursor": next_cursor}).model_dump_json()  # no dicts between
