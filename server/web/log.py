"""The integration log: recent events per entity and data type, newest first."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from server.access.keys import current_caller
from server.db.engine import request_session
from server.db.models import Connection, DataType, Entity, LogEvent
from server.web.common import BEARER, ERRORS, PageQuery

bp = APIBlueprint("log", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="Integration log")],
                  abp_security=BEARER, abp_responses=ERRORS)


class LogQuery(PageQuery):
    connection_id: int | None = None
    entity_id: int | None = None
    data_type: DataType | None = None
    status: Literal["succeeded", "failed", "needs_attention"] | None = None
    since: datetime | None = Field(None, description="Events at or after this time (ISO 8601).")
    until: datetime | None = Field(None, description="Events before this time (ISO 8601).")


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
    where = [LogEvent.workspace_id == current_caller().workspace_id]
    for name in ("connection_id", "entity_id", "status"):
        if getattr(query, name) is not None:
            where.append(getattr(LogEvent, name) == getattr(query, name))
    if query.data_type is not None:
        where.append(LogEvent.data_type == query.data_type.value)
    if query.since is not None:
        where.append(LogEvent.created_at >= query.since)
    if query.until is not None:
        where.append(LogEvent.created_at < query.until)
    session = request_session()
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
