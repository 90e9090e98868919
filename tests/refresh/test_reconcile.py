"""What the provider's trial balance says an account moved in a month, read per account class."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from server.connectors.framework.records import TrialBalanceRow
from server.refresh.reconcile import _provider_movements, closed_profit, financial_year_start

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
