"""The integration log: recent events per entity and data type, newest first."""
from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field, PlainValidator, WithJsonSchema
from sqlalchemy import func, select

from server.access.keys import current_caller
from server.db.engine import request_session
from server.db.models import Connection, Entity, LogEvent, Workspace
from server.web.common import BEARER, ERRORS, Id, PageQuery

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


class LogQuery(PageQuery):
    connection_id: Id | None = None
    entity_id: Id | None = None
    # The refresh's data types, and what the scheduler did (a skipped night, a paused schedule).
    data_type: Literal["accounts", "dimensions", "journals", "trial_balance", "currencies", "schedule"] | None = None
    status: Literal["succeeded", "failed", "needs_attention", "skipped"] | None = None
    since: WorkspaceTime | None = Field(None, description="Events at or after this time (ISO 8601). A date is the "
                                                          "start of that day; no zone means the workspace's.")
    until: WorkspaceTime | None = Field(None, description="Events before this time (ISO 8601), read as `since`.")


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
    total: int
    page: int
    per_page: int


@bp.get("/log", responses={200: LogPage})
def list_events(query: LogQuery):
    """Integration-log events, newest first, filtered by connection, entity, data type, status and time."""
    session = request_session()
    workspace = session.get(Workspace, current_caller().workspace_id)
    where = [LogEvent.workspace_id == workspace.id]
    for name in ("connection_id", "entity_id", "status"):
        if getattr(query, name) is not None:
            where.append(getattr(LogEvent, name) == getattr(query, name))
    if query.data_type is not None:
        where.append(LogEvent.data_type == query.data_type)
    if query.since is not None:
        where.append(LogEvent.created_at >= instant(query.since, workspace.timezone))
    if query.until is not None:
        where.append(LogEvent.created_at < instant(query.until, workspace.timezone))
    total = session.scalar(select(func.count()).select_from(LogEvent).where(*where))
    rows = session.execute(
        select(LogEvent, Connection.name, Entity.name).join(Connection, Connection.id == LogEvent.connection_id)
        .outerjoin(Entity, Entity.id == LogEvent.entity_id).where(*where)
        .order_by(LogEvent.created_at.desc(), LogEvent.id.desc())
        .offset((query.page - 1) * query.per_page).limit(query.per_page)).all()
    items = [LogEventOut.model_validate({**{c: getattr(event, c) for c in LogEventOut.model_fields
                                            if hasattr(event, c)},
                                         "connection_name": connection_name, "entity_name": entity_name})
             for event, connection_name, entity_name in rows]
    return LogPage(items=items, total=total, page=query.page, per_page=query.per_page).model_dump(mode="json")
