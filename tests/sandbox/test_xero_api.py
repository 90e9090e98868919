"""The Accounting API: shapes checked against Xero's OpenAPI schemas, journal paging, If-Modified-Since,
the trial balance, and the 401/403 rules."""
from __future__ import annotations

import re
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from tests.support.xero_api import MS_DATE, all_journals, envelope, if_modified_since

# What a connector relies on in each object: these must be present (the spec marks nothing required).
NEEDED = {
    "Journal": ["JournalID", "JournalDate", "JournalNumber", "CreatedDateUTC", "Reference", "SourceID",
                "SourceType", "JournalLines"],
    "JournalLine": ["JournalLineID", "AccountID", "AccountCode", "AccountType", "AccountName", "NetAmount",
                    "GrossAmount", "TaxAmount", "TrackingCategories"],
    "Account": ["AccountID", "Code", "Name", "Type", "Class", "Status", "TaxType", "UpdatedDateUTC"],
    "TrackingCategory": ["TrackingCategoryID", "Name", "Status", "Options"],
    "JournalLine.TrackingCategory": ["TrackingCategoryID", "Name", "TrackingOptionID", "Option"],
    "TrackingOption": ["TrackingOptionID", "Name", "Status"],
    "Currency": ["Code", "Description"],
    "Organisation": ["OrganisationID", "Name", "BaseCurrency", "CountryCode", "Version", "Timezone",
                     "FinancialYearEndDay", "FinancialYearEndMonth", "IsDemoCompany", "CreatedDateUTC"],
    "ReportWithRow": ["ReportName", "ReportType", "ReportTitles", "ReportDate", "Rows", "UpdatedDateUTC"],
}


def conforms(value, schema: dict, schemas: dict, where: str) -> None:
    """Assert `value` fits an OpenAPI schema: known properties, types, enums, uuids and .NET dates."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        usage = f"JournalLine.{name}" if ".JournalLines[" in where and name != "JournalLine" else name
        for needed in NEEDED.get(usage, []):
            assert needed in value, f"{where}: {name}.{needed} is missing"
        schema = {**schemas[name], **{k: v for k, v in schema.items() if k != "$ref"}}
    kind = schema.get("type", "object" if "properties" in schema else None)
    if kind == "object":
        assert isinstance(value, dict), where
        for key, item in value.items():
            assert key in schema["properties"], f"{where}.{key} is not in Xero's schema"
            conforms(item, schema["properties"][key], schemas, f"{where}.{key}")
    elif kind == "array":
        assert isinstance(value, list), where
        for position, item in enumerate(value):
            conforms(item, schema["items"], schemas, f"{where}[{position}]")
    elif kind == "string":
        assert isinstance(value, str), f"{where}: {value!r} is not a string"
        if "enum" in schema:
            assert value in schema["enum"], f"{where}: {value!r} not in the enum"
        if schema.get("format") == "uuid":
            uuid.UUID(value)
        if schema.get("x-is-msdate") or schema.get("x-is-msdate-time"):
            assert MS_DATE.fullmatch(value), f"{where}: {value!r} is not a /Date()/"
    elif kind == "integer":
        assert isinstance(value, int) and not isinstance(value, bool), where
    elif kind == "number":
        assert isinstance(value, int | float | Decimal) and not isinstance(value, bool), where
    elif kind == "boolean":
        assert isinstance(value, bool), where


def collection(schemas: dict, name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


@pytest.mark.parametrize(("path", "key", "schema"), [
    ("Organisation", "Organisations", "Organisation"),
    ("Accounts", "Accounts", "Account"),
    ("TrackingCategories?includeArchived=true", "TrackingCategories", "TrackingCategory"),
    ("Currencies", "Currencies", "Currency"),
    ("Journals", "Journals", "Journal"),
    ("Reports/TrialBalance", "Reports", "ReportWithRow"),
])
def test_each_endpoint_answers_in_xeros_schema(api, xero_schemas, tenant_ids, path, key, schema):
    for tenant_id in tenant_ids:
        items = envelope(api(path, tenant_id), key)
        assert items, f"{path} is empty"
        for position, item in enumerate(items):
            conforms(item, collection(xero_schemas, schema), xero_schemas, f"{path}[{position}]")


def test_organisations_differ_by_country_and_currency(api, tenant_ids):
    organisations = [envelope(api("Organisation", t), "Organisations")[0] for t in tenant_ids]
    assert [o["Name"] for o in organisations] == ["Demo Company (AU)", "Demo Company (UK)", "Demo Company (US)"]
    assert [o["BaseCurrency"] for o in organisations] == ["AUD", "GBP", "USD"]
    assert [o["OrganisationID"] for o in organisations] == tenant_ids
    currencies = [c["Code"] for c in envelope(api("Currencies"), "Currencies")]
    assert currencies[0] == "AUD" and len(currencies) > 1


def test_chart_of_accounts_covers_the_types_and_classes(api):
    accounts = envelope(api("Accounts"), "Accounts")
    types = {a["Type"] for a in accounts}
    assert {"BANK", "CURRENT", "FIXED", "CURRLIAB", "TERMLIAB", "EQUITY", "REVENUE", "SALES", "DIRECTCOSTS",
            "EXPENSE", "OVERHEADS"} <= types
    assert {a["Class"] for a in accounts} == {"ASSET", "LIABILITY", "EQUITY", "REVENUE", "EXPENSE"}
    assert len({a["Code"] for a in accounts}) == len(accounts)
    assert any(a["Status"] == "ARCHIVED" for a in accounts)


def test_paging_by_offset_serves_every_line_exactly_once(sandbox, api, tenant_ids):
    tenant = next(t for t in sandbox.tenants() if t["tenantId"] == tenant_ids[1])
    journals = all_journals(api, tenant_ids[1])
    assert [j["JournalNumber"] for j in journals] == list(range(1, tenant["journalCount"] + 1))
    line_ids = [line["JournalLineID"] for j in journals for line in j["JournalLines"]]
    assert len(line_ids) == len(set(line_ids)) == tenant["lineCount"] == 2000


def test_journals_balance_and_amounts_are_exact_cents(api, tenant_ids):
    for journal in all_journals(api, tenant_ids[0]):
        lines = journal["JournalLines"]
        assert sum(line["NetAmount"] for line in lines) == 0, journal["JournalNumber"]
        for line in lines:
            for field in ("NetAmount", "GrossAmount", "TaxAmount"):
                assert line[field].as_tuple().exponent >= -2
            assert line["GrossAmount"] == line["NetAmount"] + line["TaxAmount"]
            assert len(line["TrackingCategories"]) <= 2


def test_journals_span_three_years_ending_now(api, tenant_ids):
    journals = all_journals(api, tenant_ids[2])
    dates = [int(re.search(r"\d+", j["JournalDate"]).group()) / 1000 for j in journals]
    span_days = (max(dates) - min(dates)) / 86400
    assert 1000 < span_days <= 3 * 365 + 1
    assert datetime.now(UTC).timestamp() - max(dates) < 5 * 86400
    created = [int(re.search(r"\d+", j["CreatedDateUTC"]).group()) for j in journals]
    assert created == sorted(created)
    assert {j["SourceType"] for j in journals} >= {"ACCREC", "ACCPAY", "ACCRECPAYMENT", "ACCPAYPAYMENT"}
    tags = [t for j in journals for line in j["JournalLines"] for t in line["TrackingCategories"]]
    assert {t["Name"] for t in tags} == {"Region", "Department"}


def test_journals_if_modified_since_is_still_offset_paged(api, tenant_ids):
    journals = all_journals(api, tenant_ids[0])
    pivot = journals[199]
    since = if_modified_since(int(re.search(r"\d+", pivot["CreatedDateUTC"]).group()))
    newer = all_journals(api, tenant_ids[0], headers=since)
    assert [j["JournalNumber"] for j in newer] == [j["JournalNumber"] for j in journals[200:]]
    page = envelope(api("Journals?offset=450", tenant_ids[0], headers=since), "Journals")
    assert page[0]["JournalNumber"] == 451
    in_future = if_modified_since(int((datetime.now(UTC).timestamp() + 3600) * 1000))
    assert envelope(api("Journals", tenant_ids[0], headers=in_future), "Journals") == []


def test_tracking_hides_archived_options_unless_asked(api):
    active = envelope(api("TrackingCategories"), "TrackingCategories")
    everything = envelope(api("TrackingCategories?includeArchived=true"), "TrackingCategories")
    assert [c["Name"] for c in active] == ["Region", "Department"]
    names = {o["Name"]: o["Status"] for c in everything for o in c["Options"]}
    assert names["Legacy Projects"] == "ARCHIVED"
    assert "Legacy Projects" not in {o["Name"] for c in active for o in c["Options"]}


def _month_end(period: str) -> date:
    first = date.fromisoformat(f"{period}-01")
    return (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def _report_rows(report: dict) -> dict[str, tuple[str, Decimal, Decimal]]:
    """Code -> (section title, month net, YTD net) of each account row."""
    found = {}
    for section in report["Rows"]:
        for row in section.get("Rows") or ():
            if row["RowType"] == "Row":
                code = row["Cells"][0]["Value"].rsplit("(", 1)[1].rstrip(")")
                debit, credit, ytd_debit, ytd_credit = (Decimal(c["Value"] or "0") for c in row["Cells"][1:5])
                found[code] = (section["Title"], debit - credit, ytd_debit - ytd_credit)
    return found


def test_trial_balance_columns_mean_what_xeros_help_says(sandbox, api, tenant_ids):
    """Debit/Credit: the month's figures; YTD: the financial year to date for revenue and expenses, the balance
    including prior years for assets, liabilities and equity; both pairs of columns balance."""
    organisation = envelope(api("Organisation", tenant_ids[0]), "Organisations")[0]
    truth = sandbox.admin("GET", f"/admin/tenants/{tenant_ids[0]}/trial-balance", expect=200)["movements"]
    month = sorted({row["period"] for row in truth})[-2]  # the last whole month of history
    as_at = _month_end(month)
    year_end = date(as_at.year, organisation["FinancialYearEndMonth"], organisation["FinancialYearEndDay"])
    year_start = (year_end if year_end < as_at else year_end.replace(year=as_at.year - 1)) + timedelta(days=1)
    report = envelope(api(f"Reports/TrialBalance?date={as_at}", tenant_ids[0]), "Reports")[0]
    assert report["ReportTitles"][2] == f"As at {as_at.day} {as_at:%B %Y}"
    total = report["Rows"][-1]["Rows"][0]
    assert total["RowType"] == "SummaryRow"
    assert total["Cells"][1]["Value"] == total["Cells"][2]["Value"] != "0.00"  # the month balances
    assert total["Cells"][3]["Value"] == total["Cells"][4]["Value"]  # and so does the year to date
    in_month, this_year, ever = defaultdict(Decimal), defaultdict(Decimal), defaultdict(Decimal)
    for row in truth:
        amount, first = Decimal(str(row["netAmount"])), date.fromisoformat(f"{row['period']}-01")
        if first <= as_at:
            ever[row["accountCode"]] += amount
            this_year[row["accountCode"]] += amount if first >= year_start else 0
            in_month[row["accountCode"]] += amount if row["period"] == month else 0
    rows = _report_rows(report)
    assert {code for code, (_, moved, _) in rows.items() if moved} == {c for c, v in in_month.items() if v}
    for code, (section, moved, ytd) in rows.items():
        assert moved == in_month[code], code
        if section in ("Revenue", "Expenses"):
            assert ytd == this_year[code], code
        elif code != "960":  # Retained Earnings also carries prior years' profit, which no journal posts
            assert ytd == ever[code], code
    profit_and_loss = {a["Code"] for a in envelope(api("Accounts", tenant_ids[0]), "Accounts")
                       if a["Class"] in ("REVENUE", "EXPENSE")}
    prior_profit = sum(ever[c] - this_year[c] for c in profit_and_loss)
    assert rows["960"][2] == ever["960"] + prior_profit != ever["960"]


def test_api_calls_need_a_bearer_token_and_a_connected_tenant(sandbox, token, tenant_ids):
    no_token = sandbox.http.get(sandbox.url + "/xero/api.xro/2.0/Accounts", timeout=10,
                                headers={"xero-tenant-id": tenant_ids[0]})
    assert no_token.status_code == 401
    assert no_token.json()["Title"] == "Unauthorized"
    no_tenant = sandbox.http.get(sandbox.url + "/xero/api.xro/2.0/Accounts", timeout=10,
                                 headers={"Authorization": f"Bearer {token['access_token']}"})
    assert no_tenant.status_code == 403
    assert sandbox.api("Accounts", token, str(uuid.uuid4())).status_code == 403
    assert sandbox.api("Journals?offset=abc", token, tenant_ids[0]).status_code == 400


def test_every_api_answer_carries_the_rate_limit_headers(api):
    response = api("Currencies")
    for header in ("X-DayLimit-Remaining", "X-MinLimit-Remaining", "X-AppMinLimit-Remaining"):
        assert int(response.headers[header]) >= 0
