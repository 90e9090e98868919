"""What the provider's trial balance says an account moved in a month, read per account class."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import event, select

from server.connectors.framework.records import TrialBalanceRow
from server.db.models import Connection, Entity, RefreshRun, TrialBalanceLine
from server.refresh.context import EntityScope
from server.refresh.reconcile import _provider_movements, _write_trial_balance, closed_profit, financial_year_start
from server.store.ledger import Written

JUNE, JULY = date(2026, 6, 1), date(2026, 7, 1)  # a financial year ending 30 June: July opens the next one


def row(account: str, period_end: date, ytd: str, month: str | None = None, account_class: str | None = None):
    return TrialBalanceRow(period_end=period_end, account_id=account, account_code=account, account_name=account,
                           year_to_date=Decimal(ytd), debit=Decimal(0), credit=Decimal(0),
                           month_movement=None if month is None else Decimal(month), account_class=account_class)


def test_the_financial_year_starts_the_day_after_its_end():
    assert financial_year_start(date(2026, 7, 31), 6, 30) == JULY
    assert financial_year_start(date(2026, 6, 30), 6, 30) == date(2025, 7, 1)
    assert financial_year_start(date(2026, 3, 31), None, None) == date(2026, 1, 1)


def test_month_columns_are_the_movement_whatever_the_class():
    lines = [row("bank", date(2026, 7, 31), "5000", month="120", account_class="asset"),
             row("sales", date(2026, 7, 31), "-300", month="-300", account_class="revenue")]
    assert _provider_movements([JULY], {JULY}, lines, {}) == {("bank", JULY): 120, ("sales", JULY): -300}


def test_without_month_columns_a_balance_sheet_account_carries_its_balance_into_the_new_year():
    lines = [row("bank", date(2026, 6, 30), "4880"), row("bank", date(2026, 7, 31), "5000"),
             row("sales", date(2026, 6, 30), "-9000"), row("sales", date(2026, 7, 31), "-300")]
    classes = {"bank": "asset", "sales": "revenue"}
    # Read as if every account restarted at zero, the bank's opening balance would be flagged as July's movement.
    assert _provider_movements([JULY], {JULY}, lines, classes) == {("bank", JULY): 120, ("sales", JULY): -300}


def test_without_month_columns_a_profit_and_loss_account_moves_by_its_ytd_difference_within_a_year():
    lines = [row("sales", date(2026, 5, 31), "-8000", account_class="revenue"),
             row("sales", date(2026, 6, 30), "-9000", account_class="revenue")]
    assert _provider_movements([JUNE], set(), lines, {}) == {("sales", JUNE): -1000}


def test_an_account_the_report_leaves_out_moved_nothing_that_month():
    lines = [row("bank", date(2026, 6, 30), "4880", account_class="asset")]
    assert _provider_movements([JUNE, JULY], set(), lines, {}) == {("bank", JUNE): 4880, ("bank", JULY): -4880}


def test_a_years_first_month_knows_the_profit_the_closed_year_left_to_retained_earnings():
    lines = [row("sales", date(2026, 6, 30), "-9000", account_class="revenue"),
             row("rent", date(2026, 6, 30), "2500", account_class="expense"),
             row("bank", date(2026, 6, 30), "6500", account_class="asset"),
             row("earnings", date(2026, 7, 31), "-6500", account_class="equity")]
    assert closed_profit({JULY}, lines, {}) == {JULY: Decimal(-6500)}
    assert closed_profit(set(), lines, {}) == {}


@pytest.fixture
def two_entities(db, workspace):
    """(run ids, entity scopes): two organisations of one connection and two of its runs."""
    with db.sessions.begin() as session:
        connection = Connection(workspace_id=workspace.id, provider="xero", name="Acme")
        entities = [Entity(workspace_id=workspace.id, connection=connection, provider_entity_id=f"t-{n}",
                           name=f"Acme {n}") for n in (1, 2)]
        session.add_all(entities)
        session.flush()
        runs = [RefreshRun(workspace_id=workspace.id, connection_id=connection.id, trigger="manual") for _ in (1, 2)]
        session.add_all(runs)
        session.flush()
        return [r.id for r in runs], [EntityScope(e.id, e.provider_entity_id, e.name, None) for e in entities]


def trial_balance(db, entity: EntityScope, run_id: int, period: date, account: str, debit: str) -> dict:
    with db.sessions() as session:
        kept_by = session.get(Entity, entity.id)
        workspace_id, connection_id = kept_by.workspace_id, kept_by.connection_id
    return {"workspace_id": workspace_id, "connection_id": connection_id, "entity_id": entity.id, "period": period,
            "source_account_id": account, "account_code": account, "account_name": account.title(),
            "debit": Decimal(debit), "credit": Decimal(0), "ytd_net": Decimal(debit), "run_id": run_id}


def kept(db) -> dict:
    with db.sessions() as session:
        return {(r.entity_id, r.period, r.source_account_id): (r.debit, r.ytd_net, r.run_id)
                for r in session.scalars(select(TrialBalanceLine))}


def test_a_runs_trial_balance_is_written_at_once_new_rows_added_changed_ones_updated_the_rest_left(db, two_entities):
    (first_run, second_run), (acme, other) = two_entities
    first = [trial_balance(db, acme, first_run, JUNE, "bank", "100.0001"),
             trial_balance(db, acme, first_run, JUNE, "sales", "0"),
             trial_balance(db, acme, first_run, JULY, "bank", "12345678901234.5678"),
             trial_balance(db, other, first_run, JULY, "bank", "7")]
    with db.engine.begin() as connection:
        assert _write_trial_balance(connection, acme, first[:3]) == Written(3, 0)
        assert _write_trial_balance(connection, other, first[3:]) == Written(1, 0)
    assert kept(db)[(acme.id, JULY, "bank")] == (Decimal("12345678901234.5678"),) * 2 + (first_run,)

    again = [{**row, "run_id": second_run} for row in first[:3]]
    again[2] = {**again[2], "debit": Decimal("12345678901234.5679"), "ytd_net": Decimal("12345678901234.5679")}
    again.append({**again[0], "period": JULY, "source_account_id": "rent"})
    with db.engine.begin() as connection:
        statements = []
        event.listen(connection, "before_cursor_execute", lambda *call: statements.append(call[2].split()[0]))
        assert _write_trial_balance(connection, acme, again) == Written(1, 1)
    assert statements == ["SELECT", "INSERT", "UPDATE"], "one read and one write of each kind, whatever the months"
    after = kept(db)
    assert after[(acme.id, JUNE, "bank")] == (Decimal("100.0001"), Decimal("100.0001"), first_run), "unchanged: kept"
    assert after[(acme.id, JULY, "bank")] == (Decimal("12345678901234.5679"),) * 2 + (second_run,)
    assert after[(acme.id, JULY, "rent")] == (Decimal("100.0001"), Decimal("100.0001"), second_run)
    assert after[(other.id, JULY, "bank")] == (Decimal(7), Decimal(7), first_run), "another entity's month untouched"
    assert len(after) == 5
