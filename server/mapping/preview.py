"""What a mapping does to the loaded lines, per workspace dimension, period and member (Unmapped included):
lines and amount in base currency now, and under the routing given (a proposed mapping, saved inside a
transaction the caller rolls back, or the saved one). Read grouped by combination of provider values, as the
re-application reads them, so the figures are the ones a save produces."""
from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from server.db.models import Account, Dimension, DimensionMember, LedgerLine, WorkspaceAccount
from server.mapping.accounts import account_name
from server.mapping.apply import SLOTS, routings
from server.mapping.routing import Routing

ZERO = Decimal("0.0000")


def figures(db: Any, workspace_id: int, connection_id: int, new_members: set[int] = frozenset()) -> dict[str, Any]:
    """Per dimension: rows of period x member with lines and amount now and as the current routing places them.
    `new_members`: member ids that only exist in the proposal (shown as new)."""
    routed = routings(db, workspace_id, connection_id)
    now: dict[tuple[int, str, int | None], list] = defaultdict(lambda: [0, ZERO])
    then: dict[tuple[int, str, int | None], list] = defaultdict(lambda: [0, ZERO])
    targets: dict[tuple[int, str], tuple] = {}
    moving = 0
    groups = db.execute(select(LedgerLine.entity_id, LedgerLine.source_dimensions, LedgerLine.period, *SLOTS,
                               func.count(), func.sum(LedgerLine.amount_base))
                        .where(LedgerLine.connection_id == connection_id)
                        .group_by(LedgerLine.entity_id, LedgerLine.source_dimensions, LedgerLine.period, *SLOTS))
    for entity_id, text, period, dim1, dim2, dim3, dim4, lines, amount in groups:
        key = (entity_id, text)
        target = targets.get(key)
        if target is None:
            target = targets[key] = routed.get(entity_id, Routing()).members_for_text(text)
        current = (dim1, dim2, dim3, dim4)
        moving += lines if current != target else 0
        month = period.isoformat()[:7]
        for slot in range(4):
            for table, member in ((now, current[slot]), (then, target[slot])):
                cell = table[(slot, month, member)]
                cell[0] += lines
                cell[1] += amount or ZERO
    return {"lines_moving": moving, "dimensions": _by_dimension(db, workspace_id, now, then, new_members)}


def _by_dimension(db: Any, workspace_id: int, now: dict, then: dict, new_members: set[int]) -> list[dict[str, Any]]:
    dimensions = db.execute(select(Dimension.position, Dimension.id, Dimension.name)
                            .where(Dimension.workspace_id == workspace_id)
                            .order_by(Dimension.display_order, Dimension.position)).all()
    members = {row.id: row for row in db.execute(
        select(DimensionMember.id, DimensionMember.name, DimensionMember.is_unmapped)
        .join(Dimension).where(Dimension.workspace_id == workspace_id))}
    out = []
    for position, dimension_id, name in dimensions:
        slot = position - 1
        keys = sorted({key for key in (*now, *then) if key[0] == slot and key[2] is not None},
                      key=lambda key: (key[1], not members[key[2]].is_unmapped if key[2] in members else True,
                                       members[key[2]].name.lower() if key[2] in members else ""))
        rows = []
        for key in keys:
            _, month, member_id = key
            member = members.get(member_id)
            lines_now, amount_now = now.get(key, (0, ZERO))
            lines, amount = then.get(key, (0, ZERO))
            rows.append({"period": month, "member_id": None if member_id in new_members else member_id,
                         "member": member.name if member else "(deleted)", "unmapped": bool(member and
                                                                                            member.is_unmapped),
                         "new": member_id in new_members, "lines": lines, "amount": str(amount),
                         "lines_now": lines_now, "amount_now": str(amount_now),
                         "lines_change": lines - lines_now, "amount_change": str(amount - amount_now)})
        out.append({"id": dimension_id, "name": name, "rows": rows})
    return out


def placed_accounts(db: Any, connection_id: int) -> dict[int, int | None]:
    """Where each of the connection's accounts lands now: provider account id -> workspace account id."""
    return dict(db.execute(select(Account.id, Account.workspace_account_id)
                           .where(Account.connection_id == connection_id)).all())


def account_figures(db: Any, workspace_id: int, connection_id: int, before: dict[int, int | None],
                    after: dict[int, int | None], new_accounts: set[int] = frozenset()) -> dict[str, Any]:
    """Per period and workspace account (Unmapped included): lines and amount in base currency with the accounts
    placed as in `before` (now) and as in `after` (the proposal), read grouped by provider account and period."""
    now: dict[tuple[str, int | None], list] = defaultdict(lambda: [0, ZERO])
    then: dict[tuple[str, int | None], list] = defaultdict(lambda: [0, ZERO])
    moving = 0
    for account_id, period, lines, amount in db.execute(
            select(LedgerLine.account_id, LedgerLine.period, func.count(), func.sum(LedgerLine.amount_base))
            .where(LedgerLine.connection_id == connection_id)
            .group_by(LedgerLine.account_id, LedgerLine.period)):
        month = period.isoformat()[:7]
        was, will = before.get(account_id), after.get(account_id)
        moving += lines if was != will else 0
        for table, target in ((now, was), (then, will)):
            cell = table[(month, target)]
            cell[0] += lines
            cell[1] += amount or ZERO
    accounts = {row.id: row for row in db.execute(
        select(WorkspaceAccount.id, WorkspaceAccount.code, WorkspaceAccount.name, WorkspaceAccount.is_unmapped)
        .where(WorkspaceAccount.workspace_id == workspace_id))}

    def order(key: tuple[str, int | None]) -> tuple:
        account = accounts.get(key[1])
        return (key[0], not account.is_unmapped if account else True,
                (account.code.casefold(), account.name.casefold()) if account else ("", ""))

    rows = []
    for key in sorted({*now, *then}, key=order):
        month, account_id = key
        account = accounts.get(account_id)
        lines_now, amount_now = now.get(key, (0, ZERO))
        lines, amount = then.get(key, (0, ZERO))
        rows.append({"period": month, "workspace_account_id": None if account_id in new_accounts else account_id,
                     "account": account_name(account.code, account.name) if account else "(none)",
                     "unmapped": bool(account and account.is_unmapped), "new": account_id in new_accounts,
                     "lines": lines, "amount": str(amount), "lines_now": lines_now, "amount_now": str(amount_now),
                     "lines_change": lines - lines_now, "amount_change": str(amount - amount_now)})
    return {"lines_moving": moving, "rows": rows}
