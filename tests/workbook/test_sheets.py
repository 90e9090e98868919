"""The workbook's sheets over the API, against a workspace refreshed from the sandbox provider: contents equal to the
provider's ground truth, every filter, summaries, paging, the overview's stamp and counts."""
from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from server.db.models import Account, Connection

EPOCH = date(1899, 12, 30)


def day(serial: int) -> date:
    return EPOCH + timedelta(days=serial)


def month(serial: int) -> str:
    return day(serial).isoformat()[:7]


def totals(records: list[dict], *keys: str) -> dict[tuple, Decimal]:
    """Amount per key, exact (each amount read back as the decimal it prints as), zero totals left out."""
    sums: dict[tuple, Decimal] = defaultdict(Decimal)
    for record in records:
        sums[tuple(record[k] for k in keys)] += Decimal(str(record["Amount"]))
    return {key: value for key, value in sums.items() if value}


@pytest.fixture(scope="module")
def lines(books) -> list[dict]:
    """Every Actuals row at line level, read in pages smaller than the sheet."""
    return books.sheets.records("actuals", limit=2500)


def test_actuals_equal_the_providers_ground_truth(books, lines, truth):
    loaded = {(entity, code, month(period)): total
              for (entity, code, period), total in totals(lines, "Entity", "Account Code", "Period").items()}
    assert loaded == truth
    assert len(lines) == sum(t["lineCount"] for t in books.provider.tenants())


def test_actuals_columns_types_and_formats(books, lines):
    page = books.sheets.get("/actuals", limit=1)
    assert [(c["name"], c["type"], c["format"]) for c in page["columns"]] == [
        ("Entity", "text", "@"), ("Period", "date", "mmm yyyy"), ("Date", "date", "yyyy-mm-dd"),
        ("Account Code", "text", "@"), ("Account Name", "text", "@"), ("Account Type", "text", "@"),
        ("Account Class", "text", "@"), ("Source Account Code", "text", "@"), ("Region", "text", "@"),
        ("Description", "text", "@"),
        ("Amount", "number", "#,##0.00"), ("Transaction Currency", "text", "@"),
        ("Transaction Amount", "number", "#,##0.00"), ("Data Source", "text", "@")]
    assert (page["sheet"], page["table"]) == ("Actuals", "Actuals")
    for line in lines:
        assert isinstance(line["Period"], int) and day(line["Period"]).day == 1
        assert day(line["Date"]).replace(day=1) == day(line["Period"])
        assert isinstance(line["Amount"], float | int) and isinstance(line["Transaction Amount"], float | int)
    classes = {line["Account Class"] for line in lines}
    assert {"asset", "revenue", "expense"} <= classes <= {"asset", "liability", "equity", "revenue", "expense"}
    assert {line["Data Source"] for line in lines} == {books.sheets.get()["connections"][0]["name"]}
    regions = {line["Region"] for line in lines}
    assert "Unmapped" in regions and len(regions) > 2  # the mapped members, and lines without a region


def test_rows_come_in_entity_period_account_order(lines):
    keys = [(line["Entity"], line["Period"], line["Account Code"]) for line in lines]
    assert keys == sorted(keys)


def test_paging_covers_every_row_once(books, lines):
    pages, offset = [], 0
    while offset is not None:
        page = books.sheets.get("/actuals", offset=offset, limit=997)
        assert page["offset"] == offset and page["total_rows"] == len(lines)
        pages.append(page["rows"])
        offset = page["next_offset"]
    whole = books.sheets.get("/actuals", limit=100_000)
    assert [row for rows in pages for row in rows] == whole["rows"]
    assert len(pages) == -(-len(lines) // 997) and whole["next_offset"] is None
    past = books.sheets.get("/actuals", offset=len(lines) + 5)
    assert past["rows"] == [] and past["next_offset"] is None


def test_summary_totals_equal_line_totals(books, lines):
    summary = books.sheets.records("actuals", summary="true", limit=3000)
    names = list(summary[0])
    assert "Date" not in names and "Description" not in names and "Transaction Amount" not in names
    keys = ("Entity", "Period", "Account Code", "Region")
    assert totals(summary, *keys) == totals(lines, *keys)
    assert len({tuple(r[k] for k in keys) for r in summary}) == len(summary) < len(lines)


def test_entity_filter(books, lines):
    name, entity_id = sorted(books.entity_ids.items())[1]
    chosen = books.sheets.records("actuals", entity=entity_id)
    assert chosen == [line for line in lines if line["Entity"] == name] != []


def test_period_filter(books, lines):
    months = sorted({month(line["Period"]) for line in lines})
    first, last = months[2], months[4]
    chosen = books.sheets.records("actuals", **{"from": first, "to": last})
    assert chosen == [line for line in lines if first <= month(line["Period"]) <= last] != []
    assert books.sheets.records("actuals", **{"from": months[-1]}) == [
        line for line in lines if month(line["Period"]) == months[-1]]


def test_account_filter(books, lines):
    codes = sorted({line["Account Code"] for line in lines})[:2]
    chosen = books.sheets.records("actuals", account=codes)
    assert chosen == [line for line in lines if line["Account Code"] in codes] != []


def test_member_filter(books, lines):
    members = books.sheets.client.get("/api/v1/dimensions", headers=books.sheets.headers).get_json()
    region = next(d for d in members["items"] if d["name"] == "Region")
    north, south = [m for m in region["members"] if not m["unmapped"]][:2]
    chosen = books.sheets.records("actuals", member=[north["id"], south["id"]])
    assert chosen == [line for line in lines if line["Region"] in (north["name"], south["name"])] != []


def test_the_filter_choices_are_what_the_filters_take(books, lines):
    choices = books.sheets.get("/filters")
    assert [(e["name"], e["id"]) for e in choices["entities"]] == sorted(books.entity_ids.items())
    charted = {a["Account Code"] for a in books.sheets.records("accounts") if a["Account Code"]}
    assert sorted(a["code"] for a in choices["accounts"]) == sorted(charted)  # in the database's collation
    assert {line["Account Code"] for line in lines} <= charted
    (region,) = choices["dimensions"]
    assert region["name"] == "Region" and region["members"][0] == {**region["members"][0], "name": "Unmapped",
                                                                    "unmapped": True}
    assert {m["name"] for m in region["members"]} >= {line["Region"] for line in lines}
    entity, account, member = choices["entities"][0], choices["accounts"][0], region["members"][1]
    chosen = books.sheets.records("actuals", entity=entity["id"], account=account["code"], member=member["id"])
    assert chosen == [line for line in lines if (line["Entity"], line["Account Code"], line["Region"]) == (
        entity["name"], account["code"], member["name"])]


def test_filters_combine_and_apply_to_the_summary(books, lines):
    name, entity_id = sorted(books.entity_ids.items())[0]
    first = min(month(line["Period"]) for line in lines)
    wanted = [line for line in lines if line["Entity"] == name and month(line["Period"]) == first]
    summary = books.sheets.records("actuals", entity=entity_id, **{"from": first, "to": first}, summary=1)
    assert totals(summary, "Account Code") == totals(wanted, "Account Code") != {}


def test_the_overview_stamps_and_counts_what_a_load_writes(books, lines):
    overview = books.sheets.get()
    with books.database.sessions() as session:
        connection = session.get(Connection, books.connection_id)
        accounts = session.scalar(select(func.count()).where(Account.workspace_id == books.workspace.id))
        refreshed = connection.last_successful_run_at
    assert overview["workspace"]["name"] == books.workspace.name
    assert overview["workspace"]["base_currency"] == "GBP" and overview["workspace"]["timezone"] == "Europe/London"
    assert overview["connections"] == [{
        "id": books.connection_id, "name": connection.name, "provider": "xero-sandbox",
        "entities": sorted(books.tenants), "last_successful_refresh_at": refreshed.isoformat()}]
    assert overview["data_as_of"] == refreshed.isoformat() <= overview["built_at"]
    assert [(s["name"], s["table"], s["href"], s["rows"]) for s in overview["sheets"]] == [
        ("Actuals", "Actuals", "/api/v1/workbook/actuals", len(lines)),
        ("Accounts", "Accounts", "/api/v1/workbook/accounts", accounts),
        ("Dimensions", "Dimensions", "/api/v1/workbook/dimensions",
         books.sheets.get("/dimensions")["total_rows"])]
    name, entity_id = sorted(books.entity_ids.items())[0]
    filtered = books.sheets.get(entity=entity_id, summary="true")["sheets"]
    assert filtered[0]["rows"] == books.sheets.get("/actuals", entity=entity_id, summary="true")["total_rows"]
    assert filtered[1]["rows"] == len([a for a in books.sheets.records("accounts") if a["Entity"] == name])


def test_accounts_sheet_lists_each_entitys_chart(books, lines):
    accounts = books.sheets.records("accounts")
    assert list(accounts[0]) == ["Entity", "Account Code", "Account Name", "Account Type", "Account Class",
                                 "Source Account Code", "Source Account Name", "Status", "Currency", "Data Source"]
    charted = {(a["Entity"], a["Account Code"], a["Account Name"], a["Account Type"], a["Account Class"])
               for a in accounts}
    used = {(line["Entity"], line["Account Code"], line["Account Name"], line["Account Type"],
             line["Account Class"]) for line in lines}
    assert used <= charted and {a["Entity"] for a in accounts} == set(books.tenants)
    code = lines[0]["Account Code"]
    assert {a["Account Code"] for a in books.sheets.records("accounts", account=code)} == {code}


def test_dimensions_sheet_lists_members_and_which_is_unmapped(books, lines):
    members = books.sheets.records("dimensions")
    assert list(members[0]) == ["Dimension", "Member", "Code", "Unmapped"]
    assert members[0] == {"Dimension": "Region", "Member": "Unmapped", "Code": "", "Unmapped": "TRUE"}
    assert {m["Member"] for m in members} >= {line["Region"] for line in lines}
    assert {m["Unmapped"] for m in members[1:]} == {"FALSE"}
