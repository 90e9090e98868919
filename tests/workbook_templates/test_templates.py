"""The report templates, evaluated: their Actuals table filled with a sandbox organisation's monthly totals (the
summary shape the pane loads), the formulas computed by pycel (it reads SUMIFS over structured references), and the
results checked against the organisation's ground truth (net movement per account and month)."""
from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from pycel import ExcelCompiler

from server.sandbox.data import generate_organisation
from server.workbook.templates import TEMPLATES, template_bytes
from workbook_templates.build import build, write_actuals

HISTORY_END = datetime(2025, 9, 30, tzinfo=UTC)
YEAR_START = date(2024, 10, 1)  # twelve months the history covers in full


class Ledger:
    """One organisation: its accounts and the ground truth, net cents per (account id, YYYY-MM)."""

    def __init__(self, index: int) -> None:
        self.organisation = generate_organisation(index, seed=11, lines=1000,
                                                  end_ms=int(HISTORY_END.timestamp() * 1000))
        self.accounts = {account.account_id: account for account in self.organisation.accounts}
        self.truth = self.organisation.net_movements()

    @property
    def entity(self) -> str:
        return self.organisation.name

    def actuals(self) -> list[list]:
        """Actuals rows as the summary load writes them (debit positive), one per account and month."""
        return [[self.entity, date.fromisoformat(f"{month}-01"), self.accounts[account_id].code,
                 self.accounts[account_id].name, self.accounts[account_id].type,
                 self.accounts[account_id].account_class.lower(), cents / 100,
                 self.organisation.profile.base_currency, "Sandbox"]
                for (account_id, month), cents in self.truth.items()]

    def total(self, keep) -> Decimal:
        """Sum of the ground truth over the (account, month) pairs `keep` accepts, in currency units."""
        return Decimal(sum(cents for (account_id, month), cents in self.truth.items()
                           if keep(self.accounts[account_id], month))) / 100


@pytest.fixture(scope="module")
def ledgers() -> list[Ledger]:
    return [Ledger(0), Ledger(1)]


def table_rows(ledgers: list[Ledger], reported: Ledger, since: date = date.min, until: date = date.max) -> list[list]:
    """The reported entity's rows between two months (what the report reads), and another entity's over months
    every report reads (the formulas must leave them out), kept few: pycel's time grows with the table."""
    others = [row for ledger in ledgers if ledger is not reported for row in ledger.actuals()
              if date(2024, 12, 1) <= row[1] <= date(2025, 3, 1)]
    return [row for row in reported.actuals() if since <= row[1] <= until] + others


def evaluated(tmp_path: Path, name: str, rows: list[list], inputs: dict[str, object]) -> tuple[ExcelCompiler,
                                                                                                    str]:
    """The template as served, its Actuals table replaced by the ledgers' rows and its inputs set."""
    template = next(t for t in TEMPLATES if t.name == name)
    path = tmp_path / f"{name}.xlsx"
    path.write_bytes(template_bytes(template))
    book = openpyxl.load_workbook(path)
    write_actuals(book["Actuals"], rows)
    for address, value in inputs.items():
        book[template.sheet][address] = value
    book.save(path)
    return ExcelCompiler(filename=str(path)), f"'{template.sheet}'!"


def money(value) -> Decimal:
    return Decimal(str(round(float(value), 2)))


def month_of(offset: int) -> str:
    year, month = divmod(YEAR_START.month - 1 + offset, 12)
    return f"{YEAR_START.year + year}-{month + 1:02d}"


def test_profit_and_loss_by_month_equals_the_ground_truth(tmp_path, ledgers):
    ledger = ledgers[1]
    excel, sheet = evaluated(tmp_path, "profit-and-loss-by-month",
                             table_rows(ledgers, ledger, YEAR_START, date(2025, 9, 1)),
                             {"B4": ledger.entity, "B5": YEAR_START})
    months = "EFGHIJKLMNOP"
    exercised = set()
    for offset, column in enumerate(months):
        month = month_of(offset)

        def moved(account_class, low="", high="\uffff", month=month):
            return ledger.total(lambda account, m: m == month and account.account_class == account_class
                                and low <= account.code <= high)

        revenue, expenses = -moved("REVENUE"), moved("EXPENSE")
        cost_of_sales, operating = moved("EXPENSE", "300", "399"), moved("EXPENSE", "400", "499")
        exercised |= {name for name, value in (("revenue", revenue), ("cost of sales", cost_of_sales),
                                               ("operating", operating)) if value}
        assert money(excel.evaluate(f"{sheet}{column}8")) == revenue, month
        assert money(excel.evaluate(f"{sheet}{column}9")) == cost_of_sales, month
        assert money(excel.evaluate(f"{sheet}{column}10")) == revenue - cost_of_sales, month
        assert money(excel.evaluate(f"{sheet}{column}11")) == operating, month
        assert money(excel.evaluate(f"{sheet}{column}12")) == expenses - cost_of_sales - operating, month
        assert money(excel.evaluate(f"{sheet}{column}13")) == revenue - expenses, month
    assert exercised == {"revenue", "cost of sales", "operating"}, "the ground truth should exercise every line"
    year = {month_of(offset) for offset in range(12)}
    assert money(excel.evaluate(f"{sheet}Q13")) == -ledger.total(
        lambda account, m: m in year and account.account_class in ("REVENUE", "EXPENSE"))


@pytest.mark.parametrize("month_end, year_start_month", [(date(2025, 6, 1), 1), (date(2025, 6, 1), 7)])
def test_balance_sheet_balances_and_equals_the_ground_truth(tmp_path, ledgers, month_end, year_start_month):
    ledger = ledgers[0]
    excel, sheet = evaluated(tmp_path, "balance-sheet", table_rows(ledgers, ledger, until=month_end),
                             {"B4": ledger.entity, "B5": month_end, "B6": year_start_month})
    end = month_end.isoformat()[:7]
    first_year = month_end.year - (month_end.month < year_start_month)
    year_start = f"{first_year}-{year_start_month:02d}"

    def balance(*classes, since="0000-00", until=end):
        return ledger.total(lambda account, m: account.account_class in classes and since <= m <= until)

    assets, liabilities, equity = balance("ASSET"), -balance("LIABILITY"), -balance("EQUITY")
    current_year = -balance("REVENUE", "EXPENSE", since=year_start)
    earlier = -balance("REVENUE", "EXPENSE", until=f"{first_year - 1}-{year_start_month:02d}")
    if year_start_month == 1:
        earlier = -balance("REVENUE", "EXPENSE", until=f"{first_year - 1}-12")
    assert assets and liabilities and current_year and earlier
    assert money(excel.evaluate(f"{sheet}B10")) == assets
    assert money(excel.evaluate(f"{sheet}B12")) == liabilities
    assert money(excel.evaluate(f"{sheet}B14")) == equity
    assert money(excel.evaluate(f"{sheet}B16")) == current_year
    assert money(excel.evaluate(f"{sheet}B19")) == liabilities + equity + current_year + money(
        excel.evaluate(f"{sheet}B15"))
    assert assets == liabilities + equity + current_year + money(excel.evaluate(f"{sheet}B15"))
    assert money(excel.evaluate(f"{sheet}B21")) == 0


def test_trial_balance_lists_each_account_and_shows_what_is_missing(tmp_path, ledgers):
    ledger = ledgers[1]
    month_end = date(2025, 3, 1)
    codes = sorted({account.code for account in ledger.accounts.values()})
    sample = openpyxl.load_workbook(Path(build.__code__.co_filename).parent / "trial-balance.xlsx")["Trial Balance"]
    total_row = next(row for row in range(8, sample.max_row + 1) if sample.cell(row, 1).value == "Total")
    assert total_row - 8 >= len(codes), "room for the whole chart"
    listed = {f"A{row}": None for row in range(8, total_row)}  # the user's list: the chart but the bank account
    listed.update({f"A{8 + offset}": code for offset, code in enumerate(codes) if code != "090"})
    rows = table_rows(ledgers, ledger, until=month_end)
    excel, sheet = evaluated(tmp_path, "trial-balance", rows,
                             {"B4": ledger.entity, "B5": month_end, **listed})
    by_code = defaultdict(Decimal)
    for account in ledger.accounts.values():
        by_code[account.code] += ledger.total(lambda a, m, account=account: a is account and m <= "2025-03")
    debits = credits = Decimal(0)
    for offset, code in enumerate(codes):
        row = 8 + offset
        debit, credit = money(excel.evaluate(f"{sheet}C{row}")), money(excel.evaluate(f"{sheet}D{row}"))
        expected = Decimal(0) if code == "090" else by_code[code]
        assert (debit, credit) == (max(expected, 0), max(-expected, 0)), code
        debits, credits = debits + debit, credits + credit
        if code != "090":  # the name comes from the table: none for an account without a movement
            named = next((r[3] for r in rows if r[2] == code), "")
            assert excel.evaluate(f"{sheet}B{row}") == named, code
    assert (money(excel.evaluate(f"{sheet}C{total_row}")), money(excel.evaluate(f"{sheet}D{total_row}"))) == (
        debits, credits)
    assert money(excel.evaluate(f"{sheet}C{total_row + 1}")) == -by_code["090"] != 0


def test_the_build_is_reproducible_and_matches_the_committed_files(tmp_path):
    built = build(tmp_path)
    for path in built:
        committed = Path(build.__code__.co_filename).parent / path.name
        assert path.read_bytes() == committed.read_bytes(), f"{path.name}: run python -m workbook_templates.build"


def test_templates_read_nothing_but_the_actuals_table():
    for template in TEMPLATES:
        book = openpyxl.load_workbook(Path(build.__code__.co_filename).parent / f"{template.name}.xlsx")
        assert book.sheetnames == [template.sheet, "Actuals"]
        formulas = [cell.value for row in book[template.sheet].iter_rows() for cell in row
                    if isinstance(cell.value, str) and cell.value.startswith("=")]
        assert any("Actuals[Amount]" in formula for formula in formulas), template.name
        assert not any("!" in formula for formula in formulas), "no reference to another sheet"
