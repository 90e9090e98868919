"""Reconciliation with the provider's trial balance: does the loaded ledger say what the provider says?"""
from __future__ import annotations

import calendar
import time
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from server.connectors.framework.errors import ProviderError
from server.connectors.framework.parsing import month_ends
from server.connectors.framework.records import TrialBalanceRow
from server.connectors.framework.streams import PullOptions, Stream
from server.db.engine import transaction
from server.db.models import Account, Entity, LedgerLine, TrialBalanceLine
from server.refresh.context import EntityScope, Run, commit_point
from server.refresh.outcomes import plain_reason
from server.store.ledger import Written, period_of, to_amount, upsert


def financial_year_start(period_end: date, year_end_month: int | None, year_end_day: int | None) -> date:
    """First day of the financial year that `period_end` falls in (calendar year when unknown)."""
    month, day = year_end_month or 12, year_end_day or 31

    def year_end(year: int) -> date:
        return date(year, month, min(day, calendar.monthrange(year, month)[1]))

    end = year_end(period_end.year)
    if period_end <= end:
        end = year_end(period_end.year - 1)
    return end + timedelta(days=1)


def _previous_month(period: date) -> date:
    return (period - timedelta(days=1)).replace(day=1)


PROFIT_AND_LOSS = frozenset({"revenue", "expense"})


def reconcile(run: Run, entity: EntityScope, stream: Stream, periods: set[date]) -> None:
    """For each month the run touched, compare every account's movement as loaded with the provider's.

    The provider's movement for a month is its trial balance's month column where the report has one
    (TrialBalanceRow.month_movement); otherwise the year-to-date column at that month's end less the one a
    month earlier, read per account class: a revenue or expense account starts each financial year from
    zero, an asset, liability or equity account carries its balance across years. Reading only the touched
    months (and, without month columns, the months before them) keeps the cost with the change, not the
    history."""
    started, calls = time.monotonic(), []
    with run.sessions() as session:
        year_end = session.execute(select(Entity.year_end_month, Entity.year_end_day)
                                   .where(Entity.id == entity.id)).one()
    opening = {p for p in periods if financial_year_start(month_ends(p, p)[0], *year_end) == p}
    try:
        lines = _pull(run, entity, stream, sorted(periods), calls)
        if any(line.month_movement is None for line in lines):
            before = sorted({_previous_month(p) for p in periods} - set(periods))
            lines += _pull(run, entity, stream, before, calls)
    except ProviderError as error:
        run.log(entity, "trial_balance", "failed", Written(), calls, started, detail=plain_reason(error))
        raise
    with transaction(run.sessions) as session:
        db = session.connection()
        rows = [{"workspace_id": run.workspace_id, "connection_id": run.connection_id, "entity_id": entity.id,
                 "period": period_of(line.period_end), "source_account_id": line.account_id,
                 "account_code": line.account_code or "", "account_name": line.account_name,
                 "debit": to_amount(line.debit), "credit": to_amount(line.credit),
                 "ytd_net": to_amount(line.year_to_date),
                 "run_id": run.id} for line in lines]
        written = _write_trial_balance(db, entity, rows)
        commit_point(db, run, entity=entity.name, stream=stream.name)
    mismatches = _compare(run, entity, sorted(periods), opening, lines)
    run.mismatches.extend(mismatches)
    if mismatches:
        listed = "; ".join(f"{m['period']} {m['account_code'] or m['account_name']}: loaded {m['loaded']}, "
                           f"provider {m['provider']}" for m in mismatches[:10])
        detail = (f"Needs attention: {len(mismatches)} account-month(s) differ from the provider's trial "
                  f"balance. {listed}.")
    else:
        detail = f"Reconciled {len(periods)} month(s) with the provider's trial balance: every account agrees."
    run.log(entity, "trial_balance", "needs_attention" if mismatches else "succeeded", written, calls, started,
            detail=detail)


def _write_trial_balance(db: Any, entity: EntityScope, rows: list[dict[str, Any]]) -> Written:
    """Every month's trial balance of the run at once: one read of the rows kept for those months, one insert of
    the new and one update of the changed. Month by month, a first load of three years made 72 round trips here."""
    table = TrialBalanceLine.__table__
    return upsert(db, table, rows, key=("period", "source_account_id"), scope={"entity_id": entity.id},
                  among=[table.c.period.in_({row["period"] for row in rows})])


def _pull(run: Run, entity: EntityScope, stream: Stream, periods: list[date],
          calls: list) -> list[TrialBalanceRow]:
    """The provider's trial balance at each of these months' ends."""
    if not periods:
        return []
    options: PullOptions = {"period_ends": [month_ends(p, p)[0].isoformat() for p in periods]}
    lines = [line for page in run.connector.pull(stream, token=run.token, tenant_id=entity.provider_entity_id,
                                                 options=options, log=calls)
             for line in page.records]
    run.pages += len(periods)
    return lines


def _provider_movements(periods: list[date], opening: set[date], provider_lines: list[TrialBalanceRow],
                        classes: dict[str, str]) -> dict[tuple[str, date], Decimal]:
    """Each account's movement per touched month, as the provider's trial balance says it. A report leaves
    out accounts with nothing to show, so an account missing at a month end is zero there."""
    month: dict[tuple[str, date], Decimal] = defaultdict(Decimal)
    ytd: dict[tuple[str, date], Decimal] = defaultdict(Decimal)
    monthly = all(line.month_movement is not None for line in provider_lines)
    for line in provider_lines:
        key = (line.account_id, period_of(line.period_end))
        ytd[key] += to_amount(line.year_to_date)
        if line.month_movement is not None:
            month[key] += to_amount(line.month_movement)
        if line.account_class:
            classes[line.account_id] = line.account_class
    expected: dict[tuple[str, date], Decimal] = {}
    for account_id in {account for account, _ in ytd}:
        carries = (classes.get(account_id) or "").lower() not in PROFIT_AND_LOSS
        for period in periods:
            if monthly:
                expected[(account_id, period)] = month.get((account_id, period), Decimal(0))
                continue
            starts_at_zero = period in opening and not carries
            before = Decimal(0) if starts_at_zero else ytd.get((account_id, _previous_month(period)), Decimal(0))
            expected[(account_id, period)] = ytd.get((account_id, period), Decimal(0)) - before
    return expected


def closed_profit(opening: set[date], provider_lines: list[TrialBalanceRow],
                  classes: dict[str, str]) -> dict[date, Decimal]:
    """For each financial year's first month, the profit of the year just closed (revenue and expense accounts'
    year to date at the month before), which the report's retained earnings take on without any journal."""
    closed: dict[date, Decimal] = defaultdict(Decimal)
    before = {_previous_month(p): p for p in opening}
    for line in provider_lines:
        period = before.get(period_of(line.period_end))
        if period is not None and (line.account_class or classes.get(line.account_id) or "").lower() in PROFIT_AND_LOSS:
            closed[period] += to_amount(line.year_to_date)
    return {period: amount for period, amount in closed.items() if amount}


def _compare(run: Run, entity: EntityScope, periods: list[date], opening: set[date],
             provider_lines: list[TrialBalanceRow]) -> list[dict[str, Any]]:
    names: dict[str, tuple[str, str]] = {line.account_id: (line.account_code or "", line.account_name)
                                         for line in provider_lines}
    with run.sessions() as session:
        classes = dict(session.execute(select(Account.source_account_id, Account.account_class)
                                       .where(Account.entity_id == entity.id)).all())
    expected = _provider_movements(periods, opening, provider_lines, classes)
    # Sum the lines first and name the accounts after: joined first, a planner without statistics for
    # a freshly loaded table (autovacuum has not analysed it yet) chose a nested loop, 3 s at 1M lines.
    sums = (select(LedgerLine.account_id, LedgerLine.period, func.sum(LedgerLine.amount).label("total"))
            .where(LedgerLine.workspace_id == run.workspace_id, LedgerLine.period.in_(periods),
                   LedgerLine.entity_id == entity.id)
            .group_by(LedgerLine.account_id, LedgerLine.period).subquery())
    with run.sessions() as session:
        monthly = session.execute(
            select(Account.source_account_id, Account.code, Account.name, sums.c.period, sums.c.total)
            .join(Account, Account.id == sums.c.account_id)).all()
    loaded = {}
    for account_id, code, name, period, total in monthly:
        names.setdefault(account_id, (code, name))
        loaded[(account_id, period)] = total
    if not all(line.month_movement is not None for line in provider_lines):
        # Read from year-to-date columns, one equity account (retained earnings) moves at a year's start by the
        # profit of the year closed, which no journal posts: that account is the one off by exactly that.
        for period, profit in closed_profit(opening, provider_lines, classes).items():
            off = [key for key, amount in expected.items() if key[1] == period
                   and (classes.get(key[0]) or "").lower() == "equity" and amount - loaded.get(key, 0) == profit]
            if len(off) == 1:
                expected[off[0]] -= profit
    mismatches = []
    for key in sorted(set(expected) | set(loaded), key=lambda k: (k[1], names.get(k[0], ("", ""))[0])):
        ours, theirs = loaded.get(key, Decimal(0)), expected.get(key, Decimal(0))
        if ours != theirs:
            code, name = names.get(key[0], ("", key[0]))
            mismatches.append({"entity": entity.name, "period": key[1].isoformat()[:7], "account_code": code,
                               "account_name": name, "loaded": str(ours), "provider": str(theirs),
                               "difference": str(ours - theirs)})
    return mismatches
