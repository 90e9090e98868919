"""The QuickBooks connector against a local server answering in Intuit's documented shapes (providers.md §2):
Fault bodies onto the error hierarchy, a GeneralLedger report's rows as ledger lines (sub-account sections,
Beginning Balance rows, debit and credit columns, classes and locations named only)."""
from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from server.connectors.framework.errors import CompanyDisconnected, NotEntitled, RequestRejected
from server.connectors.framework.http import HttpClient, RateLimits, RetryPolicy
from server.connectors.framework.records import DimensionValue
from server.connectors.quickbooks.connector import (
    LEDGER,
    GeneralLedgerReport,
    QuickBooksConnector,
    QuickBooksEndpoints,
    ReadUnderWay,
)
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


def column(key: str) -> dict:
    return {"ColTitle": key, "ColType": "String", "MetaData": [{"Name": "ColKey", "Value": key}]}


def row(*cells: dict) -> dict:
    return {"type": "Data", "ColData": list(cells)}


def test_a_general_ledger_report_becomes_signed_lines_per_transaction_with_class_and_location():
    # Columns in another order than asked; a sub-account's section inside its parent's; a Beginning Balance row.
    keys = ("txn_type", "tx_date", "credit_amt", "debt_amt", "memo", "klass_name", "dept_name")
    audit = {"Header": {"ColData": [{"value": "Audit Fees", "id": "7"}]}, "type": "Section", "Rows": {"Row": [
        row({"value": "Bill", "id": "227"}, {"value": "2026-10-31"}, {"value": ""}, {"value": "100.00"},
            {"value": "Audit"}, {"value": "Consulting"}, {"value": "Sydney"}),
        row({"value": "Journal Entry", "id": "12"}, {"value": "2026-10-02"}, {"value": "40.00"}, {"value": ""},
            {"value": ""}, {"value": ""}, {"value": ""})]}}
    body = {"Header": {"Time": "2026-11-30T10:58:26-08:00"}, "Columns": {"Column": [column(k) for k in keys]},
            "Rows": {"Row": [
                {"Header": {"ColData": [{"value": "Professional Fees", "id": "6"}]}, "type": "Section",
                 "Rows": {"Row": [row({"value": "Beginning Balance"}, {"value": ""}, {"value": ""},
                                      {"value": "900.00"}, {"value": ""}, {"value": ""}, {"value": ""}), audit]}},
                {"Header": {"ColData": [{"value": "Accounts Payable", "id": "33"}]}, "type": "Section",
                 "Rows": {"Row": [row({"value": "Bill", "id": "227"}, {"value": "2026-10-31"}, {"value": "100.00"},
                                      {"value": ""}, {"value": ""}, {"value": ""}, {"value": ""})]}}]}}
    members = {("Class", "Consulting"): "3", ("Department", "Sydney"): "1"}
    report = GeneralLedgerReport(body, lambda dimension, name: members[(dimension, name)])
    assert sorted(report.by_transaction) == ["Bill:227", "JournalEntry:12"]
    expense, payable = report.by_transaction["Bill:227"]
    assert (expense.source_line_id, expense.account_id, expense.amount, expense.date) == (
        "Bill:227:1", "7", Decimal("100.00"), date(2026, 10, 31))
    assert (payable.source_line_id, payable.account_id, payable.amount) == ("Bill:227:2", "33", Decimal("-100.00"))
    assert expense.dimension_values == (DimensionValue("Class", "3", "Class", "Consulting"),
                                        DimensionValue("Department", "1", "Department", "Sydney"))
    assert expense.source_journal_id == "Bill:227" and expense.description == "Audit"
    (journal,) = report.by_transaction["JournalEntry:12"]
    assert journal.amount == Decimal("-40.00") and journal.dimension_values == ()
    assert report.time is not None and report.time.tzinfo is not None


def test_the_cursor_of_a_read_under_way_moves_forward_from_the_one_it_replaces_to_the_reads_end():
    # The pipeline saves a ledger cursor only if it is not behind the saved one, and rewinds only instants.
    began = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    under_way = ReadUnderWay(began, date(2024, 5, 1))
    cursor = LEDGER.incremental.encode(under_way)
    assert cursor == "2026-11-30T09:00:00+00:00 reading from 2024-05-01"
    assert LEDGER.incremental.decode(cursor) == under_way
    assert LEDGER.incremental.decode(LEDGER.incremental.encode(began)) == began
    before = began - timedelta(days=40)  # the cursor a gap beyond CDC's window left
    assert before < under_way < ReadUnderWay(began, date(2024, 6, 1)) < began
    assert under_way > before and began > under_way and not began < under_way
