"""The identity service: authorization code + PKCE, consent, rotating refresh tokens, revocation,
connections. Everything over real HTTP, with Authlib's own client where a connector would use it."""
from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from server.sandbox import SandboxClient, create_sandbox_app
from tests.support.sandbox import SCOPE, TEST_CLIENT, make_test_config, running_sandbox
from tests.support.wsgi import serve_wsgi

AUTHORIZE = "/xero/identity/connect/authorize"
TOKEN = "/xero/identity/connect/token"
REVOKE = "/xero/identity/connect/revocation"


def oauth_session(client: SandboxClient = TEST_CLIENT) -> OAuth2Session:
    return OAuth2Session(client.client_id, client.client_secret, scope=SCOPE,
                         redirect_uri=client.redirect_uris[0], code_challenge_method="S256")


def consent_form(page: requests.Response) -> str:
    return html.unescape(re.search(r'<form method="post" action="([^"]+)"', page.text).group(1))


def query_of(response: requests.Response) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def refresh(url: str, refresh_token: str, client: SandboxClient = TEST_CLIENT) -> requests.Response:
    return requests.post(url + TOKEN, data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                         auth=(client.client_id, client.client_secret), timeout=10)


def test_code_flow_with_pkce_through_the_consent_page(sandbox):
    session = oauth_session()
    verifier = generate_token(48)
    uri, state = session.create_authorization_url(sandbox.url + AUTHORIZE, code_verifier=verifier)

    page = requests.get(uri, timeout=10)
    assert page.status_code == 200
    for tenant in sandbox.tenants():
        assert tenant["name"] in page.text
    approved = requests.post(urljoin(sandbox.url, consent_form(page)), allow_redirects=False, timeout=10,
                             data={"decision": "approve", "tenant": [t["tenantId"] for t in sandbox.tenants()]})
    assert approved.status_code == 302
    assert approved.headers["Location"].startswith(TEST_CLIENT.redirect_uris[0] + "?")
    assert query_of(approved)["state"] == state

    token = session.fetch_token(sandbox.url + TOKEN, authorization_response=approved.headers["Location"],
                                code_verifier=verifier)
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 1800
    assert token["access_token"] and token["refresh_token"]
    organisation = sandbox.api("Organisation", token, sandbox.tenants()[0]["tenantId"])
    assert organisation.status_code == 200


def test_denying_consent_redirects_with_access_denied_and_the_state(sandbox):
    uri, state = oauth_session().create_authorization_url(sandbox.url + AUTHORIZE, code_verifier=generate_token(48))
    page = requests.get(uri, timeout=10)
    denied = requests.post(urljoin(sandbox.url, consent_form(page)), data={"decision": "deny"},
                           allow_redirects=False, timeout=10)
    assert denied.status_code == 302
    assert query_of(denied)["error"] == "access_denied"
    assert query_of(denied)["state"] == state


def test_the_code_only_exchanges_with_its_verifier_and_only_once(sandbox):
    session = oauth_session()
    verifier = generate_token(48)
    uri, _ = session.create_authorization_url(sandbox.url + AUTHORIZE, code_verifier=verifier)
    page = requests.get(uri, timeout=10)
    approved = requests.post(urljoin(sandbox.url, consent_form(page)), allow_redirects=False, timeout=10,
                             data={"decision": "approve", "tenant": sandbox.tenants()[0]["tenantId"]})
    code = query_of(approved)["code"]

    def exchange(code_verifier: str) -> requests.Response:
        return requests.post(sandbox.url + TOKEN, auth=(TEST_CLIENT.client_id, TEST_CLIENT.client_secret),
                             data={"grant_type": "authorization_code", "code": code, "code_verifier": code_verifier,
                                   "redirect_uri": TEST_CLIENT.redirect_uris[0]}, timeout=10)

    wrong = exchange(generate_token(48))
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    assert exchange(verifier).status_code == 200
    assert exchange(verifier).json()["error"] == "invalid_grant"


@pytest.mark.parametrize("pkce", [{}, {"code_challenge": "abc", "code_challenge_method": "plain"}])
def test_authorization_without_s256_pkce_is_refused(sandbox, pkce):
    params = {"response_type": "code", "client_id": TEST_CLIENT.client_id, "state": "s1",
              "redirect_uri": TEST_CLIENT.redirect_uris[0], "scope": SCOPE, **pkce}
    answer = requests.get(sandbox.url + AUTHORIZE, params=params, allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    assert query_of(answer)["error"] == "invalid_request"
    assert query_of(answer)["state"] == "s1"


def test_an_unregistered_redirect_uri_gets_an_error_page_not_a_redirect(sandbox):
    params = {"response_type": "code", "client_id": TEST_CLIENT.client_id, "redirect_uri": "http://evil.test/cb",
              "code_challenge": "x" * 43, "code_challenge_method": "S256"}
    answer = requests.get(sandbox.url + AUTHORIZE, params=params, allow_redirects=False, timeout=10)
    assert answer.status_code == 400
    assert "Location" not in answer.headers


def test_client_authentication_basic_or_post_and_wrong_secret(sandbox, token):
    posted = requests.post(sandbox.url + TOKEN, timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": sandbox.authorize()["refresh_token"],
        "client_id": TEST_CLIENT.client_id, "client_secret": TEST_CLIENT.client_secret})
    assert posted.status_code == 200
    wrong = requests.post(sandbox.url + TOKEN, auth=(TEST_CLIENT.client_id, "nope"), timeout=10,
                          data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]})
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"


def test_refresh_tokens_rotate_and_the_old_one_replays_within_the_grace(sandbox):
    first = sandbox.authorize()
    second = refresh(sandbox.url, first["refresh_token"])
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert rotated["access_token"] != first["access_token"]

    replay = refresh(sandbox.url, first["refresh_token"])  # the response was "lost": ask again
    assert replay.status_code == 200
    assert replay.json()["refresh_token"] == rotated["refresh_token"]
    assert replay.json()["access_token"] == rotated["access_token"]

    third = refresh(sandbox.url, rotated["refresh_token"]).json()
    sandbox.clock.advance(sandbox.config.refresh_grace + 1)
    for stale in (first["refresh_token"], rotated["refresh_token"]):
        expired = refresh(sandbox.url, stale)
        assert expired.status_code == 400
        assert expired.json() == {"error": "invalid_grant"}
    assert refresh(sandbox.url, third["refresh_token"]).status_code == 200


def test_authlib_client_refreshes_with_the_rotated_token(sandbox):
    session = oauth_session()
    session.token = sandbox.authorize()
    old_refresh = session.token["refresh_token"]
    new = session.refresh_token(sandbox.url + TOKEN)
    assert new["refresh_token"] != old_refresh


def test_unknown_refresh_token_is_invalid_grant(sandbox):
    answer = refresh(sandbox.url, "not-a-token")
    assert answer.status_code == 400
    assert answer.json() == {"error": "invalid_grant"}


def test_expired_access_token_answers_401_token_expired(sandbox, tenant_ids):
    fresh = sandbox.authorize()
    sandbox.clock.advance(sandbox.config.access_token_ttl + 1)
    answer = sandbox.api("Accounts", fresh, tenant_ids[0])
    assert answer.status_code == 401
    body = answer.json()
    assert {key: body[key] for key in ("Type", "Title", "Status")} == {
        "Type": None, "Title": "Unauthorized", "Status": 401}
    assert body["Detail"].startswith("TokenExpired: token expired at ")


def test_revocation_kills_the_grant(sandbox, tenant_ids):
    client = sandbox.new_client()
    fresh = sandbox.authorize(client=client)
    revoked = requests.post(sandbox.url + REVOKE, data={"token": fresh["refresh_token"]},
                            auth=(client.client_id, client.client_secret), timeout=10)
    assert revoked.status_code == 200
    assert refresh(sandbox.url, fresh["refresh_token"], client).json() == {"error": "invalid_grant"}
    assert sandbox.api("Accounts", fresh, tenant_ids[0]).status_code == 401
    again = sandbox.authorize(client=client)
    listed = requests.get(sandbox.url + "/xero/connections", timeout=10,
                          headers={"Authorization": f"Bearer {again['access_token']}"}).json()
    assert {c["authEventId"] for c in listed} == {listed[0]["authEventId"]}  # only the new consent's


def test_connections_filter_by_auth_event_and_disconnect(sandbox, tenant_ids):
    client = sandbox.new_client()
    first = sandbox.authorize(client=client, tenant_ids=[tenant_ids[0]])
    second = sandbox.authorize(client=client, tenant_ids=[tenant_ids[1]])
    headers = {"Authorization": f"Bearer {second['access_token']}"}
    everything = requests.get(sandbox.url + "/xero/connections", headers=headers, timeout=10).json()
    assert sorted(c["tenantId"] for c in everything) == sorted(tenant_ids[:2])
    for connection in everything:
        assert set(connection) == {"id", "authEventId", "tenantId", "tenantType", "tenantName",
                                   "createdDateUtc", "updatedDateUtc"}
        assert connection["tenantType"] == "ORGANISATION"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}", connection["createdDateUtc"])
    latest = next(c for c in everything if c["tenantId"] == tenant_ids[1])
    only = requests.get(sandbox.url + "/xero/connections", headers=headers, timeout=10,
                        params={"authEventId": latest["authEventId"]}).json()
    assert [c["tenantId"] for c in only] == [tenant_ids[1]]
    assert sandbox.api("Accounts", first, tenant_ids[2]).status_code == 403  # never connected

    gone = requests.delete(f"{sandbox.url}/xero/connections/{latest['id']}", headers=headers, timeout=10)
    assert gone.status_code == 204
    assert sandbox.api("Accounts", second, tenant_ids[1]).status_code == 403
    assert sandbox.api("Accounts", second, tenant_ids[0]).status_code == 200
    missing = requests.delete(f"{sandbox.url}/xero/connections/{latest['id']}", headers=headers, timeout=10)
    assert missing.status_code == 404


def test_no_refresh_token_without_offline_access(sandbox):
    issued = sandbox.authorize(scope="accounting.settings.read")
    assert "refresh_token" not in issued


def test_auto_approve_skips_the_consent_page():
    with running_sandbox(make_test_config(auto_approve=True, lines=100)) as sandbox:
        issued = sandbox.authorize()
        listed = requests.get(sandbox.url + "/xero/connections", timeout=10,
                              headers={"Authorization": f"Bearer {issued['access_token']}"}).json()
        assert len(listed) == 3


def test_urls_respect_the_mount_point():
    """Mounted under /sandbox of another app (as the main service does), links keep the prefix."""
    config = make_test_config(lines=100)
    app = DispatcherMiddleware(NotFound(), {"/sandbox": create_sandbox_app(config)})
    with serve_wsgi(app, threads=4) as url:
        root = url + "/sandbox"
        assert requests.get(root + "/", timeout=10).json()["authorize"] == "/sandbox" + AUTHORIZE
        session = oauth_session()
        verifier = generate_token(48)
        uri, _ = session.create_authorization_url(root + AUTHORIZE, code_verifier=verifier)
        page = requests.get(uri, timeout=10)
        action = consent_form(page)
        assert action.startswith("/sandbox" + AUTHORIZE + "?")
        approved = requests.post(urljoin(root, action), data={"decision": "approve", "tenant": []},
                                 allow_redirects=False, timeout=10)
        assert approved.status_code == 400  # nothing ticked: the page asks again
        tenant = re.search(r'name="tenant" value="([^"]+)"', page.text).group(1)
        approved = requests.post(urljoin(root, action), data={"decision": "approve", "tenant": tenant},
                                 allow_redirects=False, timeout=10)
        token = session.fetch_token(root + TOKEN, authorization_response=approved.headers["Location"],
                                    code_verifier=verifier)
        accounts = requests.get(root + "/xero/api.xro/2.0/Accounts", timeout=10, headers={
            "Authorization": f"Bearer {token['access_token']}", "xero-tenant-id": tenant})
        assert accounts.status_code == 200
