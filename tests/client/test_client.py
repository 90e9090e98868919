"""The Python client over real HTTP: the sheets as DataFrames equal the workspace (totals per entity, account and
month equal the sandbox's ground truth), every page is followed, dates are dates, and errors are typed."""
from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pandas as pd
import pytest
import requests

from ledgerpane.client import InvalidRequest, LedgerpaneError, NotAuthenticated, NotFound, Workspace


def ground_truth(books) -> dict[tuple[str, str, str], Decimal]:
    """Net movement per (entity name, account code, YYYY-MM), zeros left out."""
    movements: dict[tuple, Decimal] = defaultdict(Decimal)
    for entity in books.entities:
        trial_balance = books.provider.admin("GET", f"/admin/tenants/{entity['provider_entity_id']}/trial-balance",
                                             expect=200)
        for row in trial_balance["movements"]:
            movements[(entity["name"], row["accountCode"], row["period"])] += Decimal(str(row["netAmount"]))
    return {key: value for key, value in movements.items() if value}


def totals(frame: pd.DataFrame) -> dict[tuple[str, str, str], Decimal]:
    sums: dict[tuple, Decimal] = defaultdict(Decimal)
    for entity, code, period, amount in frame[["Entity", "Account Code", "Period", "Amount"]].itertuples(
            index=False):
        sums[(entity, code, period.strftime("%Y-%m"))] += Decimal(str(amount))
    return {key: value for key, value in sums.items() if value}


def test_summarised_actuals_equal_the_ground_truth_page_after_page(served_books):
    books = Workspace(served_books.url, served_books.workspace.member_key)
    actuals = books.actuals(summary=True, page_size=250)  # many pages: each must be fetched once
    total_rows = requests.get(f"{served_books.url}/api/v1/workbook/actuals", params={"summary": "true", "limit": 1},
                              headers=served_books.workspace.member(), timeout=30).json()["total_rows"]
    assert len(actuals) == total_rows > 250
    assert pd.api.types.is_datetime64_any_dtype(actuals["Period"])
    assert (actuals["Period"].dt.day == 1).all()
    assert actuals["Amount"].dtype == "float64"
    assert totals(actuals) == ground_truth(served_books)


def test_line_level_actuals_filtered_by_entity_and_period(served_books):
    books = Workspace(served_books.url, served_books.workspace.member_key)
    entity = served_books.entities[1]
    lines = books.actuals(entities=[entity["id"]], period_from="2025-01", period_to="2025-03")
    assert len(lines) > 0
    assert set(lines["Entity"]) == {entity["name"]}
    assert pd.api.types.is_datetime64_any_dtype(lines["Date"])
    assert lines["Date"].min() >= pd.Timestamp("2025-01-01") and lines["Date"].max() < pd.Timestamp("2025-04-01")
    assert (lines["Period"] == lines["Date"].dt.to_period("M").dt.to_timestamp()).all()
    truth = {key: value for key, value in ground_truth(served_books).items()
             if key[0] == entity["name"] and "2025-01" <= key[2] <= "2025-03"}
    assert totals(lines) == truth


def test_accounts_dimensions_and_the_stamp(served_books):
    books = Workspace(served_books.url, served_books.workspace.member_key)
    accounts = books.accounts()
    assert list(accounts.columns[:5]) == ["Entity", "Account Code", "Account Name", "Account Type", "Account Class"]
    assert set(accounts["Entity"]) == {entity["name"] for entity in served_books.entities}
    assert set(accounts["Account Class"]) <= {"asset", "liability", "equity", "revenue", "expense"}
    assert isinstance(books.dimensions(), pd.DataFrame)
    stamp = books.stamp()
    assert stamp["workspace"]["name"] == served_books.workspace.name
    assert stamp["data_as_of"].tzinfo is not None and stamp["built_at"] >= stamp["data_as_of"]
    assert [sheet["name"] for sheet in stamp["sheets"]] == ["Actuals", "Accounts", "Dimensions"]


def test_errors_carry_the_apis_code_message_and_field(served_books):
    with pytest.raises(NotAuthenticated) as refused:
        Workspace(served_books.url, "not-a-key").actuals()
    assert refused.value.status == 401 and refused.value.code == "invalid_key"

    books = Workspace(served_books.url, served_books.workspace.member_key)
    with pytest.raises(InvalidRequest) as invalid:
        books.actuals(period_from="2025-13")
    assert (invalid.value.code, invalid.value.field) == ("invalid_value", "from")
    assert invalid.value.message in str(invalid.value)

    with pytest.raises(NotFound) as missing:
        books.actuals(entities=[2_000_000_000])
    assert missing.value.code == "not_found"

    with pytest.raises(LedgerpaneError) as unreachable:
        Workspace("http://127.0.0.1:9", served_books.workspace.member_key, timeout=5).stamp()
    assert unreachable.value.code == "unreachable"
