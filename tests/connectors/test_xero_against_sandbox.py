"""The Xero connector over real HTTP against the sandbox (Xero emulator): OAuth, streams, faults, limits."""
from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from server.connectors.framework.errors import (
    AuthExpired,
    AuthRevoked,
    OAuthStateMismatch,
    ProviderUnavailable,
    RateLimited,
)
from server.connectors.framework.http import HttpClient, RateLimits, RequestRecord, RetryPolicy
from server.connectors.framework.parsing import month_ends
from server.connectors.xero.connector import XeroConnector, XeroEndpoints
from tests.support.sandbox import TEST_CLIENT, SandboxServer, make_test_config, running_sandbox

REDIRECT = TEST_CLIENT.redirect_uris[0]
# The sandbox's "minute" is one second; our budget stays under its 60 calls and 5 in flight.
SCALED = RateLimits(per_window=55, window_seconds=1.0, concurrent=5, per_day=4_950, day_seconds=1_440)
SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "provider-specs" / "xero" / "xero_accounting.yaml"


@pytest.fixture(scope="module")
def sandbox_module() -> Iterator[SandboxServer]:
    with running_sandbox(make_test_config()) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_module: SandboxServer) -> SandboxServer:
    sandbox_module.reset()
    return sandbox_module


def connector(sandbox: SandboxServer, limits: RateLimits = SCALED, **http) -> XeroConnector:
    client = HttpClient(timeout=http.pop("timeout", (2.0, 5.0)),
                        retry=http.pop("retry", RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05)))
    return XeroConnector(client_id=TEST_CLIENT.client_id, client_secret=TEST_CLIENT.client_secret,
                         endpoints=XeroEndpoints.sandbox(sandbox.url), http=client, rate_limits=limits)


def consent(sandbox: SandboxServer, url: str) -> str:
    """The user ticks every organisation on the consent page; returns where the browser is sent back."""
    page = requests.get(url, allow_redirects=False, timeout=10)
    assert page.status_code == 200
    tenants = [t["tenantId"] for t in sandbox.tenants()]
    answer = requests.post(page.url, data={"decision": "approve", "tenant": tenants}, allow_redirects=False,
                           timeout=10)
    assert answer.status_code == 302
    return answer.headers["Location"]


def connect(sandbox: SandboxServer, xero: XeroConnector) -> dict:
    request = xero.auth.authorization_url(REDIRECT)
    callback = parse_qs(urlsplit(consent(sandbox, request.url)).query)
    return xero.auth.exchange_code(redirect_uri=REDIRECT, code=callback["code"][0],
                                    returned_state=callback["state"][0], expected_state=request.state,
                                    code_verifier=request.code_verifier)


class Vault:
    """What the refresh pipeline hands a pull: the current access token, refreshed when refused."""

    def __init__(self, xero: XeroConnector, tokens: dict) -> None:
        self.xero, self.tokens, self.refreshes = xero, tokens, 0

    def __call__(self, rejected: str | None = None) -> str:
        if rejected == self.tokens["access_token"]:
            self.tokens = self.xero.auth.refresh(self.tokens["refresh_token"])
            self.refreshes += 1
        return self.tokens["access_token"]


@pytest.fixture
def xero(sandbox) -> XeroConnector:
    return connector(sandbox)


@pytest.fixture
def vault(sandbox, xero) -> Vault:
    return Vault(xero, connect(sandbox, xero))


@pytest.fixture
def tenant(sandbox) -> dict:
    return sandbox.tenants()[0]


def journal_lines(xero, vault, tenant_id, cursor=None, log=None):
    pages = list(xero.pull("journals", token=vault, tenant_id=tenant_id, cursor=cursor, log=log))
    return [line for page in pages for line in page.records], (pages[-1].cursor if pages else cursor)


# ------------------------------------------------------------------------------------------------ OAuth

def test_the_oauth_dance_with_pkce_lists_the_organisations(sandbox, xero):
    tokens = connect(sandbox, xero)
    assert tokens["refresh_token"] and tokens["expires_in"] == 1800
    companies = xero.list_companies(lambda rejected=None: tokens["access_token"])
    assert sorted((c.provider_entity_id, c.name) for c in companies) == sorted(
        (t["tenantId"], t["name"]) for t in sandbox.tenants())
    assert all(c.kind == "organisation" and c.connection_id for c in companies)


def test_a_code_without_its_verifier_is_refused(sandbox, xero):
    request = xero.auth.authorization_url(REDIRECT)
    callback = parse_qs(urlsplit(consent(sandbox, request.url)).query)
    with pytest.raises(AuthRevoked):
        xero.auth.exchange_code(redirect_uri=REDIRECT, code=callback["code"][0],
                                 returned_state=callback["state"][0], expected_state=request.state,
                                 code_verifier="x" * 64)


def test_a_callback_with_a_foreign_state_is_refused(sandbox, xero):
    request = xero.auth.authorization_url(REDIRECT)
    callback = parse_qs(urlsplit(consent(sandbox, request.url)).query)
    with pytest.raises(OAuthStateMismatch):
        xero.auth.exchange_code(redirect_uri=REDIRECT, code=callback["code"][0], returned_state="forged",
                                 expected_state=request.state, code_verifier=request.code_verifier)


def test_a_refresh_rotates_the_refresh_token(sandbox, xero):
    first = connect(sandbox, xero)
    second = xero.auth.refresh(first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert xero.list_companies(lambda rejected=None: second["access_token"])


def test_a_rotated_refresh_token_replays_within_the_grace(sandbox, xero):
    first = connect(sandbox, xero)
    xero.auth.refresh(first["refresh_token"])
    sandbox.clock.advance(29 * 60)
    assert xero.auth.refresh(first["refresh_token"])["access_token"]


def test_a_rotated_refresh_token_dies_after_the_grace(sandbox, xero):
    first = connect(sandbox, xero)
    xero.auth.refresh(first["refresh_token"])
    sandbox.clock.advance(31 * 60)
    with pytest.raises(AuthRevoked):
        xero.auth.refresh(first["refresh_token"])


def test_an_expired_access_token_is_refreshed_once_mid_pull(sandbox, xero, vault, tenant):
    sandbox.clock.advance(1801)
    lines, _ = journal_lines(xero, vault, tenant["tenantId"])
    assert len(lines) == tenant["lineCount"] and vault.refreshes == 1


def test_a_revoked_grant_needs_a_reconnect(sandbox, xero, vault, tenant):
    xero.auth.revoke(vault.tokens["refresh_token"])
    with pytest.raises(AuthRevoked):
        journal_lines(xero, vault, tenant["tenantId"])  # 401, then the refresh is refused


def test_a_grant_revoked_by_the_user_needs_a_reconnect(sandbox, xero, vault, tenant):
    sandbox.admin("POST", "/admin/grants/revoke", {"clientId": TEST_CLIENT.client_id}, expect=200)
    with pytest.raises(AuthRevoked):
        xero.auth.refresh(vault.tokens["refresh_token"])


def test_a_token_refused_twice_is_auth_expired(sandbox, xero, tenant):
    with pytest.raises(AuthExpired):
        list(xero.pull("currencies", token=lambda rejected=None: "not-a-token", tenant_id=tenant["tenantId"]))


def test_a_tenant_can_be_disconnected_alone(sandbox, xero, vault):
    companies = xero.list_companies(vault)
    xero.disconnect_company(vault, companies[0].connection_id)
    assert [c.connection_id for c in xero.list_companies(vault)] == [c.connection_id for c in companies[1:]]


# ---------------------------------------------------------------------------------------------- streams

def test_journals_are_pulled_completely_and_match_the_ledger(sandbox, xero, vault, tenant):
    log: list[RequestRecord] = []
    lines, cursor = journal_lines(xero, vault, tenant["tenantId"], log=log)
    assert len(lines) == tenant["lineCount"] and len({line.source_line_id for line in lines}) == len(lines)
    assert int(cursor) == tenant["journalCount"]
    assert len(log) == -(-tenant["journalCount"] // 100) + 1  # full pages, then the empty one
    truth = sandbox.admin("GET", f"/admin/tenants/{tenant['tenantId']}/trial-balance", expect=200)
    expected = {(m["accountId"], m["period"]): Decimal(str(m["netAmount"])) for m in truth["movements"]}
    pulled: Counter = Counter()
    for line in lines:
        pulled[(line.account_id, f"{line.date:%Y-%m}")] += line.amount
    assert {k: v for k, v in pulled.items() if v} == {k: v for k, v in expected.items() if v}
    assert sum(line.amount for line in lines) == 0


def test_accounts_dimensions_currencies_and_organisation(sandbox, xero, vault, tenant):
    tenant_id = tenant["tenantId"]
    accounts = next(xero.pull("accounts", token=vault, tenant_id=tenant_id)).records
    assert accounts and all(a.source_id and a.name for a in accounts)
    assert any(a.status == "archived" for a in accounts)
    dimensions = next(xero.pull("tracking_categories", token=vault, tenant_id=tenant_id)).records
    assert any(m.status == "archived" for d in dimensions for m in d.members)
    currencies = next(xero.pull("currencies", token=vault, tenant_id=tenant_id)).records
    organisation = xero.company_profile(vault, tenant_id)
    assert organisation.base_currency == tenant["baseCurrency"] in {c.code for c in currencies}


def test_the_trial_balance_balances_every_period(sandbox, xero, vault, tenant):
    today = date.today()
    periods = month_ends(today - timedelta(days=90), today)
    pages = list(xero.pull("trial_balance", token=vault, tenant_id=tenant["tenantId"],
                           options={"period_ends": periods}))
    assert [p.records[0].period_end for p in pages] == periods
    for page in pages:
        assert sum(r.debit for r in page.records) == sum(r.credit for r in page.records)  # the month's figures
        assert sum(r.month_movement for r in page.records) == 0
        assert sum(r.year_to_date for r in page.records) == 0 != sum(abs(r.year_to_date) for r in page.records)
        assert {r.account_class for r in page.records} <= {"asset", "liability", "equity", "revenue", "expense"}
        assert all(r.account_code and r.account_id for r in page.records)


def test_incremental_journals_see_exactly_the_new_postings(sandbox, xero, vault, tenant):
    tenant_id = tenant["tenantId"]
    _, cursor = journal_lines(xero, vault, tenant_id)
    posted = sandbox.admin("POST", f"/admin/tenants/{tenant_id}/journals", {
        "reference": "accrual", "lines": [{"accountCode": "200", "netAmount": "-125.50"},
                                          {"accountCode": "610", "netAmount": "125.50"}]}, expect=201)
    voided = sandbox.admin("POST", f"/admin/tenants/{tenant_id}/journals/1/void", {}, expect=201)
    new_lines, new_cursor = journal_lines(xero, vault, tenant_id, cursor=cursor)
    numbers = {line.journal_number for line in new_lines}
    assert numbers == {posted["journals"][0]["journalNumber"], voided["journalNumber"]}
    assert int(new_cursor) == voided["journalNumber"]
    reversal = [line for line in new_lines if line.journal_number == voided["journalNumber"]]
    original, _ = journal_lines(xero, vault, tenant_id, cursor="0")
    first = [line for line in original if line.journal_number == 1]
    assert sorted(r.amount for r in reversal) == sorted(-line.amount for line in first)
    assert journal_lines(xero, vault, tenant_id, cursor=new_cursor)[0] == []


def test_incremental_accounts_see_exactly_the_changed_account(sandbox, xero, vault, tenant):
    tenant_id = tenant["tenantId"]
    page, = xero.pull("accounts", token=vault, tenant_id=tenant_id)
    sandbox.clock.advance(5)
    sandbox.admin("PATCH", f"/admin/tenants/{tenant_id}/accounts/200", {"name": "Sales (renamed)"}, expect=200)
    changed = list(xero.pull("accounts", token=vault, tenant_id=tenant_id, cursor=page.cursor))
    assert [(a.code, a.name) for p in changed for a in p.records] == [("200", "Sales (renamed)")]
    assert changed[0].cursor > page.cursor


def test_records_have_the_fields_of_xeros_openapi(sandbox, vault, tenant):
    """The sandbox answers in the spec's shapes; every field our parser reads is declared there."""
    yaml = pytest.importorskip("yaml")
    if not SPEC.exists():
        pytest.skip("Xero OpenAPI file not available")
    schemas = yaml.safe_load(SPEC.read_text())["components"]["schemas"]
    body = sandbox.api("Journals", {"access_token": vault()}, tenant["tenantId"]).json()
    journal = body["Journals"][0]
    assert set(journal) <= set(schemas["Journal"]["properties"])
    for line in journal["JournalLines"]:
        assert set(line) <= set(schemas["JournalLine"]["properties"])
    read = {"JournalID", "JournalDate", "JournalNumber", "CreatedDateUTC", "SourceType", "SourceID", "Reference"}
    assert read <= set(schemas["Journal"]["properties"])
    assert {"JournalLineID", "AccountID", "AccountCode", "NetAmount", "GrossAmount", "TaxAmount",
            "TrackingCategories"} <= set(schemas["JournalLine"]["properties"])


# ------------------------------------------------------------------------------------- faults and limits

@pytest.mark.parametrize("kind", ["429", "500", "503", "drop", "slow"])
def test_a_passing_fault_is_retried(sandbox, vault, tenant, kind):
    xero = connector(sandbox, timeout=(2.0, 0.3))
    tenant_id = tenant["tenantId"]
    sandbox.admin("POST", f"/admin/tenants/{tenant_id}/faults",
                  {"kind": kind, "count": 2, "delay": 0.6, "retryAfter": 1, "endpoint": "Journals"}, expect=201)
    log: list[RequestRecord] = []
    lines, _ = journal_lines(xero, vault, tenant_id, log=log)
    assert len(lines) == tenant["lineCount"]
    assert [r.attempt for r in log[:3]] == [1, 2, 3] and log[2].status == 200


@pytest.mark.parametrize("kind, error", [("503", ProviderUnavailable), ("500", ProviderUnavailable),
                                         ("drop", ProviderUnavailable), ("429", RateLimited)])
def test_a_lasting_fault_is_surfaced_typed(sandbox, xero, vault, tenant, kind, error):
    tenant_id = tenant["tenantId"]
    sandbox.admin("POST", f"/admin/tenants/{tenant_id}/faults",
                  {"kind": kind, "count": 10, "retryAfter": 0}, expect=201)
    with pytest.raises(error):
        journal_lines(xero, vault, tenant_id)


def test_a_failing_token_endpoint_is_unavailable(sandbox, xero, vault):
    sandbox.admin("POST", "/admin/identity/faults", {"kind": "503", "endpoint": "token"}, expect=201)
    with pytest.raises(ProviderUnavailable):
        xero.auth.refresh(vault.tokens["refresh_token"])


def burst(sandbox: SandboxServer, xero: XeroConnector, vault: Vault, tenant_id: str) -> dict:
    """Six threads pull the same tenant twice at once (~100 calls, the sandbox allows 60 a "minute")."""
    failures: list[BaseException] = []

    def pull() -> None:
        try:
            for _ in range(2):
                journal_lines(xero, vault, tenant_id)
        except BaseException as exc:  # surfaced below: a thread's exception is otherwise lost
            failures.append(exc)

    threads = [threading.Thread(target=pull) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == []
    return sandbox.admin("GET", f"/admin/tenants/{tenant_id}/stats", expect=200)


def test_a_burst_stays_under_the_rate_limits(sandbox, xero, vault, tenant):
    stats = burst(sandbox, xero, vault, tenant["tenantId"])
    assert stats["requests"] >= 90
    assert stats["served429"] == 0
    assert stats["maxConcurrent"] <= 5


def test_without_the_budget_the_same_burst_is_rate_limited(sandbox, vault, tenant):
    """The control for the test above: the sandbox does enforce its limits (tightened to 20 a "minute"
    so the outcome does not depend on how fast this machine is)."""
    sandbox.admin("PUT", "/admin/rate-limits", {"perMinute": 20, "minuteSeconds": 1.0}, expect=200)
    unlimited = connector(sandbox, RateLimits.unlimited(), retry=RetryPolicy(max_attempts=8, base_delay=0.05))
    stats = burst(sandbox, unlimited, vault, tenant["tenantId"])
    assert stats["served429"] > 0
