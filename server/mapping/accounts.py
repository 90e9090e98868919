"""Provider accounts onto the workspace's chart of accounts.

The workspace chart mirrors the providers' accounts by default (one workspace account per code, or per name
where there is no code). An admin maps provider accounts onto workspace accounts one-to-one or many-to-one with
explicit rows, and whole blocks of them by code range (6000-6999) or by code prefix. Every account lands
somewhere: its own row, else the first rule that matches, else the connection's rule for the others (mirror,
the Unmapped account, or a chosen account).

Where an account lands is kept on the provider's account row (`account.workspace_account_id`); a ledger line
keeps its provider account (`ledger_line.account_id`), so re-mapping changes a few account rows in the saving
transaction, and every loaded line follows at once, never half old and half new. Reports read a line's
workspace account through its provider account (`ledger_line.account_id` -> `account.workspace_account_id`).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from server.db.models import UNMAPPED, Account, AccountMapping, Connection, LedgerLine, WorkspaceAccount
from server.mapping.errors import Refused

NEW_ACCOUNTS = ("mirror", "unmapped", "account")
KINDS = ("range", "prefix")


# --- what a mapping says

@dataclass
class Target:
    """A workspace account: an existing one, or one to make (code and name) if none has that code and name."""

    workspace_account_id: int | None = None
    code: str = ""
    name: str = ""


@dataclass
class AccountRow:
    provider_account_id: int
    target: Target


@dataclass
class AccountRule:
    kind: str  # range, prefix
    target: Target
    code_from: str = ""
    code_to: str = ""
    prefix: str = ""

    def matches(self, code: str) -> bool:
        if not code:
            return False
        if self.kind == "prefix":
            return code.casefold().startswith(self.prefix.casefold())
        low, high = self.code_from, self.code_to
        if code.isdigit() and low.isdigit() and high.isdigit():
            return int(low) <= int(code) <= int(high)
        return low.casefold() <= code.casefold() <= high.casefold()


@dataclass
class AccountPlan:
    new_accounts: str = "mirror"
    new_accounts_target: Target | None = None  # rule "account" only
    rows: list[AccountRow] = field(default_factory=list)
    rules: list[AccountRule] = field(default_factory=list)


def account_name(code: str, name: str) -> str:
    return f"{code} {name}".strip()


# --- the workspace chart

def unmapped_account(db: Any, workspace_id: int) -> int:
    """The workspace's Unmapped account, made on first need."""
    found = db.execute(select(WorkspaceAccount.id).where(WorkspaceAccount.workspace_id == workspace_id,
                                                         WorkspaceAccount.is_unmapped)).scalar()
    if found is None:
        found = db.execute(insert(WorkspaceAccount).values(workspace_id=workspace_id, code="", name=UNMAPPED,
                                                           account_class="", is_unmapped=True)
                           .returning(WorkspaceAccount.id)).scalar_one()
    return found


def chart(db: Any, workspace_id: int) -> list[dict[str, Any]]:
    """The workspace chart, Unmapped first (there once a refresh or a save placed accounts), then by code."""
    rows = db.execute(select(WorkspaceAccount.id, WorkspaceAccount.code, WorkspaceAccount.name,
                             WorkspaceAccount.account_class, WorkspaceAccount.is_unmapped)
                      .where(WorkspaceAccount.workspace_id == workspace_id)).all()
    rows = sorted(rows, key=lambda r: (not r.is_unmapped, r.code.casefold(), r.name.casefold(), r.id))
    return [{"id": r.id, "code": r.code, "name": r.name, "account_class": r.account_class,
             "unmapped": r.is_unmapped} for r in rows]


class Mirror:
    """Finds or makes the workspace account mirroring a provider account: same code (or, with no code, same
    name). Made in one batch per placement."""

    def __init__(self, db: Any, workspace_id: int) -> None:
        self.db, self.workspace_id = db, workspace_id
        self.by_code: dict[str, int] = {}
        self.by_name: dict[str, int] = {}
        self._read()

    def _read(self) -> None:
        db, workspace_id = self.db, self.workspace_id
        for id_, code, name in db.execute(select(WorkspaceAccount.id, WorkspaceAccount.code, WorkspaceAccount.name)
                                          .where(WorkspaceAccount.workspace_id == workspace_id,
                                                 WorkspaceAccount.is_unmapped.is_(False))
                                          .order_by(WorkspaceAccount.id)):
            if code:
                self.by_code.setdefault(code.casefold(), id_)
            self.by_name.setdefault(account_name(code, name).casefold(), id_)

    def find(self, code: str, name: str) -> int | None:
        if code:
            return self.by_code.get(code.casefold())
        return self.by_name.get(name.casefold())

    def make(self, wanted: list[tuple[str, str, str]]) -> None:
        """Make the workspace accounts (code, name, class) that no existing one mirrors."""
        new: dict[str, tuple[str, str, str]] = {}
        for code, name, account_class in wanted:
            if self.find(code, name) is None:
                new.setdefault((code or name).casefold(), (code, name, account_class))
        if not new:
            return
        self.db.execute(insert(WorkspaceAccount), [
            {"workspace_id": self.workspace_id, "code": code, "name": name, "account_class": account_class,
             "is_unmapped": False} for code, name, account_class in new.values()])
        self._read()


# --- checking and saving a plan

def check(db: Any, workspace_id: int, connection_id: int, plan: AccountPlan, at: str = "accounts") -> None:
    """Refuse (422, naming the field) what is not this connection's or this workspace's, or a rule that
    matches nothing sensible."""
    if plan.new_accounts not in NEW_ACCOUNTS:
        raise Refused(422, "invalid_value", f"new_accounts is one of {', '.join(NEW_ACCOUNTS)}.", f"{at}.new_accounts")
    chart_ids = set(db.execute(select(WorkspaceAccount.id).where(WorkspaceAccount.workspace_id == workspace_id))
                    .scalars())
    if plan.new_accounts == "account":  # the request names that account by `new_accounts_account_id` alone
        target = plan.new_accounts_target
        if target is None or target.workspace_account_id not in chart_ids:
            raise Refused(422, "unknown_account", "Choose the workspace account other accounts land on."
                          if target is None else "No such workspace account.", f"{at}.new_accounts_account_id")
    accounts = set(db.execute(select(Account.id).where(Account.connection_id == connection_id)).scalars())
    seen: set[int] = set()
    for index, row in enumerate(plan.rows):
        where = f"{at}.rows.{index}"
        if row.provider_account_id not in accounts or row.provider_account_id in seen:
            raise Refused(422, "unknown_provider_account", "Not an account of this connection, or listed twice.",
                          f"{where}.provider_account_id")
        seen.add(row.provider_account_id)
        _check_target(row.target, chart_ids, where)
    for index, rule in enumerate(plan.rules):
        where = f"{at}.rules.{index}"
        if rule.kind not in KINDS:
            raise Refused(422, "invalid_value", f"kind is one of {', '.join(KINDS)}.", f"{where}.kind")
        if rule.kind == "prefix" and not rule.prefix:
            raise Refused(422, "prefix_needed", "Give the code prefix, such as 6.", f"{where}.prefix")
        if rule.kind == "range":
            if not rule.code_from or not rule.code_to:
                raise Refused(422, "range_needed", "Give the first and last code of the range, such as 6000 and "
                              "6999.", f"{where}.code_from" if not rule.code_from else f"{where}.code_to")
            numeric = rule.code_from.isdigit() and rule.code_to.isdigit()
            low, high = ((int(rule.code_from), int(rule.code_to)) if numeric
                         else (rule.code_from.casefold(), rule.code_to.casefold()))
            if low > high:
                raise Refused(422, "range_reversed", f"The range ends ({rule.code_to}) before it starts "
                              f"({rule.code_from}).", f"{where}.code_to")
        _check_target(rule.target, chart_ids, where)


def _check_target(target: Target, chart_ids: set[int], where: str) -> None:
    if target.workspace_account_id is not None:
        if target.workspace_account_id not in chart_ids:
            raise Refused(422, "unknown_account", "No such workspace account.", f"{where}.workspace_account_id")
    elif not target.name:
        raise Refused(422, "account_or_new", "Give workspace_account_id, or new_account with a name.", where)


def save(db: Session, workspace_id: int, connection_id: int, plan: AccountPlan) -> list[str]:
    """Replace the connection's account mapping with the plan (checked first). Returns the workspace accounts
    made for it. Where each account lands is re-derived by `place_accounts`, which the caller runs next."""
    check(db, workspace_id, connection_id, plan)
    targets = [row.target for row in plan.rows] + [rule.target for rule in plan.rules] + (
        [plan.new_accounts_target] if plan.new_accounts == "account" and plan.new_accounts_target else [])
    mirror = Mirror(db, workspace_id)
    wanted = [(t.code, t.name, "") for t in targets if t.workspace_account_id is None]
    made = [account_name(code, name) for code, name, _ in wanted if mirror.find(code, name) is None]
    mirror.make(wanted)

    def target_id(target: Target) -> int:
        if target.workspace_account_id is not None:
            return target.workspace_account_id
        return mirror.find(target.code, target.name)  # type: ignore[return-value]

    db.execute(delete(AccountMapping).where(AccountMapping.connection_id == connection_id))
    rows = [{"kind": "account", "account_id": row.provider_account_id, "code_from": "", "code_to": "", "prefix": "",
             "workspace_account_id": target_id(row.target)} for row in plan.rows]
    rows += [{"kind": rule.kind, "account_id": None, "code_from": rule.code_from if rule.kind == "range" else "",
              "code_to": rule.code_to if rule.kind == "range" else "", "prefix": rule.prefix if rule.kind == "prefix"
              else "", "workspace_account_id": target_id(rule.target)} for rule in plan.rules]
    if rows:
        db.execute(insert(AccountMapping), [{"workspace_id": workspace_id, "connection_id": connection_id,
                                             "position": position, **row} for position, row in enumerate(rows)])
    fallback = (target_id(plan.new_accounts_target) if plan.new_accounts == "account" and plan.new_accounts_target
                else None)
    db.execute(update(Connection).where(Connection.id == connection_id).values(
        new_accounts=plan.new_accounts, new_accounts_account_id=fallback))
    return sorted(set(made), key=str.casefold)


def saved(db: Any, connection_id: int) -> dict[str, Any]:
    """The connection's account mapping as saved, in the form a PUT takes back."""
    rule, fallback = db.execute(select(Connection.new_accounts, Connection.new_accounts_account_id)
                                .where(Connection.id == connection_id)).one()
    rows, rules = [], []
    for line in mapping_lines(db, connection_id):
        if line.kind == "account":
            rows.append({"provider_account_id": line.account_id, "workspace_account_id": line.workspace_account_id})
        elif line.kind == "range":
            rules.append({"kind": "range", "code_from": line.code_from, "code_to": line.code_to,
                          "workspace_account_id": line.workspace_account_id})
        else:
            rules.append({"kind": "prefix", "prefix": line.prefix, "workspace_account_id": line.workspace_account_id})
    return {"new_accounts": rule, "new_accounts_account_id": fallback, "rows": rows, "rules": rules}


def mapping_lines(db: Any, connection_id: int) -> list[Any]:
    """The connection's saved rows and rules, in order. Columns, not entities: `db` may be a Core connection."""
    table = AccountMapping.__table__
    return db.execute(select(table.c.kind, table.c.account_id, table.c.code_from, table.c.code_to, table.c.prefix,
                             table.c.workspace_account_id).where(table.c.connection_id == connection_id)
                      .order_by(table.c.position, table.c.id)).all()


# --- placing accounts

@dataclass
class Placed:
    changed: dict[int, tuple[int | None, int]] = field(default_factory=dict)  # account -> (before, after)
    unmapped: list[str] = field(default_factory=list)  # accounts newly on Unmapped, by code and name


def place_accounts(db: Any, workspace_id: int, connection_id: int, entity_id: int | None = None) -> Placed:
    """Put every account of the connection (or of one of its entities) where the saved mapping places it,
    inside the caller's transaction; mirror accounts are made as needed. `db`: a Session or a Core
    connection."""
    unmapped = unmapped_account(db, workspace_id)
    rule, fallback = db.execute(select(Connection.new_accounts, Connection.new_accounts_account_id)
                                .where(Connection.id == connection_id)).one()
    own: dict[int, int] = {}
    rules: list[tuple[AccountRule, int]] = []
    for line in mapping_lines(db, connection_id):
        if line.kind == "account":
            own[line.account_id] = line.workspace_account_id
        else:
            rules.append((AccountRule(line.kind, Target(line.workspace_account_id), line.code_from, line.code_to,
                                      line.prefix), line.workspace_account_id))
    where = [Account.connection_id == connection_id]
    if entity_id is not None:
        where.append(Account.entity_id == entity_id)
    accounts = db.execute(select(Account.id, Account.code, Account.name, Account.account_class,
                                 Account.workspace_account_id, Account.placed_by).where(*where)
                          .order_by(Account.id)).all()

    def by_rows(account) -> tuple[int | None, str]:
        if account.id in own:
            return own[account.id], "row"
        for candidate, target in rules:
            if candidate.matches(account.code):
                return target, candidate.kind
        if rule == "account" and fallback:
            return fallback, "rule"
        if rule == "unmapped":
            return unmapped, "unmapped"
        return None, "mirror"

    decided = [(account, *by_rows(account)) for account in accounts]
    mirror = Mirror(db, workspace_id)
    mirror.make([(a.code, a.name, a.account_class) for a, target, _ in decided if target is None])
    out = Placed()
    updates = []
    for account, target, how in decided:
        target = mirror.find(account.code, account.name) if target is None else target
        if (target, how) != (account.workspace_account_id, account.placed_by):
            updates.append({"b_id": account.id, "b_target": target, "b_how": how})
        if target != account.workspace_account_id:
            out.changed[account.id] = (account.workspace_account_id, target)
            if target == unmapped:
                out.unmapped.append(account_name(account.code, account.name))
    if updates:
        table = Account.__table__
        db.execute(update(table).where(table.c.id == bindparam("b_id"))
                   .values(workspace_account_id=bindparam("b_target"), placed_by=bindparam("b_how")), updates)
    return out


# --- what moved, and what is unmapped

@dataclass
class AccountsMoved:
    lines: int = 0
    accounts: int = 0
    moves: list[dict[str, Any]] = field(default_factory=list)  # from, to, lines: the largest first

    def sentence(self) -> str:
        if not self.accounts:
            return "No account changed place."
        where = "; ".join(f"{m['from']} → {m['to']} {m['lines']:,}" for m in self.moves[:8])
        more = f"; and {len(self.moves) - 8} more" if len(self.moves) > 8 else ""
        return (f"{self.accounts:,} account{'s' * (self.accounts != 1)} re-mapped, {self.lines:,} loaded "
                f"line{'s' * (self.lines != 1)} with {'them' if self.accounts != 1 else 'it'}"
                + (f": {where}{more}." if where else "."))


def lines_moved(db: Any, workspace_id: int, connection_id: int, placed: Placed) -> AccountsMoved:
    """How many of the connection's loaded lines follow the accounts that changed place, and where to."""
    if not placed.changed:
        return AccountsMoved()
    ids = list(placed.changed)
    per_account = Counter()
    for chunk in range(0, len(ids), 500):
        per_account.update(dict(db.execute(
            select(LedgerLine.account_id, func.count()).where(LedgerLine.connection_id == connection_id,
                                                              LedgerLine.account_id.in_(ids[chunk:chunk + 500]))
            .group_by(LedgerLine.account_id)).all()))
    counts: Counter[tuple[int | None, int]] = Counter()
    for account_id, lines in per_account.items():
        counts[placed.changed[account_id]] += lines
    names = {row["id"]: account_name(row["code"], row["name"]) for row in chart(db, workspace_id)}
    moves = [{"from": names.get(before, "(none)"), "to": names.get(after, "(none)"), "lines": lines}
             for (before, after), lines in counts.items() if lines]
    moves.sort(key=lambda move: (-move["lines"], move["from"], move["to"]))
    return AccountsMoved(sum(per_account.values()), len(placed.changed), moves)


def unmapped_accounts(db: Any, connection_id: int) -> list[str]:
    """The connection's accounts that land on the Unmapped account, by code and name."""
    return [account_name(code, name) for code, name in db.execute(
        select(Account.code, Account.name).join(WorkspaceAccount, WorkspaceAccount.id == Account.workspace_account_id)
        .where(Account.connection_id == connection_id, WorkspaceAccount.is_unmapped)
        .order_by(Account.code, Account.name))]
