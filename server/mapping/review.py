"""When a refresh finds the provider's dimensions, members or accounts changed (added, renamed, archived), the
workspace does not silently follow: the connection is marked "source changed: review mapping" with what changed,
and the log says so. Rules for new members still apply meanwhile (rules.py), so refreshes keep running; members
that arrive unmapped are counted on the connection and in the log."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select, update

from server.db.models import (
    Account,
    Connection,
    DimensionMapping,
    LogEvent,
    MemberMapping,
    SourceDimension,
    SourceDimensionOption,
)
from server.mapping import audit
from server.mapping.accounts import place_accounts, unmapped_accounts
from server.mapping.rules import create_members_by_rule

Snapshot = dict[tuple[str, str], tuple[str, str]]  # (kind, provider id) -> (name, status); kind "" is a dimension
REVIEW_LIMIT = 4000


def dimension_snapshot(db: Any, entity_id: int) -> Snapshot:
    dimensions = {("", source_id): (name, status) for source_id, name, status in db.execute(
        select(SourceDimension.source_dimension_id, SourceDimension.name, SourceDimension.status)
        .where(SourceDimension.entity_id == entity_id))}
    members = {(dimension, option): (name, status) for dimension, option, name, status in db.execute(
        select(SourceDimension.name, SourceDimensionOption.source_option_id, SourceDimensionOption.name,
               SourceDimensionOption.status).join(SourceDimension).where(SourceDimension.entity_id == entity_id))}
    return {**dimensions, **members}


def account_snapshot(db: Any, entity_id: int) -> Snapshot:
    return {("account", source_id): (f"{code} {name}".strip(), status) for source_id, code, name, status in db.execute(
        select(Account.source_account_id, Account.code, Account.name, Account.status)
        .where(Account.entity_id == entity_id))}


def differences(before: Snapshot, after: Snapshot) -> list[str]:
    """What changed, in words; nothing for a first load (there was nothing to review against)."""
    if not before:
        return []
    said = []
    for key, (name, status) in after.items():
        kind = "dimension" if key[0] == "" else "account" if key[0] == "account" else f"member of {key[0]}"
        old = before.get(key)
        if old is None:
            said.append(f"new {kind} {name}")
        elif old[0] != name:
            said.append(f"{kind} {old[0]} renamed {name}")
        elif old[1] != status:
            said.append(f"{kind} {name} {status}")
    return said


def note_changes(db: Any, workspace_id: int, connection_id: int, entity_id: int, entity_name: str,
                 data_type: str, changed: list[str], run_id: int | None) -> None:
    """Mark the connection for review and say what changed in the log."""
    if not changed:
        return
    text = f"{entity_name}: {'; '.join(changed)}."
    review = db.execute(select(Connection.mapping_review).where(Connection.id == connection_id)).scalar_one()
    review = (f"{review}\n{text}" if review else text)[-REVIEW_LIMIT:]
    db.execute(update(Connection).where(Connection.id == connection_id).values(mapping_review=review))
    db.execute(insert(LogEvent).values(workspace_id=workspace_id, connection_id=connection_id, entity_id=entity_id,
                                       run_id=run_id, data_type=data_type, status="needs_attention",
                                       detail=f"Source changed: review mapping. {text}"))


def dimensions_loaded(db: Any, workspace_id: int, connection_id: int, entity_id: int, entity_name: str,
                      before: Snapshot, run_id: int | None) -> None:
    """After a refresh loaded an entity's dimensions: note what changed, apply the "create" rules, count what
    stays unmapped (on the connection, and in the log when new members arrived unmapped)."""
    after = dimension_snapshot(db, entity_id)
    changed = differences(before, after)
    note_changes(db, workspace_id, connection_id, entity_id, entity_name, "dimensions", changed, run_id)
    created = create_members_by_rule(db, connection_id, entity_id)
    names = [name for made in created.values() for name in made]
    if names:
        audit.record(db, workspace_id, audit.REFRESH, "members.created_by_rule",
                     f"{len(names)} workspace member{'s' * (len(names) != 1)} created by rule: {', '.join(names)}.",
                     {"members": names, "entity_id": entity_id}, connection_id=connection_id)
    unmapped, names = unmapped_members(db, connection_id)
    db.execute(update(Connection).where(Connection.id == connection_id).values(unmapped=unmapped))
    still = set(names)
    arrived = [after[key][0] for key in after if key[0] and key not in before and after[key][0] in still] \
        if before else []
    if arrived:
        db.execute(insert(LogEvent).values(
            workspace_id=workspace_id, connection_id=connection_id, entity_id=entity_id, run_id=run_id,
            data_type="dimensions", status="needs_attention",
            detail=f"{len(arrived)} new member{'s are' if len(arrived) != 1 else ' is'} unmapped (landing on "
                   f"Unmapped): {', '.join(sorted(arrived)[:10])}."))


def accounts_loaded(db: Any, workspace_id: int, connection_id: int, entity_id: int, entity_name: str,
                    before: Snapshot, run_id: int | None) -> None:
    """After a refresh loaded an entity's chart: note what changed, place every account on the workspace chart
    (new ones by the rows, rules and rule for others), and count what lands on Unmapped (on the connection, and
    in the log when accounts arrived unmapped: "3 new accounts are unmapped")."""
    note_changes(db, workspace_id, connection_id, entity_id, entity_name, "accounts",
                 differences(before, account_snapshot(db, entity_id)), run_id)
    accounts_added(db, workspace_id, connection_id, entity_id, run_id)


def accounts_added(db: Any, workspace_id: int, connection_id: int, entity_id: int, run_id: int | None) -> None:
    """Accounts the entity's chart or its lines brought: placed, and counted when they land on Unmapped."""
    arrived = place_accounts(db, workspace_id, connection_id, entity_id).unmapped
    db.execute(update(Connection).where(Connection.id == connection_id)
               .values(unmapped=unmapped_members(db, connection_id)[0]))
    if arrived:
        count = len(arrived)
        db.execute(insert(LogEvent).values(
            workspace_id=workspace_id, connection_id=connection_id, entity_id=entity_id, run_id=run_id,
            data_type="accounts", status="needs_attention",
            detail=f"{count} new account{'s are' if count != 1 else ' is'} unmapped (landing on the Unmapped "
                   f"account): {', '.join(arrived[:10])}{' and more' if count > 10 else ''}."))


def unmapped_members(db: Any, connection_id: int) -> tuple[dict[str, Any], list[str]]:
    """What the connection shows as unmapped: provider members of mapped dimensions that land on Unmapped (no
    row, rule "unmapped"), provider dimensions not mapped at all, and accounts on the Unmapped account; and those
    members' names, all of them."""
    names = list(db.execute(
        select(SourceDimensionOption.name)
        .join(DimensionMapping, DimensionMapping.source_dimension_id == SourceDimensionOption.source_dimension_id)
        .outerjoin(MemberMapping, MemberMapping.source_option_id == SourceDimensionOption.id)
        .where(DimensionMapping.connection_id == connection_id, DimensionMapping.new_members == "unmapped",
               MemberMapping.id.is_(None)).order_by(SourceDimensionOption.name)).scalars())
    not_mapped = db.execute(
        select(func.count()).select_from(SourceDimension)
        .outerjoin(DimensionMapping, DimensionMapping.source_dimension_id == SourceDimension.id)
        .where(SourceDimension.connection_id == connection_id, DimensionMapping.id.is_(None))).scalar_one()
    accounts = unmapped_accounts(db, connection_id)
    return {"members": len(names), "names": names[:50], "dimensions_not_mapped": not_mapped,
            "accounts": len(accounts), "account_names": accounts[:50]}, names
