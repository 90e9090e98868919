"""A connection's dimension mapping as a whole: checked, then saved in place of the one before.

A plan lists the provider dimensions to map (by their row id, per entity), each onto one workspace dimension,
with member rows (one-to-one or many-to-one; `create` makes a workspace member of the provider member's name)
and the rule for members no row maps. Provider dimensions the plan leaves out are not mapped.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from server.db.models import (
    Dimension,
    DimensionMapping,
    DimensionMember,
    MemberMapping,
    SourceDimension,
    SourceDimensionOption,
)
from server.mapping.dimensions import name_key
from server.mapping.errors import Refused
from server.mapping.rules import create_members_by_rule, members_by_name

RULES = ("unmapped", "create", "member")


@dataclass
class MemberRow:
    provider_member_id: int
    member_id: int | None = None
    create: bool = False


@dataclass
class DimensionPlan:
    provider_dimension_id: int
    dimension_id: int
    new_members: str = "unmapped"
    new_members_member_id: int | None = None
    members: list[MemberRow] = field(default_factory=list)


def check(session: Session, workspace_id: int, connection_id: int, plans: list[DimensionPlan]) -> None:
    """Refuse (422, naming the field) anything that is not this connection's or this workspace's, or that
    would place one line twice."""
    sources = {row.id: row for row in session.scalars(select(SourceDimension)
                                                      .where(SourceDimension.connection_id == connection_id))}
    dimensions = set(session.scalars(select(Dimension.id).where(Dimension.workspace_id == workspace_id)))
    seen: set[int] = set()
    taken: set[tuple[int, int]] = set()  # (entity, workspace dimension)
    for index, plan in enumerate(plans):
        at = f"dimensions.{index}"
        source = sources.get(plan.provider_dimension_id)
        if source is None:
            raise Refused(422, "unknown_provider_dimension", "That is not a dimension of this connection.",
                          f"{at}.provider_dimension_id")
        if plan.provider_dimension_id in seen:
            raise Refused(422, "duplicate", f"{source.name} is mapped twice.", f"{at}.provider_dimension_id")
        seen.add(plan.provider_dimension_id)
        if plan.dimension_id not in dimensions:
            raise Refused(422, "unknown_dimension", "No such workspace dimension.", f"{at}.dimension_id")
        if (source.entity_id, plan.dimension_id) in taken:
            raise Refused(422, "dimension_taken", "Two dimensions of one company cannot land on the same workspace "
                          "dimension: a line would need two members there.", f"{at}.dimension_id")
        taken.add((source.entity_id, plan.dimension_id))
        members = set(session.scalars(select(DimensionMember.id)
                                      .where(DimensionMember.dimension_id == plan.dimension_id)))
        if plan.new_members not in RULES:
            raise Refused(422, "invalid_value", f"new_members is one of {', '.join(RULES)}.", f"{at}.new_members")
        if plan.new_members == "member" and plan.new_members_member_id not in members:
            raise Refused(422, "unknown_member", "Choose a member of the workspace dimension for new members.",
                          f"{at}.new_members_member_id")
        options = set(session.scalars(select(SourceDimensionOption.id)
                                      .where(SourceDimensionOption.source_dimension_id == source.id)))
        rows_seen: set[int] = set()
        for row_index, row in enumerate(plan.members):
            where = f"{at}.members.{row_index}"
            if row.provider_member_id not in options or row.provider_member_id in rows_seen:
                raise Refused(422, "unknown_provider_member", f"Not a member of {source.name}, or listed twice.",
                              f"{where}.provider_member_id")
            rows_seen.add(row.provider_member_id)
            if row.create == (row.member_id is not None):
                raise Refused(422, "member_or_create", "Give either member_id or create: true.", where)
            if row.member_id is not None and row.member_id not in members:
                raise Refused(422, "unknown_member", "Not a member of that workspace dimension.",
                              f"{where}.member_id")


def save(session: Session, workspace_id: int, connection_id: int, plans: list[DimensionPlan]) -> dict[int, list[str]]:
    """Replace the connection's mapping with the plan (checked first). Returns the workspace members created
    (by `create` rows and by rules), per workspace dimension id. The loaded lines are not touched here."""
    check(session, workspace_id, connection_id, plans)
    session.execute(delete(MemberMapping).where(MemberMapping.connection_id == connection_id))
    session.execute(delete(DimensionMapping).where(DimensionMapping.connection_id == connection_id))
    created: dict[int, list[str]] = {}
    for plan in plans:
        session.execute(insert(DimensionMapping).values(
            workspace_id=workspace_id, connection_id=connection_id, source_dimension_id=plan.provider_dimension_id,
            dimension_id=plan.dimension_id, new_members=plan.new_members,
            fallback_member_id=plan.new_members_member_id if plan.new_members == "member" else None))
        rows = [(row.provider_member_id, row.member_id) for row in plan.members if not row.create]
        wanted = [row.provider_member_id for row in plan.members if row.create]
        if wanted:
            made, ids = _members_named_as(session, plan.dimension_id, wanted)
            created.setdefault(plan.dimension_id, []).extend(made)
            rows += [(option_id, ids[option_id]) for option_id in wanted]
        if rows:
            session.execute(insert(MemberMapping), [{"connection_id": connection_id, "source_option_id": option_id,
                                                     "member_id": member_id, "by_rule": False}
                                                    for option_id, member_id in rows])
    for dimension_id, names in create_members_by_rule(session, connection_id).items():
        created.setdefault(dimension_id, []).extend(names)
    session.expire_all()
    return created


def _members_named_as(session: Session, dimension_id: int, option_ids: list[int]) -> tuple[list[str], dict[int, int]]:
    """Workspace members named as these provider members, created where missing."""
    names = dict(session.execute(select(SourceDimensionOption.id, SourceDimensionOption.name)
                                 .where(SourceDimensionOption.id.in_(option_ids))).all())
    existing = members_by_name(session, dimension_id)
    new = sorted({name for name in names.values() if name_key(name) not in existing}, key=name_key)
    unique_new = list({name_key(name): name for name in new}.values())
    if unique_new:
        session.execute(insert(DimensionMember), [{"dimension_id": dimension_id, "name": name, "code": "",
                                                   "is_unmapped": False} for name in unique_new])
        existing = members_by_name(session, dimension_id)
    return unique_new, {option_id: existing[name_key(name)] for option_id, name in names.items()}

