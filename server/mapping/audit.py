"""The audit trail of dimensions and mappings: who changed what, and when (`mapping_change` rows).

Each change is recorded in the transaction that makes it, so the trail never says more or less than
what happened.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert

from server.db.models import MappingChange, utcnow


@dataclass(frozen=True)
class Who:
    member_id: int | None  # None: a refresh, applying a rule
    user: str


REFRESH = Who(None, "refresh")


def record(db: Any, workspace_id: int, who: Who, action: str, summary: str, detail: dict[str, Any] | None = None,
           connection_id: int | None = None) -> None:
    """`db`: a Session or a Core connection, inside the change's own transaction."""
    db.execute(insert(MappingChange).values(
        workspace_id=workspace_id, connection_id=connection_id, member_id=who.member_id, user=who.user,
        action=action, summary=summary, detail=detail or {}, created_at=utcnow()))
