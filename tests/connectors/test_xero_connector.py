"""The Xero connector against a local server answering in the shapes of Xero's OpenAPI examples."""
from __future__ import annotations

import base64
import random
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest

from server.connectors.framework.errors import AuthRevoked, BadResponse, OAuthStateMismatch, ProviderUnavailable
from server.connectors.framework.http import HttpClient, RateLimits, RequestRecord, RetryPolicy
from server.connectors.framework.records import DimensionValue
from server.connectors.xero.connector import (
    XeroConnector,
    XeroEndpoints,
    parse_calendar_date,
    parse_instant,
)
from tests.support.scripted_server import Reply, Seen

TENANT = "fe79f7dd-b6d4-4a92-ba7b-538af6289c58"


def token(rejected: str | None = None) -> str:
    return "access-1"


@pytest.fixture
def xero(server) -> XeroConnector:
    http = HttpClient(timeout=(2, 2), retry=RetryPolicy(max_attempts=3, base_delay=0.001), rng=random.Random(0))
    return XeroConnector(client_id="cid", client_secret="csecret", endpoints=XeroEndpoints.sandbox(server.url),
                         http=http, rate_limits=RateLimits(per_window=1000, concurrent=5))


def journal(number: int, lines: int = 2) -> dict:
    """A journal as in the spec's GET /Journals example; lines balance to zero."""
    body = [{
        "JournalLineID": f"line-{number}-{i}",
        "AccountID": "b94495d0-44ab-4199-a1d0-427a4877e100", "AccountCode": "610", "AccountType": "CURRENT",
        "AccountName": "Accounts Receivable", "Description": "" if i else "Acme Tires",
        "NetAmount": "@40.10@" if i % 2 == 0 else "@-40.10@", "GrossAmount": "@46.00@", "TaxAmount": "@5.90@",
        "TaxType": "OUTPUT2",
        "TrackingCategories": [{"TrackingCategoryID": "cat-1", "Name": "Region", "TrackingOptionID": "opt-1",
                                "Option": "North"}] if i == 0 else [],
    } for i in range(lines)]
    return {"JournalID": f"journal-{number}", "JournalDate": "/Date(1539993600000+0000)/", "JournalNumber": number,
            "CreatedDateUTC": "/Date(1541176243467+0000)/", "Reference": "Red Fish, Blue Fish",
            "SourceID": "d4956132-ed94-4dd7-9eaa-aa22dfdf06f2", "SourceType": "ACCREC", "JournalLines": body}


def xero_json(payload: dict) -> bytes:
    """JSON with exact decimal literals, as Xero writes them ("@40.10@" marks a number)."""
    import json
    return json.dumps(payload).replace('"@', "").replace('@"', "").encode()


def journals_endpoint(total: int):
    def answer(seen: Seen) -> Reply:
        offset = int(seen.query.get("offset", 0))
        numbers = range(offset + 1, min(offset + 100, total) + 1)
        return Reply(200, xero_json({"Status": "OK", "Journals": [journal(n) for n in numbers]}))
    return answer


def test_journals_are_paged_by_offset_with_the_cursor_per_page(server, xero):
    server.on("/xero/api.xro/2.0/Journals", journals_endpoint(250))
    pages = list(xero.pull("journals", token=token, tenant_id=TENANT))
    assert [(len(p.records), p.cursor) for p in pages] == [(200, "100"), (200, "200"), (100, "250")]
    assert [s.query["offset"] for s in server.seen] == ["0", "100", "200", "250"]  # stops on an empty page


def test_a_journal_pull_resumes_from_its_cursor(server, xero):
    server.on("/xero/api.xro/2.0/Journals", journals_endpoint(250))
    pages = list(xero.pull("journals", token=token, tenant_id=TENANT, cursor="200"))
    assert [p.cursor for p in pages] == ["250"]
    assert pages[0].records[0].journal_number == 201


def test_every_data_call_carries_the_tenant_and_the_bearer_token(server, xero):
    server.on("/xero/api.xro/2.0/Journals", journals_endpoint(3))
    list(xero.pull("journals", token=token, tenant_id=TENANT))
    assert {(s.headers["xero-tenant-id"], s.headers["authorization"]) for s in server.seen} == {
        (TENANT, "Bearer access-1")}


def test_journal_lines_are_parsed_exactly(server, xero):
    server.on("/xero/api.xro/2.0/Journals", journals_endpoint(1))
    line, other = next(xero.pull("journals", token=token, tenant_id=TENANT)).records
    assert (line.source_line_id, line.source_journal_id) == ("line-1-0", "journal-1")
    assert line.date == date(2018, 10, 20)
    assert line.created_at == datetime(2018, 11, 2, 16, 30, 43, 467000, tzinfo=UTC)
    assert str(line.amount) == "40.10" and str(other.amount) == "-40.10"  # NetAmount, exactly
    assert (line.account_id, line.account_code) == ("b94495d0-44ab-4199-a1d0-427a4877e100", "610")
    value, = line.dimension_values
    assert isinstance(value, DimensionValue)
    assert (value.dimension_id, value.member_id, value.dimension_name, value.member_name) == (
        "cat-1", "opt-1", "Region", "North")
    assert other.dimension_values == () and other.description == ""
    assert line.description == "Acme Tires"
    assert (line.account_name, line.account_type) == ("Accounts Receivable", "CURRENT")


def test_modified_since_is_sent_for_journals_when_asked(server, xero):
    server.on("/xero/api.xro/2.0/Journals", journals_endpoint(0))
    since = datetime(2024, 3, 1, 12, 30, 5, 900, tzinfo=UTC)
    list(xero.pull("journals", token=token, tenant_id=TENANT, options={"modified_since": since}))
    assert server.seen[0].headers["if-modified-since"] == "2024-03-01T12:30:05.000"


def test_a_pull_is_lazy_one_page_per_step(server, xero):
    server.on("/xero/api.xro/2.0/Journals", journals_endpoint(1000))
    pages = xero.pull("journals", token=token, tenant_id=TENANT)
    next(pages)
    assert len(server.seen) == 1


def test_every_request_of_a_pull_is_logged_with_its_rows(server, xero):
    server.on("/xero/api.xro/2.0/Journals", journals_endpoint(150))
    log: list[RequestRecord] = []
    pages = list(xero.pull("journals", token=token, tenant_id=TENANT, log=log))
    assert [(r.status, r.rows) for r in log] == [(200, 200), (200, 100), (200, 0)]
    assert log[0].endpoint == f"{server.url}/xero/api.xro/2.0/Journals?offset=0"
    assert pages[1].requests == [log[1]]


ACCOUNTS = {"Accounts": [
    {"AccountID": "ebd06280-af70-4bed-97c6-7451a454ad85", "Code": "091", "Name": "Business Savings Account",
     "Type": "BANK", "Status": "ACTIVE", "Class": "ASSET", "TaxType": "NONE", "CurrencyCode": "NZD",
     "UpdatedDateUTC": "/Date(1550793549320+0000)/"},
    {"AccountID": "66b262e2-561e-423e-8937-47d558f13442", "Code": "123456", "Name": "Foobar", "Status": "ARCHIVED",
     "Type": "EXPENSE", "Class": "EXPENSE", "ReportingCode": "EXP", "SystemAccount": "",
     "UpdatedDateUTC": "/Date(1573755038314)/"},
]}


def test_accounts_are_incremental_on_updated_date(server, xero):
    server.script("/xero/api.xro/2.0/Accounts", Reply(200, ACCOUNTS))
    page, = xero.pull("accounts", token=token, tenant_id=TENANT, cursor="2019-01-01T00:00:00.000")
    assert server.seen[0].headers["if-modified-since"] == "2019-01-01T00:00:00.000"
    assert page.cursor == "2019-11-14T18:10:38.314"
    savings, archived = page.records
    assert (savings.code, savings.account_class, savings.currency) == ("091", "asset", "NZD")
    assert archived.status == "archived"


def test_a_first_accounts_pull_sends_no_modified_since(server, xero):
    server.script("/xero/api.xro/2.0/Accounts", Reply(200, ACCOUNTS))
    list(xero.pull("accounts", token=token, tenant_id=TENANT))
    assert "if-modified-since" not in server.seen[0].headers


def test_tracking_categories_include_archived_options(server, xero):
    server.script("/xero/api.xro/2.0/TrackingCategories", Reply(200, {"TrackingCategories": [
        {"Name": "Region", "Status": "ACTIVE", "TrackingCategoryID": "cat-1", "Options": [
            {"TrackingOptionID": "opt-1", "Name": "North", "Status": "ACTIVE"},
            {"TrackingOptionID": "opt-2", "Name": "South", "Status": "ARCHIVED"}]},
        {"Name": "HelloWorld", "Status": "ACTIVE", "TrackingCategoryID": "cat-2", "Options": []}]}))
    page, = xero.pull("tracking_categories", token=token, tenant_id=TENANT)
    assert server.seen[0].query == {"includeArchived": "true"}
    region, empty = page.records
    assert (region.source_id, region.name) == ("cat-1", "Region")
    assert [(m.source_id, m.name, m.status) for m in region.members] == [
        ("opt-1", "North", "active"), ("opt-2", "South", "archived")]
    assert empty.members == ()


def test_currencies_and_organisation(server, xero):
    server.script("/xero/api.xro/2.0/Currencies", Reply(200, {"Currencies": [
        {"Code": "NZD", "Description": "New Zealand Dollar"}]}))
    server.script("/xero/api.xro/2.0/Organisation", Reply(200, {"Organisations": [
        {"OrganisationID": "b2c885a9", "Name": "Dev Evangelist", "BaseCurrency": "NZD", "CountryCode": "NZ",
         "Timezone": "NEWZEALANDSTANDARDTIME", "FinancialYearEndDay": 31, "FinancialYearEndMonth": 3,
         "IsDemoCompany": False}]}))
    page, = xero.pull("currencies", token=token, tenant_id=TENANT)
    assert [(c.code, c.name) for c in page.records] == [("NZD", "New Zealand Dollar")]
    profile = xero.company_profile(token, TENANT)
    assert (profile.source_id, profile.name, profile.base_currency) == ("b2c885a9", "Dev Evangelist", "NZD")
    assert (profile.year_end_month, profile.year_end_day, profile.country) == (3, 31, "NZ")


def tb_row(label: str, account_id: str, *values: str) -> dict:
    attrs = [{"Value": account_id, "Id": "account"}]
    return {"RowType": "Row", "Cells": [{"Value": label, "Attributes": attrs}]
            + [{"Value": v, "Attributes": attrs} for v in values]}


def trial_balance(seen: Seen) -> Reply:
    """The spec's GET /Reports/TrialBalance example shape, with figures depending on the date."""
    scale = Decimal(1 if seen.query["date"] == "2019-03-31" else 2)
    return Reply(200, {"Reports": [{"ReportType": "TrialBalance", "Rows": [
        {"RowType": "Header", "Cells": [{"Value": v} for v in ["Account", "Debit", "Credit", "YTD Debit",
                                                               "YTD Credit"]]},
        {"RowType": "Section", "Title": "Revenue", "Rows": [
            tb_row("Sales (400)", "02439bca", "", str(200 * scale), "", "1020.22")]},
        {"RowType": "Section", "Title": "Assets", "Rows": [
            tb_row("Accounts Receivable (120)", "a-120", str(200 * scale), "", "1020.22", "")]},
        {"RowType": "Section", "Title": "", "Rows": [
            {"RowType": "SummaryRow", "Cells": [{"Value": "Total"}, {"Value": "400.00"}, {"Value": "400.00"},
                                                {"Value": "1020.22"}, {"Value": "1020.22"}]}]},
    ]}]})


def test_the_trial_balance_is_pulled_per_period_end(server, xero):
    server.on("/xero/api.xro/2.0/Reports/TrialBalance", trial_balance)
    periods = [date(2019, 3, 31), date(2019, 4, 30)]
    pages = list(xero.pull("trial_balance", token=token, tenant_id=TENANT, options={"period_ends": periods}))
    assert [s.query["date"] for s in server.seen] == ["2019-03-31", "2019-04-30"]
    sales, receivable = pages[0].records
    assert (sales.period_end, sales.account_id, sales.account_code, sales.account_name) == (
        date(2019, 3, 31), "02439bca", "400", "Sales")
    assert (sales.debit, sales.credit, sales.year_to_date) == (0, 200, Decimal("-1020.22"))
    assert (sales.month_movement, sales.account_class) == (-200, "revenue")  # Debit/Credit: the month's figures
    assert (receivable.debit, receivable.year_to_date) == (200, Decimal("1020.22"))
    assert (receivable.month_movement, receivable.account_class) == (200, "asset")
    assert pages[1].records[0].credit == 400


def test_tenants_are_the_organisations_of_the_grant(server, xero):
    server.script("/xero/connections", Reply(200, [
        {"id": "7cb59f93", "tenantId": TENANT, "tenantName": "Demo Company (NZ)", "tenantType": "ORGANISATION",
         "createdDateUtc": "2019-12-07T18:46:19.5165400", "updatedDateUtc": "2019-12-07T18:46:19.5187840"},
        {"id": "practice-1", "tenantId": "p-1", "tenantName": "A practice", "tenantType": "PRACTICE"}]))
    companies = xero.list_companies(token)
    assert [(c.provider_entity_id, c.name, c.kind, c.connection_id) for c in companies] == [
        (TENANT, "Demo Company (NZ)", "organisation", "7cb59f93")]
    assert "xero-tenant-id" not in server.seen[0].headers


def test_a_tenant_is_disconnected_by_its_connection_id(server, xero):
    server.script("/xero/connections/7cb59f93", Reply(204))
    xero.disconnect_company(token, "7cb59f93")
    assert (server.seen[0].method, server.seen[0].path) == ("DELETE", "/xero/connections/7cb59f93")


def test_a_body_that_is_not_json_is_a_bad_response(server, xero):
    server.script("/xero/api.xro/2.0/Currencies", Reply(200, b"<html>maintenance</html>"))
    with pytest.raises(BadResponse):
        list(xero.pull("currencies", token=token, tenant_id=TENANT))


def test_a_record_of_the_wrong_shape_is_a_bad_response(server, xero):
    server.script("/xero/api.xro/2.0/Journals", Reply(200, {"Journals": [{"JournalNumber": 1}]}))
    with pytest.raises(BadResponse):
        list(xero.pull("journals", token=token, tenant_id=TENANT))


@pytest.mark.parametrize("field, value, where", [
    ("JournalLineID", None, "$.Journals[1].JournalLines[0].JournalLineID"),
    ("NetAmount", "@true@", "$.Journals[1].JournalLines[0].NetAmount"),
    ("NetAmount", "forty", "$.Journals[1].JournalLines[0].NetAmount"),
])
def test_a_journal_line_of_the_wrong_shape_is_a_bad_response_naming_where(server, xero, field, value, where):
    bad = journal(2)
    bad["JournalLines"][0][field] = value
    server.script("/xero/api.xro/2.0/Journals", Reply(200, xero_json({"Journals": [journal(1), bad]})))
    with pytest.raises(BadResponse, match=re.escape(where)):
        list(xero.pull("journals", token=token, tenant_id=TENANT))


def test_a_journal_without_lines_or_tracking_lists_is_read(server, xero):
    bare = journal(1)
    bare["JournalLines"][0]["TrackingCategories"] = None
    del bare["JournalLines"][1]["TrackingCategories"], bare["JournalLines"][1]["Description"]
    empty = {**journal(2), "JournalLines": None}
    server.script("/xero/api.xro/2.0/Journals", Reply(200, xero_json({"Journals": [bare, empty]})))
    first, second = next(xero.pull("journals", token=token, tenant_id=TENANT)).records
    assert (first.dimension_values, second.dimension_values, second.description) == (None, (), "")
    assert second.amount == Decimal("-40.10") and second.journal_number == 1


@pytest.mark.parametrize("value, instant", [
    ("/Date(1573755038314+0000)/", datetime(2019, 11, 14, 18, 10, 38, 314000, tzinfo=UTC)),
    ("/Date(1439434356790)/", datetime(2015, 8, 13, 2, 52, 36, 790000, tzinfo=UTC)),
    ("/Date(1439434356790+1200)/", datetime(2015, 8, 13, 2, 52, 36, 790000, tzinfo=UTC)),
    ("2019-12-07T18:46:19.5165400", datetime(2019, 12, 7, 18, 46, 19, 516540, tzinfo=UTC)),
])
def test_instants_are_utc(value, instant):
    assert parse_instant(value) == instant


@pytest.mark.parametrize("value, day", [
    ("/Date(1539993600000+0000)/", date(2018, 10, 20)),
    ("/Date(1539993600000)/", date(2018, 10, 20)),
    # local midnight in Auckland is still the 20th, though the UTC instant is the 19th
    ("/Date(1539946800000+1300)/", date(2018, 10, 20)),
    ("2018-10-20T00:00:00", date(2018, 10, 20)),
])
def test_journal_dates_are_calendar_dates(value, day):
    assert parse_calendar_date(value) == day


# ------------------------------------------------------------------------------------------------ OAuth

def test_the_authorization_url_carries_state_and_an_s256_challenge(xero):
    request = xero.auth.authorization_url("http://127.0.0.1:8000/oauth/callback/xero")
    query = parse_qs(urlsplit(request.url).query)
    assert request.url.startswith(xero.endpoints.authorize_url + "?")
    assert query["state"] == [request.state] and query["code_challenge_method"] == ["S256"]
    assert len(request.code_verifier) >= 43
    assert set(query["scope"][0].split()) == {"openid", "profile", "email", "offline_access",
                                              "accounting.settings.read", "accounting.journals.read",
                                              "accounting.reports.trialbalance.read"}


def test_a_callback_with_another_state_is_refused_before_any_exchange(server, xero):
    with pytest.raises(OAuthStateMismatch):
        xero.auth.exchange_code(redirect_uri="http://cb", code="c", returned_state="evil", expected_state="mine",
                                 code_verifier="v" * 50)
    assert server.seen == []


def test_the_code_exchange_uses_basic_auth_and_the_verifier(server, xero):
    server.script("/xero/identity/connect/token", Reply(200, {"access_token": "a", "refresh_token": "r",
                                                              "expires_in": 1800, "token_type": "Bearer"}))
    log: list[RequestRecord] = []
    tokens = xero.auth.exchange_code(redirect_uri="http://cb", code="the-code", returned_state="s",
                                      expected_state="s", code_verifier="v" * 50, log=log)
    assert tokens["refresh_token"] == "r"
    seen = server.seen[0]
    assert seen.headers["authorization"] == "Basic " + base64.b64encode(b"cid:csecret").decode()
    form = parse_qs(seen.body.decode())
    assert form["code"] == ["the-code"] and form["code_verifier"] == ["v" * 50]
    assert "client_secret" not in form
    assert log[0].endpoint == f"{server.url}/xero/identity/connect/token"


def test_a_dead_refresh_token_means_reconnect(server, xero):
    server.script("/xero/identity/connect/token", Reply(400, {"error": "invalid_grant"}))
    with pytest.raises(AuthRevoked):
        xero.auth.refresh("old-refresh-token")


def test_a_failing_token_endpoint_is_unavailable(server, xero):
    server.script("/xero/identity/connect/token", Reply(503, b"busy"))
    with pytest.raises(ProviderUnavailable):
        xero.auth.refresh("refresh-token")


def test_revocation_posts_the_refresh_token(server, xero):
    server.script("/xero/identity/connect/revocation", Reply(200, b""))
    xero.auth.revoke("refresh-token")
    assert parse_qs(server.seen[0].body.decode())["token"] == ["refresh-token"]


def test_json_numbers_decode_to_their_exact_literal():
    from server.connectors.framework.parsing import decode_json

    body = decode_json(b'{"big": 12345678901234567.8901, "cents": 0.10, "tiny": -1e-4, "count": 7}')
    assert body == {"big": Decimal("12345678901234567.8901"), "cents": Decimal("0.10"), "tiny": Decimal("-0.0001"),
                    "count": 7}
    assert str(body["cents"]) == "0.10" and type(body["count"]) is int
    for not_json in (b"{", b"\xff", b"<html>"):
        with pytest.raises(ValueError):
            decode_json(not_json)
