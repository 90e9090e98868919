"""The report templates users insert next to their Actuals table: which there are, and their bytes.

The .xlsx files are built by `workbook_templates/build.py` (reviewed as code, committed as built) and shipped as
package data of `workbook_templates`, so an installed service serves the same files as a checkout.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class ReportTemplate:
    name: str  # the file's stem and the URL's last part
    title: str
    description: str
    sheet: str  # the report's worksheet: the one to insert (the file's own Actuals sheet is a sample)


TEMPLATES = (
    ReportTemplate("profit-and-loss-by-month", "P&L by month",
                   "Revenue, cost of sales, gross profit, expenses and net profit for twelve months from a month "
                   "you choose, for one entity.", "P&L by Month"),
    ReportTemplate("balance-sheet", "Balance sheet",
                   "Assets, liabilities and equity at the end of a month, with the current year's earnings so it "
                   "balances.", "Balance Sheet"),
    ReportTemplate("trial-balance", "Trial balance",
                   "Debit and credit balance of every account at the end of a month, with the totals and what is "
                   "out of balance.", "Trial Balance"),
)


def find_template(name: str) -> ReportTemplate | None:
    return next((template for template in TEMPLATES if template.name == name), None)


def template_file_name(template: ReportTemplate) -> str:
    return f"{template.name}.xlsx"


def template_bytes(template: ReportTemplate) -> bytes:
    return resources.files("workbook_templates").joinpath(template_file_name(template)).read_bytes()
