"""The QuickBooks connector against a local server answering in Intuit's documented shapes (providers.md §2):
Fault bodies onto the error hierarchy, a JournalEntry's lines (sides, home currency, classes and locations)."""
from __future__ import annotations

import random
from datetime import date
from decimal import Decimal

import pytest

from server.connectors.framework.errors import CompanyDisconnected, NotEntitled, RequestRejected
from server.connectors.framework.http import HttpClient, RateLimits, RetryPolicy
from server.connectors.framework.records import DimensionValue
from server.connectors.quickbooks.connector import QuickBooksConnector, QuickBooksEndpoints, journal_entry_lines
from tests.support.scripted_server import Reply

REALM = "9130349487640896"
QUERY = f"/quickbooks/v3/company/{REALM}/query"


def token(rejected: str | None = None) -> str:
    return "access-1"


@pytest.fixture
def qbo(server) -> QuickBooksConnector:
    http = HttpClient(timeout=(2, 2), retry=RetryPolicy(max_attempts=2, base_delay=0.001), rng=random.Random(0))
    return QuickBooksConnector(client_id="cid", client_secret="secret",
                               endpoints=QuickBooksEndpoints.sandbox(server.url), http=http,
                               rate_limits=RateLimits(per_window=1000, concurrent=10), setup={"realm_id": REALM})


def fault(kind: str, code: str, detail: str) -> dict:
    return {"Fault": {"Error": [{"Message": "message=Error; errorCode=00" + code, "Detail": detail, "code": code,
                                 "element": ""}], "type": kind}, "time": "2026-11-30T10:58:26.000-08:00"}


def test_a_200_answer_holding_a_fault_is_refused(server, qbo):
    server.script(QUERY, Reply(200, fault("ValidationFault", "4000", "Error parsing query")))
    with pytest.raises(RequestRejected, match="ValidationFault: Error parsing query"):
        list(qbo.pull("accounts", token=token, tenant_id=REALM))


def test_an_ended_subscription_is_said_plainly(server, qbo):
    server.script(QUERY, Reply(400, fault("ValidationFault", "6190", "Invalid Company Status")))
    with pytest.raises(NotEntitled, match="subscription has ended") as raised:
        list(qbo.pull("accounts", token=token, tenant_id=REALM))
    assert "renew" in raised.value.action


def test_a_lost_authorization_means_reconnecting(server, qbo):
    server.script(QUERY, Reply(403, fault("AuthorizationFault", "120", "Authorization Failure")))
    with pytest.raises(CompanyDisconnected):
        list(qbo.pull("accounts", token=token, tenant_id=REALM))


def test_a_journal_entry_becomes_signed_home_currency_lines_with_its_class_and_location():
    entry = {
        "Id": "227", "TxnDate": "2026-10-31", "CurrencyRef": {"value": "EUR"}, "ExchangeRate": 1.25,
        "MetaData": {"CreateTime": "2026-11-01T09:00:00-07:00", "LastUpdatedTime": "2026-11-01T09:00:00-07:00"},
        "Line": [
            {"Id": "0", "Description": "Accrued audit fee", "Amount": 100.0, "DetailType": "JournalEntryLineDetail",
             "JournalEntryLineDetail": {"PostingType": "Debit", "AccountRef": {"value": "7", "name": "Audit Fees"},
                                        "ClassRef": {"value": "3", "name": "Consulting"},
                                        "DepartmentRef": {"value": "1", "name": "Sydney"}}},
            {"Id": "1", "Amount": 100.0, "DetailType": "JournalEntryLineDetail",
             "JournalEntryLineDetail": {"PostingType": "Credit", "AccountRef": {"value": "33", "name": "Accruals"}}},
            {"Id": "2", "Description": "memo only", "DetailType": "DescriptionOnly", "DescriptionLineDetail": {}},
        ]}
    debit, credit = journal_entry_lines(entry)
    assert (debit.source_line_id, debit.account_id, debit.amount, debit.date) == ("227-0", "7", Decimal("125.0000"),
                                                                                   date(2026, 10, 31))
    assert (credit.source_line_id, credit.amount, credit.dimension_values) == ("227-1", Decimal("-125.0000"), ())
    assert debit.dimension_values == (DimensionValue("Class", "3", "Class", "Consulting"),
                                      DimensionValue("Department", "1", "Department", "Sydney"))
    assert debit.source_journal_id == "227" and debit.description == "Accrued audit fee"
