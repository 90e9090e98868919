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


def reconcile(run: Run, entity: EntityScope, stream: Stream, periods: set[date]) -> None:
    """For each month the run touched, compare every account's movement as loaded with the provider's:
    its trial balance's year-to-date column at that month's end, less the one a month earlier (within the
    same financial year). YTD columns mean the same whichever way a provider presents its balance
    columns, and reading only the touched months keeps the cost with the change, not the history."""
    started, calls = time.monotonic(), []
    with run.sessions() as session:
        year_end = session.execute(select(Entity.year_end_month, Entity.year_end_day)
                                   .where(Entity.id == entity.id)).one()
    opening = {p for p in periods if financial_year_start(month_ends(p, p)[0], *year_end) == p}
    wanted = sorted(set(periods) | {_previous_month(p) for p in periods if p not in opening})
    ends = [month_ends(p, p)[0].isoformat() for p in wanted]
    try:
        options: PullOptions = {"period_ends": ends}
        lines: list[TrialBalanceRow] = [
            line for page in run.connector.pull(stream, token=run.token, tenant_id=entity.provider_entity_id,
                                                options=options, log=calls)
            for line in page.records]
    except ProviderError as error:
        run.log(entity, "trial_balance", "failed", Written(), calls, started, detail=plain_reason(error))
        raise
    run.pages += len(ends)
    with transaction(run.sessions) as session:
        db = session.connection()
        rows = [{"workspace_id": run.workspace_id, "connection_id": run.connection_id, "entity_id": entity.id,
                 "period": period_of(line.period_end), "source_account_id": line.account_id,
                 "account_code": line.account_code or "", "account_name": line.account_name,
                 "debit": to_amount(line.debit), "credit": to_amount(line.credit),
                 "ytd_net": to_amount(line.year_to_date),
                 "run_id": run.id} for line in lines]
        written = Written()
        for period in sorted({r["period"] for r in rows}):
            written += upsert(db, TrialBalanceLine.__table__, [r for r in rows if r["period"] == period],
                              key=("source_account_id",), scope={"entity_id": entity.id, "period": period})
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


def _compare(run: Run, entity: EntityScope, periods: list[date], opening: set[date],
             provider_lines: list[TrialBalanceRow]) -> list[dict[str, Any]]:
    ytd: dict[tuple[str, date], Decimal] = defaultdict(Decimal)
    names: dict[str, tuple[str, str]] = {}
    for line in provider_lines:
        ytd[(line.account_id, period_of(line.period_end))] += to_amount(line.year_to_date)
        names[line.account_id] = (line.account_code or "", line.account_name)
    # A report leaves out accounts with nothing to show, so an account missing at a month end is zero there.
    expected: dict[tuple[str, date], Decimal] = {}
    for account_id in {account for account, _ in ytd}:
        for period in periods:
            before = Decimal(0) if period in opening else ytd.get((account_id, _previous_month(period)), Decimal(0))
            expected[(account_id, period)] = ytd.get((account_id, period), Decimal(0)) - before
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
    mismatches = []
    for key in sorted(set(expected) | set(loaded), key=lambda k: (k[1], names.get(k[0], ("", ""))[0])):
        ours, theirs = loaded.get(key, Decimal(0)), expected.get(key, Decimal(0))
        if ours != theirs:
            code, name = names.get(key[0], ("", key[0]))
            mismatches.append({"entity": entity.name, "period": key[1].isoformat()[:7], "account_code": code,
                               "account_name": name, "loaded": str(ours), "provider": str(theirs),
                               "difference": str(ours - theirs)})
    return mismatches
