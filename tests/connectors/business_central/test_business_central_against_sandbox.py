"""The Business Central connector against the sandbox's Microsoft dialect: MSAL's code flow with PKCE, its token
cache as the credential (renewed silently), environments and companies, every stream paged by @odata.nextLink,
incremental G/L entries, and throttling in the service's own shape."""
from __future__ import annotations

from collections import Counter
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import msal
import pytest
import requests

from server.connectors.business_central import connector as business_central
from server.connectors.business_central.connector import BusinessCentralConnector, BusinessCentralEndpoints
from server.connectors.framework.errors import OAuthStateMismatch
from server.connectors.framework.http import HttpClient, RateLimits, RequestRecord, RetryPolicy
from tests.support.sandbox import TEST_CLIENT

REDIRECT = TEST_CLIENT.redirect_uris[0]


@pytest.fixture
def sandbox(tls_sandbox):
    tls_sandbox.http.reset()
    return tls_sandbox


def connector(sandbox, setup: dict | None = None) -> BusinessCentralConnector:
    endpoints = BusinessCentralEndpoints(authority=f"{sandbox.https_url}/business_central/organizations",
                                         api_root=f"{sandbox.http.url}/business_central")
    http = HttpClient(timeout=(2.0, 10.0), retry=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05))
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
    assert done.account == "demo@ledgerpane.test" and done.setup["aad_tenant"]
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
