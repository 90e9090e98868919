"""A community QuickBooks client nobody here wrote (python-quickbooks, signing in with Intuit's own intuit-oauth)
against the QuickBooks dialect: the OAuth dance through Intuit's discovery document, queries paged to the end,
change data capture with a deletion, the trial balance report, and a Fault."""
from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

pytest.importorskip("quickbooks")
pytest.importorskip("intuitlib")

from intuitlib.client import AuthClient  # noqa: E402
from intuitlib.enums import Scopes  # noqa: E402
from quickbooks import QuickBooks  # noqa: E402
from quickbooks.cdc import change_data_capture  # noqa: E402
from quickbooks.exceptions import AuthorizationException, QuickbooksException  # noqa: E402
from quickbooks.objects.account import Account  # noqa: E402
from quickbooks.objects.bill import Bill  # noqa: E402
from quickbooks.objects.billpayment import BillPayment  # noqa: E402
from quickbooks.objects.creditmemo import CreditMemo  # noqa: E402
from quickbooks.objects.deposit import Deposit  # noqa: E402
from quickbooks.objects.invoice import Invoice  # noqa: E402
from quickbooks.objects.journalentry import JournalEntry  # noqa: E402
from quickbooks.objects.payment import Payment  # noqa: E402
from quickbooks.objects.purchase import Purchase  # noqa: E402
from quickbooks.objects.refundreceipt import RefundReceipt  # noqa: E402
from quickbooks.objects.salesreceipt import SalesReceipt  # noqa: E402
from quickbooks.objects.transfer import Transfer  # noqa: E402
from quickbooks.objects.vendorcredit import VendorCredit  # noqa: E402

from tests.support.sandbox import TEST_CLIENT, SandboxServer, quickbooks_test_config, running_sandbox  # noqa: E402


@pytest.fixture(scope="module")
def sandbox_module() -> Iterator[SandboxServer]:
    with running_sandbox(quickbooks_test_config(lines=9_000)) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_module: SandboxServer) -> SandboxServer:
    sandbox_module.reset()
    return sandbox_module


@pytest.fixture
def tenant(sandbox) -> dict:
    return sandbox.tenants()[0]


@pytest.fixture
def signed_in(sandbox, tenant) -> tuple[AuthClient, str]:
    """intuit-oauth reads the endpoints from the discovery document, sends the user to consent, and trades the
    code (with the realmId the callback carries) for tokens."""
    auth = AuthClient(TEST_CLIENT.client_id, TEST_CLIENT.client_secret, TEST_CLIENT.redirect_uris[0],
                      f"{sandbox.url}/quickbooks/.well-known/openid_sandbox_configuration")
    url = auth.get_authorization_url([Scopes.ACCOUNTING], state_token=secrets.token_urlsafe(8))
    page = requests.get(url, allow_redirects=False, timeout=10)
    back = requests.post(page.url, data={"decision": "approve", "tenant": [tenant["tenantId"]]},
                         allow_redirects=False, timeout=10)
    callback = {k: v[0] for k, v in parse_qs(urlsplit(back.headers["Location"]).query).items()}
    auth.get_bearer_token(callback["code"], realm_id=callback["realmId"])
    assert auth.access_token and auth.refresh_token and auth.realm_id == callback["realmId"]
    return auth, callback["realmId"]


@pytest.fixture
def qb(sandbox, signed_in, monkeypatch) -> QuickBooks:
    auth, realm = signed_in
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the emulator speaks plain HTTP on 127.0.0.1
    client = QuickBooks(auth_client=auth, refresh_token=auth.refresh_token, company_id=realm, minorversion=75)
    client.api_url_v3 = f"{sandbox.url}/quickbooks/v3"  # the emulator instead of quickbooks.api.intuit.com
    return client


def test_the_client_refreshes_its_token(signed_in):
    auth, _ = signed_in
    first = auth.refresh_token
    auth.refresh()
    assert auth.access_token and auth.refresh_token != first  # Intuit rotates: keep the newest


POSTING = (JournalEntry, Invoice, SalesReceipt, CreditMemo, RefundReceipt, Payment, Bill, VendorCredit, Purchase,
           BillPayment, Deposit, Transfer)


def every(entity, qb) -> list:
    found, start = [], 1
    while True:
        page = entity.all(start_position=start, max_results=1000, qb=qb)
        found += page
        if len(page) < 1000:
            return found
        start += 1000


def test_accounts_and_every_posting_entity_page_to_the_end(qb, tenant):
    accounts = Account.where("Active IN (true, false)", max_results=1000, qb=qb)
    assert {a.Classification for a in accounts} == {"Asset", "Liability", "Equity", "Revenue", "Expense"}
    assert len(Account.all(max_results=1000, qb=qb)) < len(accounts)  # a plain query answers active ones only
    found = {entity.__name__: every(entity, qb) for entity in POSTING}
    # Every journal of the ground truth is one transaction of one entity; the ledger is posted by many.
    assert sum(len(objects) for objects in found.values()) == tenant["journalCount"]
    assert sum(1 for objects in found.values() if objects) >= 8
    assert len({o.Id for objects in found.values() for o in objects}) == tenant["journalCount"]
    for entry in found["JournalEntry"]:
        debits = sum(Decimal(str(line.Amount)) for line in entry.Line
                     if line.JournalEntryLineDetail.PostingType == "Debit")
        assert debits == Decimal(str(entry.TotalAmt))
    for invoice in found["Invoice"][:20]:
        assert invoice.Line and all(line.DetailType == "SalesItemLineDetail" for line in invoice.Line)


def test_the_general_ledger_report_shows_every_posting_of_a_month(qb, sandbox, tenant):
    month_end = date.today().replace(day=1) - timedelta(days=1)
    month = month_end.replace(day=1)
    report = qb.get_report("GeneralLedger", {"start_date": month.isoformat(), "end_date": month_end.isoformat(),
                                             "columns": "tx_date,txn_type,debt_amt,credit_amt"})
    rows = [r for section in report["Rows"]["Row"] for r in section["Rows"]["Row"]]
    net = {section["Header"]["ColData"][0]["value"]: sum(Decimal(r["ColData"][2]["value"] or "0")
                                                         - Decimal(r["ColData"][3]["value"] or "0")
                                                         for r in section["Rows"]["Row"])
           for section in report["Rows"]["Row"]}
    assert sum(net.values()) == 0 and rows
    truth = sandbox.admin("GET", f"/admin/tenants/{tenant['tenantId']}/trial-balance?period={month:%Y-%m}",
                          expect=200)
    assert {k: v for k, v in net.items() if v} == {r["accountName"]: Decimal(str(r["netAmount"]))
                                                   for r in truth["movements"] if r["netAmount"]}
    assert {r["ColData"][1]["value"] for r in rows} >= {"Invoice", "Bill", "Payment"}


def test_change_data_capture_reports_a_deleted_entry(qb, sandbox, tenant):
    since = (date.today() - timedelta(days=2)).isoformat()
    gone = sandbox.admin("DELETE", f"/admin/tenants/{tenant['tenantId']}/journals/5", expect=200)
    changes = change_data_capture(list(POSTING), since, qb=qb)
    deleted = [e for entity in POSTING for e in getattr(changes, entity.__name__, None) or ()
               if getattr(e, "status", "") == "Deleted"]
    assert [e.Id for e in deleted] == [str(gone["journalNumber"])]


def test_the_trial_balance_report_balances(qb):
    month_end = date.today().replace(day=1) - timedelta(days=1)
    report = qb.get_report("TrialBalance", {"end_date": month_end.isoformat()})
    total = report["Rows"]["Row"][-1]["Summary"]["ColData"]
    assert total[0]["value"] == "TOTAL" and total[1]["value"] == total[2]["value"] != "0.00"


def test_a_bad_query_comes_back_as_a_fault_the_client_understands(qb):
    with pytest.raises(QuickbooksException) as raised:
        qb.query("select * from Nothingness")
    assert "Invalid entity" in str(raised.value.detail)
    qb.auth_client.access_token = "revoked"
    qb.session = None
    with pytest.raises((AuthorizationException, QuickbooksException)):
        Account.all(qb=qb)


def test_intuits_client_revokes_the_grant(signed_in, sandbox):
    auth, realm = signed_in
    token = auth.access_token
    assert auth.revoke(token=auth.refresh_token)
    refused = requests.get(f"{sandbox.url}/quickbooks/v3/company/{realm}/preferences", timeout=10,
                           headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401
