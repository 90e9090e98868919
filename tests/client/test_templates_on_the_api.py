"""The P&L template over what the API really serves: a year of one entity's summarised Actuals, fetched with the
Python client, written into the template's Actuals table, the formulas computed by pycel, each month's lines equal
to the sandbox's ground truth."""
from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

import openpyxl
from pycel import ExcelCompiler

from ledgerpane.client import Workspace
from server.workbook.templates import find_template, template_bytes
from workbook_templates.build import write_actuals


def test_profit_and_loss_template_on_the_apis_actuals_equals_the_ground_truth(served_books, tmp_path):
    entity = served_books.entities[0]
    actuals = Workspace(served_books.url, served_books.workspace.member_key).actuals(
        entities=[entity["id"]], period_from="2025-01", period_to="2025-12", summary=True)
    rows = actuals.astype(object).where(actuals.notna(), None)
    rows["Period"] = [period.date() for period in actuals["Period"]]

    template = find_template("profit-and-loss-by-month")
    path = tmp_path / "pnl.xlsx"
    path.write_bytes(template_bytes(template))
    book = openpyxl.load_workbook(path)
    write_actuals(book["Actuals"], rows.values.tolist(), list(actuals.columns))
    book[template.sheet]["B4"], book[template.sheet]["B5"] = entity["name"], date(2025, 1, 1)
    book.save(path)
    excel, sheet = ExcelCompiler(filename=str(path)), f"'{template.sheet}'!"

    truth = served_books.provider.admin("GET", f"/admin/tenants/{entity['provider_entity_id']}/trial-balance",
                                        expect=200)["movements"]
    classes = dict(zip(actuals["Account Code"], actuals["Account Class"], strict=True))
    lines: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for row in truth:
        code, month, amount = row["accountCode"], row["period"], Decimal(str(row["netAmount"]))
        if classes.get(code) == "revenue":
            lines[("revenue", month)] -= amount
        elif classes.get(code) == "expense":
            lines[("expenses", month)] += amount
            lines[("cost of sales", month)] += amount if "300" <= code <= "399" else 0
    for offset, column in enumerate("EFGHIJKLMNOP"):
        month = f"2025-{offset + 1:02d}"
        revenue, expenses = lines[("revenue", month)], lines[("expenses", month)]
        assert round(Decimal(str(excel.evaluate(f"{sheet}{column}8"))), 2) == revenue, month
        assert round(Decimal(str(excel.evaluate(f"{sheet}{column}9"))), 2) == lines[("cost of sales", month)], month
        assert round(Decimal(str(excel.evaluate(f"{sheet}{column}13"))), 2) == revenue - expenses, month
    assert lines[("revenue", "2025-06")] and lines[("cost of sales", "2025-06")], "the year has both"
