"""The rule for provider members no row maps: when a mapped provider dimension's rule is "create", each such
member becomes a workspace member of the same name (an existing one of that name is reused) and gets its row,
marked as made by the rule. Run when a mapping is saved and after each refresh loads the provider's dimensions,
so a member that appears later lands on its own workspace member from its first line on."""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import insert, select

from server.db.models import DimensionMapping, DimensionMember, MemberMapping, SourceDimension, SourceDimensionOption
from server.mapping.dimensions import name_key


def create_members_by_rule(db: Any, connection_id: int, entity_id: int | None = None) -> dict[int, list[str]]:
    """Give every unmapped provider member of a "create" dimension its workspace member. Returns the names of
    the workspace members created, per workspace dimension id. `db`: a Session or a Core connection."""
    where = [DimensionMapping.connection_id == connection_id, DimensionMapping.new_members == "create",
             MemberMapping.id.is_(None)]
    if entity_id is not None:
        where.append(SourceDimension.entity_id == entity_id)
    waiting = db.execute(
        select(SourceDimensionOption.id, SourceDimensionOption.name, DimensionMapping.dimension_id)
        .join(SourceDimension, SourceDimension.id == SourceDimensionOption.source_dimension_id)
        .join(DimensionMapping, DimensionMapping.source_dimension_id == SourceDimension.id)
        .outerjoin(MemberMapping, MemberMapping.source_option_id == SourceDimensionOption.id)
        .where(*where).order_by(SourceDimensionOption.name)).all()
    by_dimension: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for option_id, name, dimension_id in waiting:
        by_dimension[dimension_id].append((option_id, name))
    created: dict[int, list[str]] = {}
    rows = []
    for dimension_id, options in by_dimension.items():
        members = members_by_name(db, dimension_id)
        new = sorted({name_key(name): name for _, name in options if name_key(name) not in members}.values())
        if new:
            db.execute(insert(DimensionMember), [{"dimension_id": dimension_id, "name": name, "code": "",
                                                  "is_unmapped": False} for name in new])
            created[dimension_id] = new
            members = members_by_name(db, dimension_id)
        rows += [{"connection_id": connection_id, "source_option_id": option_id, "member_id": members[name_key(name)],
                  "by_rule": True} for option_id, name in options]
    if rows:
        db.execute(insert(MemberMapping), rows)
    return created


def members_by_name(db: Any, dimension_id: int) -> dict[str, int]:
    """The dimension's members (Unmapped aside) by `name_key` of their name."""
    return {name_key(name): member_id for name, member_id in db.execute(
        select(DimensionMember.name, DimensionMember.id).where(
            DimensionMember.dimension_id == dimension_id, DimensionMember.is_unmapped.is_(False)))}
