"""The Business Central connector against the sandbox's Microsoft dialect: MSAL's code flow with PKCE, its token
cache as the credential (renewed silently), environments and companies, every stream paged by @odata.nextLink,
incremental G/L entries, and throttling in the service's own shape."""
from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import msal
import pytest
import requests

from server.connectors.business_central import connector as business_central
from server.connectors.business_central.connector import BusinessCentralConnector, BusinessCentralEndpoints
from server.connectors.framework.errors import OAuthStateMismatch
from server.connectors.framework.http import HttpClient, RateLimits, RequestRecord, RetryPolicy, SystemClock
from server.refresh.reconcile import _provider_movements
from tests.support.sandbox import TEST_CLIENT

REDIRECT = TEST_CLIENT.redirect_uris[0]


@pytest.fixture
def sandbox(tls_sandbox):
    tls_sandbox.http.reset()
    return tls_sandbox


class WaitsRecorded(SystemClock):
    """Real time, except that waits are written down rather than slept (what a Retry-After asked for)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


def connector(sandbox, setup: dict | None = None, clock: SystemClock | None = None) -> BusinessCentralConnector:
    endpoints = BusinessCentralEndpoints(authority=f"{sandbox.https_url}/business_central/organizations",
                                         api_root=f"{sandbox.http.url}/business_central")
    http = HttpClient(timeout=(2.0, 10.0), retry=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05),
                      clock=clock)
    return BusinessCentralConnector(client_id=TEST_CLIENT.client_id, client_secret=TEST_CLIENT.client_secret,
                                    endpoints=endpoints, http=http, setup=setup, msal_http=sandbox.session(),
                                    rate_limits=RateLimits(per_window=1000, window_seconds=1.0, concurrent=5))


def consent(sandbox, url: str) -> dict[str, str]:
    """The user signs in at Microsoft and approves every company."""
    page = requests.get(url, allow_redirects=False, timeout=10, verify=str(sandbox.certificate))
    assert page.status_code == 200, page.text[:300]
    tenants = [t["tenantId"] for t in sandbox.http.tenants()]
    back = requests.post(page.url, data={"decision": "approve", "tenant": tenants}, allow_redirects=False,
                         timeout=10, verify=str(sandbox.certificate))
    assert back.status_code == 302, back.text[:300]
    return {k: v[0] for k, v in parse_qs(urlsplit(back.headers["Location"]).query).items()}


@pytest.fixture
def signed_in(sandbox):
    """(connector, credential, token source)."""
    bc = connector(sandbox)
    request = bc.auth.authorization_url(REDIRECT)
    assert "code_challenge=" in request.url and "nonce=" in request.url  # MSAL adds PKCE and a nonce
    done = bc.auth.complete(redirect_uri=REDIRECT, callback=consent(sandbox, request.url),
                            expected_state=request.state, code_verifier=request.code_verifier)
    credential = done.credential
    assert done.account == "demo@ledgerpane.test" and done.setup["aad_tenant"] and done.setup["user"]
    bc = connector(sandbox, done.setup)  # as the service builds it for the connection
    return bc, credential, lambda rejected=None: bc.auth.access_token(credential)[0]


def test_the_credential_is_msals_token_cache_and_renews_silently(signed_in):
    bc, credential, _ = signed_in
    cache = msal.SerializableTokenCache()
    cache.deserialize(credential["cache"])
    assert list(cache.search(msal.TokenCache.CredentialType.REFRESH_TOKEN)), "MSAL keeps the refresh token itself"
    first, expires = bc.auth.access_token(credential)
    assert first and expires > 0
    renewed = bc.auth.renew(credential)
    assert renewed["cache"] != credential["cache"] and bc.auth.access_token(renewed)[0] != first


def test_a_callback_with_another_state_is_refused(sandbox):
    bc = connector(sandbox)
    request = bc.auth.authorization_url(REDIRECT)
    callback = consent(sandbox, request.url)
    with pytest.raises(OAuthStateMismatch):
        bc.auth.complete(redirect_uri=REDIRECT, callback={**callback, "state": "forged"},
                         expected_state=request.state, code_verifier=request.code_verifier)


def test_companies_are_listed_per_environment(signed_in, sandbox):
    bc, _, token = signed_in
    companies = bc.list_companies(token)
    names = {t["tenantId"]: t["name"] for t in sandbox.http.tenants()}
    assert sorted(c.provider_entity_id.split("/")[0] for c in companies) == ["production", "sandbox"]
    for company in companies:
        environment, company_id = company.provider_entity_id.split("/")
        assert company.name == f"{names[company_id]} ({environment})"


def test_every_stream_pages_to_the_end_and_the_ledger_equals_the_truth(signed_in, sandbox, monkeypatch):
    bc, _, token = signed_in
    monkeypatch.setattr(business_central, "PAGE_SIZE", 500)  # several pages of G/L entries
    company = bc.list_companies(token)[0]
    tenant_id = company.provider_entity_id.split("/")[1]
    tenant = next(t for t in sandbox.http.tenants() if t["tenantId"] == tenant_id)
    profile = bc.company_profile(token, company.provider_entity_id)
    assert profile.base_currency == tenant["baseCurrency"] and profile.year_end_month in range(1, 13)
    pull = {name: [r for p in bc.pull(name, token=token, tenant_id=company.provider_entity_id) for r in p.records]
            for name in ("accounts", "dimensions", "currencies")}
    assert {a.account_class for a in pull["accounts"]} == {"asset", "liability", "equity", "revenue", "expense"}
    assert [d.name for d in pull["dimensions"]] == ["Region", "Department"] and pull["currencies"]
    log: list[RequestRecord] = []
    pages = list(bc.pull("general_ledger_entries", token=token, tenant_id=company.provider_entity_id, log=log))
    lines = [line for page in pages for line in page.records]
    assert len(pages) == -(-tenant["lineCount"] // 500) and len(lines) == tenant["lineCount"]
    assert len(log) == len(pages)  # the first request, then each page's @odata.nextLink; the last has none
    assert all("skiptoken" in record.endpoint for record in log[1:])
    truth = sandbox.http.admin("GET", f"/admin/tenants/{tenant_id}/trial-balance", expect=200)
    want: Counter = Counter()
    for row in truth["movements"]:
        want[(row["accountId"], row["period"])] += Decimal(str(row["netAmount"]))
    got: Counter = Counter()
    for line in lines:
        got[(line.account_id, f"{line.date:%Y-%m}")] += line.amount
    assert {k: v for k, v in got.items() if v} == {k: v for k, v in want.items() if v}
    assert any(line.dimension_values for line in lines)
    # The entries' other fields travel on the lines, where the stream's kept fields read them.
    assert sorted(line.entry_number for line in lines) == list(range(1, len(lines) + 1))

    # Later entries only: the cursor is the last modification seen.
    posted = sandbox.http.admin("POST", f"/admin/tenants/{tenant_id}/journals", {"generate": 3},
                                expect=201)["journals"]
    later = [line for page in bc.pull("general_ledger_entries", token=token, tenant_id=company.provider_entity_id,
                                      cursor=pages[-1].cursor) for line in page.records]
    assert len(later) == sum(p["lineCount"] for p in posted)


def test_throttling_is_retried_and_errors_come_in_odata_shape(signed_in, sandbox):
    bc, _, token = signed_in
    company = bc.list_companies(token)[0]
    tenant_id = company.provider_entity_id.split("/")[1]
    sandbox.http.admin("POST", f"/admin/tenants/{tenant_id}/faults", {"kind": "429", "count": 1}, expect=201)
    log: list[RequestRecord] = []
    accounts = [r for p in bc.pull("accounts", token=token, tenant_id=company.provider_entity_id, log=log)
                for r in p.records]
    assert accounts and [r.status for r in log] == [429, 200]
    environment = company.provider_entity_id.split("/")[0]
    refused = requests.get(f"{sandbox.http.url}/business_central/v2.0/{environment}/api/v2.0/companies({tenant_id})"
                           "/accounts", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "Authentication_InvalidCredentials"


def test_a_503_says_when_to_come_back_and_is_waited_out(signed_in, sandbox):
    bc, credential, token = signed_in
    clock = WaitsRecorded()
    patient = connector(sandbox, bc.setup, clock=clock)
    company = patient.list_companies(token)[0]
    tenant_id = company.provider_entity_id.split("/")[1]
    sandbox.http.admin("POST", f"/admin/tenants/{tenant_id}/faults", {"kind": "503", "count": 1, "retryAfter": 7},
                       expect=201)
    log: list[RequestRecord] = []
    accounts = [r for p in patient.pull("accounts", token=token, tenant_id=company.provider_entity_id, log=log)
                for r in p.records]
    assert accounts and [r.status for r in log] == [503, 200] and 7 in clock.waits


def test_every_company_of_one_sign_in_shares_one_request_budget(signed_in):
    """Business Central's limits are per user (6,000 requests in 5 minutes, 5 at once), not per company."""
    bc, _, token = signed_in
    companies = bc.list_companies(token)
    assert len({c.provider_entity_id for c in companies}) > 1
    keys = {bc.rate_key(c.provider_entity_id) for c in companies} | {bc.rate_key("")}
    assert len(keys) == 1 and bc.setup.get("user") and bc.setup["user"] in keys.pop()
    assert (business_central.BUSINESS_CENTRAL_LIMITS.per_window, business_central.BUSINESS_CENTRAL_LIMITS
            .window_seconds) <= (6_000, 300.0) and business_central.BUSINESS_CENTRAL_LIMITS.concurrent <= 5


def test_the_trial_balance_is_each_months_net_change_and_reconciles_with_the_truth(signed_in, sandbox):
    bc, _, token = signed_in
    company = bc.list_companies(token)[0]
    tenant_id = company.provider_entity_id.split("/")[1]
    first = date.today().replace(day=1)
    month = (first - timedelta(days=1)).replace(day=1)
    ends = [(month - timedelta(days=1)).isoformat(), (first - timedelta(days=1)).isoformat()]
    log: list[RequestRecord] = []
    pages = list(bc.pull("trial_balance", token=token, tenant_id=company.provider_entity_id,
                         options={"period_ends": ends}, log=log))
    assert len(pages) == 2 and all("dateFilter+ge" in r.endpoint or "dateFilter%20ge" in r.endpoint for r in log)
    rows = [r for p in pages for r in p.records]
    for page in pages:
        assert sum(r.debit for r in page.records) == sum(r.credit for r in page.records)
        assert sum(r.year_to_date for r in page.records) == 0
    accounts = [a for p in bc.pull("accounts", token=token, tenant_id=company.provider_entity_id)
                for a in p.records]
    classes = {a.source_id: a.account_class for a in accounts}
    got = {a: v for (a, _), v in _provider_movements([month], set(), rows, classes).items() if v}
    truth = sandbox.http.admin("GET", f"/admin/tenants/{tenant_id}/trial-balance?period={month:%Y-%m}", expect=200)
    assert got == {row["accountId"]: Decimal(str(row["netAmount"])) for row in truth["movements"]
                   if row["netAmount"]}
