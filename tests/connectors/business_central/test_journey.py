"""A finance user adds the Business Central demo company through the service, end to end: the consent runs
through MSAL against the dialect's identity platform over real TLS (the sandbox's certificate trusted the way a
deployment trusts a private CA: REQUESTS_CA_BUNDLE for requests, which MSAL talks through, and SSL_CERT_FILE for
OpenSSL's default store, which the connector's HTTP client reads; MSAL itself is not patched), then the user picks
an environment and a company in it, refreshes, and the loaded ledger reconciles with the trial balance."""
from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.business_central import CALLBACK, offer_the_demo_app, trust
from tests.support.journey import provider_app
from tests.support.refresh import ground_truth_by_code, loaded_by_code, wait_for_run_of


class Secure:
    """What provider_app needs of a provider: where it answers (its TLS address)."""

    def __init__(self, url: str) -> None:
        self.url = url


@pytest.fixture
def app(db, tmp_path, tls_sandbox, monkeypatch):
    trust(monkeypatch, tls_sandbox)
    offer_the_demo_app(tls_sandbox)
    # Every page read in this process, whose environment trusts the sandbox (a helper process forked earlier in
    # the session would not).
    with provider_app(db, tmp_path, Secure(tls_sandbox.https_url), refresh_pages_in_process=10_000) as app:
        yield app


def test_business_central_end_to_end_through_the_service(client, workspace, tls_sandbox, db):
    headers = workspace.admin()
    offered = {p["key"] for p in client.get("/api/v1/providers", headers=headers).get_json()["items"]}
    assert "business-central-sandbox" in offered, "offered where the sandbox answers over https"
    added = client.post("/api/v1/connections", json={"provider": "business-central-sandbox"}, headers=headers)
    assert added.status_code == 201, added.get_json()
    connection_id = added.get_json()["connection"]["id"]

    # Consent at the identity platform: MSAL made the link (PKCE, nonce) and redeems the code over TLS.
    to_microsoft = client.get(added.get_json()["authorize_url"]).headers["Location"]
    assert to_microsoft.startswith(tls_sandbox.https_url) and "code_challenge=" in to_microsoft
    page = requests.get(to_microsoft, allow_redirects=False, timeout=30)
    tenants = [t["tenantId"] for t in tls_sandbox.http.tenants()]
    back = requests.post(page.url, data={"decision": "approve", "tenant": tenants}, allow_redirects=False,
                         timeout=30).headers["Location"]
    assert back.startswith(CALLBACK), back
    parts = urlsplit(back)
    done = client.get(f"{parts.path}?{parts.query}")
    assert done.status_code == 200 and b"is connected" in done.data, done.data[:400]

    # Two environments: the wizard offers them first; then the companies of the one chosen.
    entities = client.get(f"/api/v1/connections/{connection_id}/entities", headers=headers).get_json()["items"]
    assert sorted({e["group"] for e in entities}) == ["production", "sandbox"]
    chosen = next(e for e in entities if e["group"] == "production")
    picked = client.put(f"/api/v1/connections/{connection_id}/entities", json={"selected_ids": [chosen["id"]]},
                        headers=headers)
    assert picked.status_code == 200

    started = client.post(f"/api/v1/connections/{connection_id}/refresh", json={}, headers=headers)
    assert started.status_code in (200, 202), started.get_json()
    run = wait_for_run_of(client, headers, started.get_json()["run_id"])
    assert run["status"] == "succeeded", run
    assert not run["needs_attention"], run["counters"].get("mismatches", [])[:5]
    company_id = chosen["provider_entity_id"].split("/")[1]
    assert loaded_by_code(db, connection_id) == ground_truth_by_code(tls_sandbox.http, company_id)
    served = tls_sandbox.http.admin("GET", f"/admin/tenants/{company_id}/stats", expect=200)["endpoints"]
    assert served.get("trialBalances"), "the trial balance was read, and the ledger reconciled with it"
    other = next(e for e in entities if e["group"] == "sandbox")
    untouched = tls_sandbox.http.admin("GET", f"/admin/tenants/{other['provider_entity_id'].split('/')[1]}/stats",
                                       expect=200)
    assert not untouched["requests"], "the other environment's company was not chosen"

    # A trial balance that disagrees with the entries for a month the next refresh touches is flagged.
    month = (date.today().replace(day=1) - timedelta(days=1)).replace(day=1)
    tls_sandbox.http.admin("POST", f"/admin/tenants/{company_id}/report-adjustments",
                           {"accountCode": "200", "period": f"{month:%Y-%m}", "amount": "125.00"}, expect=201)
    tls_sandbox.http.admin("POST", f"/admin/tenants/{company_id}/journals",
                           {"generate": 2, "date": month.isoformat()}, expect=201)
    again = client.post(f"/api/v1/connections/{connection_id}/refresh", json={}, headers=headers)
    second = wait_for_run_of(client, headers, again.get_json()["run_id"])
    assert second["status"] == "succeeded" and second["needs_attention"], second["counters"].get("mismatches")
    assert {m["account_code"] for m in second["counters"]["mismatches"]} == {"200"}
