"""The sheets show the workspace account a line lands on (issue 13's account mapping), so provider accounts mapped
many-to-one summarise as one account in Excel, while the provider's own code stays on each line."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

import pytest

from server.db.models import Account, Connection, Entity, LedgerLine
from server.mapping import accounts
from tests.support.database import seed_workspace

# Two travel accounts the admin maps onto one workspace "6100 Travel" by a code range; sales stays a mirror.
CHART = [("6110", "Travel - flights", "EXPENSE", "expense"), ("6120", "Travel - hotels", "OVERHEADS", "expense"),
         ("4000", "Sales", "REVENUE", "revenue")]
LINES = [("6110", date(2026, 1, 1), "100.00"), ("6120", date(2026, 1, 1), "40.50"), ("6110", date(2026, 2, 1), "7.25"),
         ("4000", date(2026, 1, 1), "-140.50"), ("4000", date(2026, 2, 1), "-7.25")]


@dataclass
class Travel:
    sheets: object  # the folder's SheetCalls, with this workspace's key
    account_ids: dict[str, int]  # provider code -> provider account id


@pytest.fixture(scope="module")
def travel(books) -> Travel:
    workspace = seed_workspace(books.database.sessions, "Travel Co Holdings")
    with books.database.sessions.begin() as session:
        connection = Connection(workspace_id=workspace.id, provider="xero-sandbox", name="Travel books", status="live")
        session.add(connection)
        session.flush()
        entity = Entity(workspace_id=workspace.id, connection_id=connection.id, provider_entity_id="t1",
                        name="Travel Co", base_currency="GBP")
        session.add(entity)
        session.flush()
        chart = {code: Account(workspace_id=workspace.id, connection_id=connection.id, entity_id=entity.id,
                               source_account_id=code, code=code, name=name, account_type=kind, account_class=klass,
                               currency="GBP") for code, name, kind, klass in CHART}
        session.add_all(chart.values())
        session.flush()
        session.add_all([LedgerLine(workspace_id=workspace.id, connection_id=connection.id, entity_id=entity.id,
                                    source_line_id=f"l{n}", period=period, date=period, account_id=chart[code].id,
                                    amount=Decimal(amount), amount_base=Decimal(amount), currency="GBP")
                         for n, (code, period, amount) in enumerate(LINES)])
        # What saving the mapping does (server/web/mapping.py): save the plan, then place every account.
        accounts.save(session, workspace.id, connection.id, accounts.AccountPlan(rules=[accounts.AccountRule(
            "range", accounts.Target(None, "6100", "Travel"), "6100", "6199")]))
        accounts.place_accounts(session, workspace.id, connection.id)
        account_ids = {code: account.id for code, account in chart.items()}
    return Travel(replace(books.sheets, headers=workspace.member()), account_ids)


def test_lines_read_the_workspace_account_and_keep_the_providers_code(travel):
    lines = travel.sheets.records("actuals")
    assert [(line["Account Code"], line["Account Name"], line["Source Account Code"]) for line in lines] == [
        ("4000", "Sales", "4000"), ("6100", "Travel", "6110"), ("6100", "Travel", "6120"),
        ("4000", "Sales", "4000"), ("6100", "Travel", "6110")]
    travel_lines = [line for line in lines if line["Account Code"] == "6100"]
    # The provider types differ (EXPENSE, OVERHEADS): the workspace account has none; their class agrees.
    assert {(line["Account Type"], line["Account Class"]) for line in travel_lines} == {("", "expense")}
    assert {(line["Account Type"], line["Account Class"]) for line in lines if line["Account Code"] == "4000"} == {
        ("REVENUE", "revenue")}


def test_the_summary_has_one_row_per_workspace_account(travel):
    summary = travel.sheets.records("actuals", summary="true")
    assert [(row["Account Code"], row["Account Name"], row["Amount"]) for row in summary] == [
        ("4000", "Sales", -140.5), ("6100", "Travel", 140.5), ("4000", "Sales", -7.25), ("6100", "Travel", 7.25)]
    assert "Source Account Code" not in summary[0]


def test_the_account_filter_and_the_accounts_sheet_speak_workspace_codes(travel):
    chosen = travel.sheets.records("actuals", account="6100")
    assert sorted(line["Source Account Code"] for line in chosen) == ["6110", "6110", "6120"]
    assert travel.sheets.records("actuals", account="6110") == []
    charted = travel.sheets.records("accounts")
    assert [(a["Account Code"], a["Account Name"], a["Source Account Code"], a["Source Account Name"])
            for a in charted] == [("4000", "Sales", "4000", "Sales"), ("6100", "Travel", "6110", "Travel - flights"),
                                  ("6100", "Travel", "6120", "Travel - hotels")]
