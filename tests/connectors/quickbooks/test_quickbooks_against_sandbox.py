"""The QuickBooks Online connector over real HTTP against the sandbox's QuickBooks dialect: the OAuth dance with
the realm on the callback, every stream paged to the end, CDC with deletions, the fallbacks beyond CDC's window
and past its 1,000 objects, the trial balance, Faults and limits."""
from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from server.connectors.framework.errors import CompanyDisconnected, ProviderUnavailable
from server.connectors.framework.http import HttpClient, RateLimits, RequestRecord, RetryPolicy
from server.connectors.framework.records import Deletion, LedgerLine, ReplacedRange
from server.connectors.quickbooks import connector as quickbooks
from server.connectors.quickbooks.connector import (
    MINOR_VERSION,
    POSTING_ENTITIES,
    QuickBooksConnector,
    QuickBooksEndpoints,
)
from server.refresh.reconcile import _provider_movements
from tests.support.sandbox import TEST_CLIENT, SandboxServer, quickbooks_test_config, running_sandbox
from tests.support.waiting import wait_until

REDIRECT = TEST_CLIENT.redirect_uris[0]
# The sandbox's "minute" is one second: 500 calls and 10 at once per realm, as Intuit's limits (scaled).
SCALED = RateLimits(per_window=480, window_seconds=1.0, concurrent=10)


@pytest.fixture(scope="module")
def sandbox_module() -> Iterator[SandboxServer]:
    # Two companies of about 9,000 lines each: the journal entries take more than one 1,000-object page.
    with running_sandbox(quickbooks_test_config(lines=18_000)) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_module: SandboxServer) -> SandboxServer:
    sandbox_module.reset()
    return sandbox_module


def connector(sandbox: SandboxServer, setup: dict | None = None, **kwargs) -> QuickBooksConnector:
    client = HttpClient(timeout=(2.0, 10.0), retry=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05))
    return QuickBooksConnector(client_id=TEST_CLIENT.client_id, client_secret=TEST_CLIENT.client_secret,
                               endpoints=QuickBooksEndpoints.sandbox(sandbox.url), http=client, rate_limits=SCALED,
                               setup=setup, **kwargs)


def consent(sandbox: SandboxServer, url: str, tenant_id: str) -> dict[str, str]:
    """The user picks one company on Intuit's consent page; the query the browser comes back with."""
    page = requests.get(url, allow_redirects=False, timeout=10)
    assert page.status_code == 200
    answer = requests.post(page.url, data={"decision": "approve", "tenant": [tenant_id]}, allow_redirects=False,
                           timeout=10)
    assert answer.status_code == 302, answer.text
    return {key: values[0] for key, values in parse_qs(urlsplit(answer.headers["Location"]).query).items()}


@pytest.fixture
def tenant(sandbox) -> dict:
    return sandbox.tenants()[0]


@pytest.fixture
def connected(sandbox, tenant) -> tuple[QuickBooksConnector, str, str]:
    """(connector built from the consent's setup, realm id, access token)."""
    start = connector(sandbox)
    request = start.auth.authorization_url(REDIRECT)
    assert "code_challenge" not in request.url and "scope=com.intuit.quickbooks.accounting" in request.url
    callback = consent(sandbox, request.url, tenant["tenantId"])
    done = start.auth.complete(redirect_uri=REDIRECT, callback=callback, expected_state=request.state,
                               code_verifier=None)
    assert done.setup["realm_id"] == callback["realmId"] and done.credential["refresh_token"]
    return connector(sandbox, done.setup), callback["realmId"], done.credential["access_token"]


def lines_and_deletions(records) -> tuple[list[LedgerLine], list[Deletion]]:
    return [r for r in records if isinstance(r, LedgerLine)], [r for r in records if isinstance(r, Deletion)]


def applied(records) -> list[LedgerLine]:
    """What a store holds after these records in order: a Deletion removes what came before it of its journal
    (or the one line it names), a ReplacedRange what is dated in it and it does not list, a line is upserted by
    its id."""
    held: dict[str, LedgerLine] = {}
    of_journal: dict[str, set[str]] = {}
    for record in records:
        if isinstance(record, ReplacedRange):
            for line in [line for line in held.values() if record.start <= line.date <= record.end
                         and line.source_line_id not in record.source_line_ids]:
                held.pop(line.source_line_id)
        elif isinstance(record, Deletion):
            for line_id in of_journal.pop(record.source_journal_id, set()) | {record.source_line_id}:
                held.pop(line_id, None)
        else:
            held[record.source_line_id] = record
            of_journal.setdefault(record.source_journal_id, set()).add(record.source_line_id)
    return list(held.values())


def pull_all(qbo, stream, token, realm, **kwargs):
    pages = list(qbo.pull(stream, token=lambda rejected=None: token, tenant_id=realm, **kwargs))
    return [r for page in pages for r in page.records], (pages[-1].cursor if pages else kwargs.get("cursor")), pages


def by_code(qbo, token, realm) -> dict[str, str]:
    accounts, _, _ = pull_all(qbo, "accounts", token, realm)
    return {a.source_id: a.code for a in accounts}


def truth_by_code(sandbox, tenant_id) -> dict[tuple[str, str], Decimal]:
    truth = sandbox.admin("GET", f"/admin/tenants/{tenant_id}/trial-balance", expect=200)
    totals: Counter = Counter()
    for row in truth["movements"]:
        totals[(row["accountCode"], row["period"])] += Decimal(str(row["netAmount"]))
    return {k: v for k, v in totals.items() if v}


def pulled_by_code(lines, codes) -> dict[tuple[str, str], Decimal]:
    totals: Counter = Counter()
    for line in lines:
        totals[(codes[line.account_id], f"{line.date:%Y-%m}")] += line.amount
    return {k: v for k, v in totals.items() if v}


def test_one_consent_connects_the_company_named_on_the_callback(connected, tenant):
    qbo, realm, token = connected
    companies = qbo.list_companies(lambda rejected=None: token)
    assert [(c.provider_entity_id, c.name) for c in companies] == [(realm, tenant["name"])]


def test_lists_profile_and_currencies(connected, tenant):
    qbo, realm, token = connected
    profile = qbo.company_profile(lambda rejected=None: token, realm)
    assert profile.base_currency == tenant["baseCurrency"] and profile.year_end_month in range(1, 13)
    accounts, _, _ = pull_all(qbo, "accounts", token, realm)
    assert {a.account_class for a in accounts} == {"asset", "liability", "equity", "revenue", "expense"}
    assert any(a.status == "archived" for a in accounts), "inactive accounts are asked for too"
    (classes,), (departments,) = (pull_all(qbo, stream, token, realm)[0] for stream in ("classes", "departments"))
    assert (classes.source_id, departments.source_id) == ("Class", "Department")
    assert departments.members and any(m.status == "archived" for m in classes.members), "inactive ones too"
    currencies, _, _ = pull_all(qbo, "currencies", token, realm)
    assert currencies and tenant["baseCurrency"] not in {c.code for c in currencies}


def test_every_request_says_minorversion_75(connected):
    qbo, realm, token = connected
    log: list[RequestRecord] = []
    for stream in ("preferences", "accounts", "classes", "general_ledger"):
        list(qbo.pull(stream, token=lambda rejected=None: token, tenant_id=realm, log=log))
    assert log and all(f"minorversion={MINOR_VERSION}" in record.endpoint for record in log), [r.endpoint for r in log]


def kinds(log: list[RequestRecord]) -> list[str]:
    """What each request asked for: the part of its path after the realm (`cdc`, `companyinfo`, the report)."""
    return [urlsplit(r.endpoint).path.split("/v3/company/", 1)[1].split("/")[1:][-1 if "/reports/" in r.endpoint
                                                                              else 0] for r in log]


def loaded(qbo, token, realm, **kwargs):
    """(lines a store holds after the pull, its cursor, the requests it made)."""
    log: list[RequestRecord] = []
    records, cursor, _ = pull_all(qbo, "general_ledger", token, realm, log=log, **kwargs)
    return records, cursor, log


def test_the_first_load_reads_a_report_per_month_and_equals_the_ledger(connected, sandbox, tenant):
    qbo, realm, token = connected
    records, cursor, log = loaded(qbo, token, realm)
    lines, deletions = lines_and_deletions(records)
    months = {f"{line.date:%Y-%m}" for line in lines}
    assert not deletions and kinds(log)[0] == "companyinfo"
    assert_months_replace_every_date(records)
    assert kinds(log).count("query") == 2, "Class and Department lists, once each, for the names in the reports"
    ranges = [parse_qs(urlsplit(r.endpoint).query)["start_date"][0] for r in log if "GeneralLedger" in r.endpoint]
    assert len(set(ranges)) == len(ranges) >= len(months) + 1, "a report per month, one before the books start"
    assert len(lines) == len({line.source_line_id for line in lines})
    assert pulled_by_code(lines, by_code(qbo, token, realm)) == truth_by_code(sandbox, tenant["tenantId"])
    # Every kind of transaction that posts is in the ledger, not only journal entries.
    posted_by = {line.source_journal_id.split(":")[0] for line in lines}
    assert {"JournalEntry", "Invoice", "Bill", "Payment", "BillPayment", "Purchase", "SalesReceipt"} <= posted_by
    assert any(value.dimension_id == "Class" and value.member_id for line in lines
               for value in line.dimension_values), "Class cells name a member; its id is looked up"
    assert cursor is not None


def test_changes_come_by_cdc_and_their_months_report_with_deletions(connected, sandbox, tenant):
    qbo, realm, token = connected
    first, cursor, _ = loaded(qbo, token, realm)
    tenant_id = tenant["tenantId"]
    posted = sandbox.admin("POST", f"/admin/tenants/{tenant_id}/journals", {"generate": 3}, expect=201)["journals"]
    deleted = sandbox.admin("DELETE", f"/admin/tenants/{tenant_id}/journals/{posted[0]['journalNumber']}", expect=200)
    old = sandbox.admin("DELETE", f"/admin/tenants/{tenant_id}/journals/7", expect=200)
    wait_until(lambda: datetime.now(UTC).replace(microsecond=0) > parse_cursor(cursor),
               message="the clock did not move on")  # the cursor is a time to the second: see it move
    records, new_cursor, log = loaded(qbo, token, realm, cursor=cursor)
    assert kinds(log)[0] == "cdc" and kinds(log).count("GeneralLedger") == 1, "the new entries are this month's"
    lines, deletions = lines_and_deletions(records)
    deleted_numbers = {d.source_journal_id.split(":")[1] for d in deletions}
    assert {str(deleted["journalNumber"]), str(old["journalNumber"])} <= deleted_numbers
    new = {str(p["journalNumber"]) for p in posted[1:]}
    assert new <= {line.source_journal_id.split(":")[1] for line in lines}
    assert parse_cursor(new_cursor) > parse_cursor(cursor)
    held = applied(first + records)
    assert pulled_by_code(held, by_code(qbo, token, realm)) == truth_by_code(sandbox, tenant_id)


def test_a_quiet_company_keeps_its_cursor_inside_cdcs_window(connected):
    qbo, realm, token = connected
    _, cursor, _ = loaded(qbo, token, realm)
    # The cursor is a time to the second: let the clock pass it, or a fast machine sees the same second again.
    wait_until(lambda: datetime.now(UTC).replace(microsecond=0) > parse_cursor(cursor),
               message="the clock did not move on")
    records, later, log = loaded(qbo, token, realm, cursor=cursor)
    assert kinds(log) == ["cdc"] and not records and parse_cursor(later) > parse_cursor(cursor)


def assert_months_replace_every_date(records) -> None:
    """Each page of a re-read is a month's ReplacedRange then its lines; the months, one after the other, cover
    every date, and each lists exactly the lines read for it."""
    ranges = [r for r in records if isinstance(r, ReplacedRange)]
    assert isinstance(records[0], ReplacedRange) and ranges[0].start == quickbooks.EARLIEST
    assert ranges[-1].end == quickbooks.LATEST
    assert all(after.start == before.end + timedelta(days=1) for before, after in itertools.pairwise(ranges))
    lines = lines_and_deletions(records)[0]
    for month in ranges:
        assert month.source_line_ids == {line.source_line_id for line in lines if month.start <= line.date <= month.end}


def journal_numbers(records) -> set[str]:
    return {line.source_journal_id.split(":")[1] for line in records if isinstance(line, LedgerLine)}


def test_a_cursor_beyond_cdcs_30_days_reads_every_month_again_replacing_what_was_loaded(connected, sandbox, tenant):
    qbo, realm, token = connected
    first, _, _ = loaded(qbo, token, realm)
    tenant_id = tenant["tenantId"]
    back_dated = (date.today().replace(day=1) - timedelta(days=45)).isoformat()
    posted = sandbox.admin("POST", f"/admin/tenants/{tenant_id}/journals", {"generate": 2, "date": back_dated},
                           expect=201)["journals"]
    # Deleted during the gap: CDC, which alone reports deletions, cannot look back that far.
    gone = sandbox.admin("DELETE", f"/admin/tenants/{tenant_id}/journals/7", expect=200)
    old = (datetime.now(UTC) - timedelta(days=40)).isoformat(timespec="seconds")
    records, cursor, log = loaded(qbo, token, realm, cursor=old)
    assert "cdc" not in kinds(log) and set(kinds(log)) == {"companyinfo", "GeneralLedger", "query"}
    lines, deletions = lines_and_deletions(records)
    assert not deletions, "months replace what was loaded for them: no transaction is deleted to be read again"
    assert_months_replace_every_date(records)
    assert {str(p["journalNumber"]) for p in posted} <= journal_numbers(lines)
    assert parse_cursor(cursor) > datetime.now(UTC) - timedelta(days=1)
    held = applied(first + records)
    number = str(gone["journalNumber"])
    assert number in journal_numbers(first) and number not in journal_numbers(held)
    assert pulled_by_code(held, by_code(qbo, token, realm)) == truth_by_code(sandbox, tenant_id)


def parse_cursor(cursor: str) -> datetime:
    return datetime.fromisoformat(cursor)


def report_months(log: list[RequestRecord]) -> list[str]:
    return [parse_qs(urlsplit(r.endpoint).query)["start_date"][0] for r in log if "GeneralLedger" in r.endpoint]


def test_a_read_of_every_month_goes_on_from_the_month_its_cursor_names(connected, sandbox, tenant):
    qbo, realm, token = connected
    _, _, pages = pull_all(qbo, "general_ledger", token, realm)
    stopped = pages[5]  # six months committed, then the read was handed over, failed or was killed
    under_way = quickbooks.parse_ledger_cursor(stopped.cursor)
    assert isinstance(under_way, quickbooks.ReadUnderWay) and under_way.next_month == pages[6].records[0].start
    log: list[RequestRecord] = []
    rest, cursor, _ = pull_all(qbo, "general_ledger", token, realm, cursor=stopped.cursor, log=log)
    assert kinds(log)[0] == "cdc" and "companyinfo" not in kinds(log), "what changed since it began, then on"
    assert report_months(log) == [f"{page.records[0].start}" for page in pages[6:]], "each month left, once"
    assert rest == [record for page in pages[6:] for record in page.records], "the same months, the same lines"
    assert parse_cursor(cursor) >= parse_cursor(pages[-1].cursor), "as of CDC's answer, after the read began"

    # Meanwhile, at QuickBooks: a transaction of a month it read is deleted, new ones are posted this month.
    tenant_id = tenant["tenantId"]
    read = [record for page in pages[:6] for record in page.records]
    early = sorted(journal_numbers(read), key=int)[0]
    sandbox.admin("DELETE", f"/admin/tenants/{tenant_id}/journals/{early}", expect=200)
    posted = sandbox.admin("POST", f"/admin/tenants/{tenant_id}/journals", {"generate": 2}, expect=201)["journals"]
    log = []
    rest, cursor, _ = pull_all(qbo, "general_ledger", token, realm, cursor=stopped.cursor, log=log)
    assert report_months(log) == [f"{page.records[0].start}" for page in pages[6:]], "still each month left, once"
    held = applied(read + rest)
    assert early not in journal_numbers(held) and {str(p["journalNumber"]) for p in posted} <= journal_numbers(held)
    assert pulled_by_code(held, by_code(qbo, token, realm)) == truth_by_code(sandbox, tenant_id)

    # Begun longer ago than CDC looks back, the months it read could have changed unseen: it starts again.
    later = connector(sandbox, qbo.setup, clock=lambda: datetime.now(UTC) + timedelta(days=40))
    log = []
    again, cursor, _ = pull_all(later, "general_ledger", token, realm, cursor=stopped.cursor, log=log)
    assert kinds(log)[0] == "companyinfo" and report_months(log)[0] == f"{quickbooks.EARLIEST}"
    assert_months_replace_every_date(again)
    assert parse_cursor(cursor) >= under_way.began


def test_a_full_cdc_answer_is_asked_again_entity_by_entity(connected, sandbox, tenant):
    qbo, realm, token = connected
    first, cursor, _ = loaded(qbo, token, realm)
    tenant_id = tenant["tenantId"]
    sandbox.admin("POST", f"/admin/tenants/{tenant_id}/journals", {"generate": 1_050}, expect=201)
    gone = sandbox.admin("DELETE", f"/admin/tenants/{tenant_id}/journals/3", expect=200)
    records, _, log = loaded(qbo, token, realm, cursor=cursor)
    calls = kinds(log)
    assert calls[:1 + len(POSTING_ENTITIES)] == ["cdc"] * (1 + len(POSTING_ENTITIES))
    assert set(calls[1 + len(POSTING_ENTITIES):]) <= {"GeneralLedger", "query"}
    held = applied(first + records)
    assert str(gone["journalNumber"]) not in journal_numbers(held)
    assert len(held) == sandbox.tenants()[0]["lineCount"]
    assert pulled_by_code(held, by_code(qbo, token, realm)) == truth_by_code(sandbox, tenant_id)


def test_an_entity_too_busy_for_cdc_means_every_month_again(connected, sandbox, tenant, monkeypatch):
    qbo, realm, token = connected
    first, cursor, _ = loaded(qbo, token, realm)
    tenant_id = tenant["tenantId"]
    # A cap of 3 stands in for Intuit's 1,000 (the test above meets the real one): 40 transactions over 12
    # entities put at least 4 in one of them.
    monkeypatch.setattr(quickbooks, "CDC_MAX_OBJECTS", 3)
    sandbox.admin("POST", f"/admin/tenants/{tenant_id}/journals", {"generate": 40}, expect=201)
    gone = sandbox.admin("DELETE", f"/admin/tenants/{tenant_id}/journals/5", expect=200)
    records, _, log = loaded(qbo, token, realm, cursor=cursor)
    calls = kinds(log)
    assert calls[0] == "cdc" and "companyinfo" in calls and calls[-1] == "GeneralLedger"
    held = applied(first + records)
    assert str(gone["journalNumber"]) not in journal_numbers(held)
    assert pulled_by_code(held, by_code(qbo, token, realm)) == truth_by_code(sandbox, tenant_id)


def test_the_trial_balance_gives_each_months_movement_per_account_class(connected, sandbox, tenant):
    qbo, realm, token = connected
    first = date.today().replace(day=1)
    month = (first - timedelta(days=1)).replace(day=1)  # last whole month
    before = (month - timedelta(days=1)).replace(day=1)
    ends = [(month - timedelta(days=1)).isoformat(), (first - timedelta(days=1)).isoformat()]
    rows, _, pages = pull_all(qbo, "trial_balance", token, realm, options={"period_ends": ends})
    assert len(pages) == 2
    for page in pages:
        assert sum(r.debit for r in page.records) == sum(r.credit for r in page.records) != 0
    accounts, _, _ = pull_all(qbo, "accounts", token, realm)
    classes = {a.source_id: a.account_class for a in accounts}
    profile = qbo.company_profile(lambda rejected=None: token, realm)
    opening = {month} if (month.month - 1) % 12 == profile.year_end_month % 12 else set()
    expected = _provider_movements([month], opening, rows, classes)
    codes = {a.source_id: a.code for a in accounts}
    truth = truth_by_code(sandbox, tenant["tenantId"])
    got = {codes[a]: v for (a, _), v in expected.items() if v}
    want = {code: v for (code, period), v in truth.items() if period == f"{month:%Y-%m}"}
    if opening:  # the year's first month: Retained Earnings also takes last year's profit, no journal does
        got.pop("960", None), want.pop("960", None)
    assert got == want
    assert before < month


def test_a_company_the_grant_does_not_reach_says_so(connected, sandbox):
    qbo, _, token = connected
    other = next(t for t in sandbox.tenants() if t["tenantId"] != sandbox.tenants()[0]["tenantId"])
    from server.sandbox.quickbooks.format import realm_of
    with pytest.raises(CompanyDisconnected, match="no longer lets Ledgerpane read this company"):
        list(qbo.pull("accounts", token=lambda rejected=None: token, tenant_id=realm_of(other["tenantId"])))


def test_throttles_and_server_faults_are_retried_in_intuits_shape(connected, sandbox, tenant):
    qbo, realm, token = connected
    sandbox.admin("POST", f"/admin/tenants/{tenant['tenantId']}/faults", {"kind": "429", "count": 1}, expect=201)
    sandbox.admin("POST", f"/admin/tenants/{tenant['tenantId']}/faults", {"kind": "500", "count": 1}, expect=201)
    log: list[RequestRecord] = []
    accounts, _, _ = pull_all(qbo, "accounts", token, realm, log=log)
    assert accounts and [r.status for r in log][:3] == [429, 500, 200]
    sandbox.admin("POST", f"/admin/tenants/{tenant['tenantId']}/faults", {"kind": "503", "count": 10}, expect=201)
    with pytest.raises(ProviderUnavailable):
        pull_all(qbo, "accounts", token, realm)
    fault = requests.get(f"{sandbox.url}/quickbooks/v3/company/{realm}/query", timeout=10,
                         params={"query": "select * from Account"}, headers={"Authorization": "Bearer nope"}).json()
    assert fault["Fault"]["type"] == "AuthenticationFault" and fault["Fault"]["Error"][0]["code"] == "3200"


def test_revoking_ends_the_grant_as_intuit_takes_it(sandbox, tenant):
    start = connector(sandbox)
    request = start.auth.authorization_url(REDIRECT)
    done = start.auth.complete(redirect_uri=REDIRECT, callback=consent(sandbox, request.url, tenant["tenantId"]),
                               expected_state=request.state, code_verifier=None)
    qbo = connector(sandbox, done.setup)
    token = done.credential["access_token"]
    assert qbo.list_companies(lambda rejected=None: token)
    log: list[RequestRecord] = []
    qbo.auth.end(done.credential, log)  # POST {"token": ...} as JSON, with the app's Basic credentials
    assert [r.status for r in log] == [200]
    gone = requests.get(f"{sandbox.url}/quickbooks/v3/company/{done.setup['realm_id']}/preferences", timeout=10,
                        headers={"Authorization": f"Bearer {token}"})
    assert gone.status_code == 401 and gone.json()["Fault"]["type"] == "AuthenticationFault"
