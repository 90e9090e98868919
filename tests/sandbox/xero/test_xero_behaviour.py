"""The Xero dialect behaves as real Xero does where clients notice: paths in any case, scopes enforced per
endpoint, broad scopes refused to new apps at consent, an endpoint refused for one organisation."""
from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urlsplit

import requests

from tests.support.sandbox import SCOPE
from tests.support.xero_api import envelope

SETTINGS_ONLY = "offline_access accounting.settings.read"


def test_paths_match_whatever_their_case(sandbox, token, tenant_ids):
    """Xero's own SDK calls /Connections and api.xro/2.0/accounts works as well as /Accounts."""
    headers = {"Authorization": f"Bearer {token['access_token']}", "Accept": "application/json"}
    connections = sandbox.http.get(f"{sandbox.url}/xero/Connections", headers=headers, timeout=10)
    assert connections.status_code == 200
    assert {c["tenantId"] for c in connections.json()} == set(tenant_ids)
    lower = sandbox.api("accounts", token, tenant_ids[0])
    assert lower.status_code == 200
    assert envelope(lower, "Accounts") == envelope(sandbox.api("Accounts", token, tenant_ids[0]), "Accounts")
    assert sandbox.api("REPORTS/trialbalance?date=2026-01-31", token, tenant_ids[0]).status_code == 200
    assert sandbox.api("NoSuchThing", token, tenant_ids[0]).status_code == 404


def test_each_endpoint_needs_one_of_its_scopes(sandbox, tenant_ids):
    client = sandbox.new_client()
    token = sandbox.authorize(client, scope=SETTINGS_ONLY)
    assert sandbox.api("Accounts", token, tenant_ids[0]).status_code == 200
    for path in ("Journals", "Reports/TrialBalance?date=2026-01-31"):
        refused = sandbox.api(path, token, tenant_ids[0])
        assert refused.status_code == 401, path
        assert (refused.json()["Title"], refused.json()["Detail"]) == ("Unauthorized", "AuthorizationUnsuccessful")


def test_the_granular_report_scope_opens_the_trial_balance(sandbox, tenant_ids):
    token = sandbox.authorize(sandbox.new_client(), scope=f"{SETTINGS_ONLY} accounting.reports.trialbalance.read")
    assert sandbox.api("Reports/TrialBalance?date=2026-01-31", token, tenant_ids[0]).status_code == 200
    assert sandbox.api("Journals", token, tenant_ids[0]).status_code == 401


def test_an_app_created_after_march_2026_asking_for_a_broad_scope_gets_invalid_scope(sandbox):
    client = sandbox.new_client()
    sandbox.admin("POST", "/admin/clients", {"clientId": client.client_id, "clientSecret": client.client_secret,
                                             "redirectUris": client.redirect_uris,
                                             "refusedScopes": ["accounting.reports.read"]}, expect=201)
    state = secrets.token_urlsafe(8)
    answer = requests.get(f"{sandbox.url}/xero/identity/connect/authorize", allow_redirects=False, timeout=10,
                          params={"response_type": "code", "client_id": client.client_id, "scope": SCOPE,
                                  "redirect_uri": client.redirect_uris[0], "state": state,
                                  "code_challenge": "x" * 43, "code_challenge_method": "S256"})
    assert answer.status_code == 302
    back = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert (back["error"], back["state"]) == (["invalid_scope"], [state])
    assert back["iss"] == [f"{sandbox.url}/xero/identity"]  # an error names its issuer too (RFC 9207)
    assert "code" not in back


def test_an_organisation_can_be_refused_one_endpoint_while_the_others_answer(sandbox, token, tenant_ids):
    sandbox.admin("POST", f"/admin/tenants/{tenant_ids[0]}/refusals", {"endpoint": "Journals"}, expect=201)
    refused = sandbox.api("Journals", token, tenant_ids[0])
    assert refused.status_code == 403 and refused.json()["Title"] == "Forbidden"
    assert refused.json()["Detail"] != "AuthenticationUnsuccessful"
    assert sandbox.api("Accounts", token, tenant_ids[0]).status_code == 200
    assert sandbox.api("Journals", token, tenant_ids[1]).status_code == 200
    sandbox.reset()
    assert sandbox.api("Journals", token, tenant_ids[0]).status_code == 200


def test_an_organisation_disconnected_at_xero_answers_403_authentication_unsuccessful(sandbox, tenant_ids):
    client = sandbox.new_client()
    token = sandbox.authorize(client)
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    connections = sandbox.http.get(f"{sandbox.url}/xero/connections", headers=headers, timeout=10).json()
    gone = next(c for c in connections if c["tenantId"] == tenant_ids[0])
    assert sandbox.http.delete(f"{sandbox.url}/xero/connections/{gone['id']}", headers=headers,
                               timeout=10).status_code == 204
    refused = sandbox.api("Accounts", token, tenant_ids[0])
    assert (refused.status_code, refused.json()["Detail"]) == (403, "AuthenticationUnsuccessful")
    assert sandbox.api("Accounts", token, tenant_ids[1]).status_code == 200
