"""The workspace's connected data sources (the Connections page list)."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field
from sqlalchemy import func, or_, select

from server.api.common import BEARER, ERRORS, PageQuery
from server.auth import current_caller
from server.db import request_session
from server.models import Connection

bp = APIBlueprint("connections", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="Connections")],
                  abp_security=BEARER, abp_responses=ERRORS)

SORTABLE = ("name", "provider", "business_account", "created_at", "last_authorized_at",
            "last_successful_run_at")


class ConnectionOut(BaseModel):
    id: int
    name: str
    provider: str
    status: str
    business_account: str
    created_at: datetime
    last_authorized_at: datetime | None
    last_successful_run_at: datetime | None


class ConnectionList(BaseModel):
    items: list[ConnectionOut]
    total: int
    page: int
    per_page: int


class ConnectionQuery(PageQuery):
    q: str | None = Field(None, max_length=200, description="Search name, provider and business account.")
    sort: Literal[SORTABLE] = "name"  # type: ignore[valid-type]
    order: Literal["asc", "desc"] = "asc"


@bp.get("/connections", responses={200: ConnectionList})
def list_connections(query: ConnectionQuery):
    """The workspace's data sources, searched, sorted and paged."""
    session = request_session()
    where = [Connection.workspace_id == current_caller().workspace_id, Connection.deleted_at.is_(None)]
    if query.q:
        pattern = f"%{query.q.lower()}%"
        where.append(or_(*(func.lower(column).like(pattern) for column in
                           (Connection.name, Connection.provider, Connection.business_account))))
    column = getattr(Connection, query.sort)
    ordered = column.asc() if query.order == "asc" else column.desc()
    total = session.scalar(select(func.count()).select_from(Connection).where(*where))
    rows = session.scalars(
        select(Connection).where(*where).order_by(ordered, Connection.id)
        .offset((query.page - 1) * query.per_page).limit(query.per_page)
    )
    items = [ConnectionOut.model_validate(row, from_attributes=True) for row in rows]
    return ConnectionList(items=items, total=total, page=query.page, per_page=query.per_page).model_dump(mode="json")
