"""The stamp every loaded sheet carries: which workspace, which connections with the last successful refresh of
each, when the sheets were built, and how fresh the data is (`data_as_of`)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from server.db.models import Connection, Entity, LedgerLine, Workspace, utcnow


@dataclass(frozen=True)
class ConnectionStamp:
    id: int
    name: str
    provider: str
    entities: list[str]
    last_successful_refresh_at: datetime | None


@dataclass(frozen=True)
class Stamp:
    workspace: Workspace
    built_at: datetime
    data_as_of: datetime | None  # the newest successful refresh among the connections not deleted
    connections: list[ConnectionStamp]


def workbook_stamp(session: Session, workspace_id: int) -> Stamp:
    """The connections whose data the sheets hold: every one not deleted, and a deleted one whose lines are still
    there (they stay in the sheets under its name). Entities: the selected ones and any that hold lines."""
    holds_lines = exists().where(LedgerLine.connection_id == Entity.connection_id, LedgerLine.entity_id == Entity.id)
    entity_names: dict[int, list[str]] = {}
    for connection_id, name in session.execute(
            select(Entity.connection_id, Entity.name).where(Entity.workspace_id == workspace_id,
                                                            or_(Entity.selected, holds_lines))
            .order_by(Entity.name, Entity.id)):
        entity_names.setdefault(connection_id, []).append(name)
    connections = session.scalars(select(Connection).where(
        Connection.workspace_id == workspace_id,
        or_(Connection.deleted_at.is_(None), Connection.id.in_(list(entity_names))))
        .order_by(Connection.name, Connection.id)).all()
    data_as_of = session.scalar(select(func.max(Connection.last_successful_run_at)).where(
        Connection.workspace_id == workspace_id, Connection.deleted_at.is_(None)))
    return Stamp(
        workspace=session.get(Workspace, workspace_id), built_at=utcnow(), data_as_of=data_as_of,
        connections=[ConnectionStamp(c.id, c.name, c.provider, entity_names.get(c.id, []), c.last_successful_run_at)
                     for c in connections])
