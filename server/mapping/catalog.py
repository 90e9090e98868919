"""What the mapping screen shows for one connection: the provider's dimensions and members as last pulled, its
accounts, the workspace's dimensions, the saved mapping, and a proposal (exact name or code matches)."""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import (
    Account,
    Dimension,
    DimensionMapping,
    DimensionMember,
    Entity,
    MemberMapping,
    SourceDimension,
    SourceDimensionOption,
)
from server.mapping.dimensions import name_key


def workspace_dimensions(session: Session, workspace_id: int) -> list[dict[str, Any]]:
    dimensions = session.scalars(select(Dimension).where(Dimension.workspace_id == workspace_id)
                                 .order_by(Dimension.display_order, Dimension.position)).all()
    return [{"id": d.id, "name": d.name, "position": d.position, "order": d.display_order,
             "members": [member_out(m) for m in sorted(d.members, key=lambda m: (not m.is_unmapped, m.name.lower()))]}
            for d in dimensions]


def member_out(member: DimensionMember) -> dict[str, Any]:
    return {"id": member.id, "name": member.name, "code": member.code, "unmapped": member.is_unmapped}


def provider_dimensions(session: Session, connection_id: int) -> list[dict[str, Any]]:
    options: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for option in session.scalars(select(SourceDimensionOption).join(SourceDimension).where(
            SourceDimension.connection_id == connection_id).order_by(SourceDimensionOption.name)):
        options[option.source_dimension_id].append({"id": option.id, "source_id": option.source_option_id,
                                                    "name": option.name, "status": option.status})
    rows = session.execute(select(SourceDimension, Entity.name).join(Entity, Entity.id == SourceDimension.entity_id)
                           .where(SourceDimension.connection_id == connection_id)
                           .order_by(Entity.name, SourceDimension.name)).all()
    return [{"id": d.id, "entity_id": d.entity_id, "entity": entity, "source_id": d.source_dimension_id,
             "name": d.name, "status": d.status, "members": options[d.id]} for d, entity in rows]


def provider_accounts(session: Session, connection_id: int) -> list[dict[str, Any]]:
    rows = session.execute(select(Account, Entity.name).join(Entity, Entity.id == Account.entity_id)
                           .where(Account.connection_id == connection_id).order_by(Entity.name, Account.code,
                                                                                   Account.name)).all()
    return [{"id": a.id, "entity_id": a.entity_id, "entity": entity, "code": a.code, "name": a.name,
             "account_class": a.account_class, "status": a.status, "workspace_account_id": a.workspace_account_id,
             "placed_by": a.placed_by} for a, entity in rows]


def saved(session: Session, connection_id: int) -> list[dict[str, Any]]:
    rows: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for option_id, member_id, by_rule, source_dimension_id in session.execute(
            select(MemberMapping.source_option_id, MemberMapping.member_id, MemberMapping.by_rule,
                   SourceDimensionOption.source_dimension_id)
            .join(SourceDimensionOption, SourceDimensionOption.id == MemberMapping.source_option_id)
            .where(MemberMapping.connection_id == connection_id).order_by(MemberMapping.id)):
        rows[source_dimension_id].append({"provider_member_id": option_id, "member_id": member_id,
                                          "by_rule": by_rule})
    return [{"provider_dimension_id": m.source_dimension_id, "dimension_id": m.dimension_id,
             "new_members": m.new_members, "new_members_member_id": m.fallback_member_id,
             "members": rows[m.source_dimension_id]}
            for m in session.scalars(select(DimensionMapping).where(DimensionMapping.connection_id == connection_id)
                                     .order_by(DimensionMapping.id))]


def proposal(providers: list[dict[str, Any]], workspace: list[dict[str, Any]],
             current: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The saved mapping, completed: a provider dimension not mapped yet goes onto the workspace dimension of
    the same name (if that company has not used it already); a member with no row onto the workspace member
    whose name or code is its name."""
    by_name = {name_key(d["name"]): d for d in workspace}
    by_id = {d["id"]: d for d in workspace}
    kept = {m["provider_dimension_id"]: m for m in current}
    entity_of = {p["id"]: p["entity_id"] for p in providers}
    taken = {(entity_of.get(m["provider_dimension_id"]), m["dimension_id"]) for m in current}
    proposed = []
    for provider in providers:
        mapping = kept.get(provider["id"])
        if mapping is None:
            target = by_name.get(name_key(provider["name"]))
            if target is None or (provider["entity_id"], target["id"]) in taken:
                continue
            taken.add((provider["entity_id"], target["id"]))
            mapping = {"provider_dimension_id": provider["id"], "dimension_id": target["id"],
                       "new_members": "unmapped", "new_members_member_id": None, "members": []}
        target = by_id[mapping["dimension_id"]]
        matches = {}
        for member in target["members"]:
            if not member["unmapped"]:
                matches.setdefault(name_key(member["name"]), member["id"])
                if member["code"]:
                    matches.setdefault(name_key(member["code"]), member["id"])
        rows = [{"provider_member_id": r["provider_member_id"], "member_id": r["member_id"]}
                for r in mapping["members"]]
        have = {r["provider_member_id"] for r in rows}
        rows += [{"provider_member_id": m["id"], "member_id": matches[name_key(m["name"])]}
                 for m in provider["members"] if m["id"] not in have and name_key(m["name"]) in matches]
        proposed.append({**mapping, "members": rows})
    return proposed
