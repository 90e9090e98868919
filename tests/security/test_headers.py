"""What every response tells the browser: framing, caching, referrers, transport (issue 17)."""
import requests

from server.app import OFFICE_FRAME_ANCESTORS, create_app


def directives(response) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in policy.split(";") if part.strip())}


def test_the_task_pane_runs_our_code_and_office_js_only(client):
    response = client.get("/taskpane.html")
    policy = directives(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'", "https://appsforoffice.microsoft.com"]
    assert policy["connect-src"] == ["'self'"] and policy["object-src"] == ["'none'"]
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_the_task_pane_may_be_framed_by_office_only(client):
    ancestors = directives(client.get("/taskpane.html"))["frame-ancestors"]
    assert ancestors == ["'self'", *OFFICE_FRAME_ANCESTORS]
    assert "*" not in ancestors and all(a.startswith("https://") for a in ancestors[1:])
    assert "https://*.officeapps.live.com" in ancestors  # Excel on the web


def test_api_answers_are_never_stored(client, workspace):
    for response in (client.get("/api/v1/workspace", headers=workspace.member()),
                     client.get("/api/v1/workspace"),  # a refusal too
                     client.get("/api/openapi.json")):
        assert response.headers["Cache-Control"] == "no-store", response.status_code


def test_the_add_in_icons_are_still_cacheable(client):
    response = client.get("/assets/icon-32.png")
    assert response.cache_control.max_age == 86_400 and "no-store" not in response.headers.get("Cache-Control", "")


def test_hsts_only_over_https(client):
    assert "Strict-Transport-Security" not in client.get("/healthz").headers
    secure = client.get("/healthz", base_url="https://ledgerpane.test")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")


def test_hsts_behind_a_tls_proxy(db, tmp_path):
    app = create_app({"database_url": db.url, "var_dir": tmp_path, "sandbox": False,
                      "public_url": "https://ledgerpane.example.com"})
    try:
        assert app.test_client().get("/healthz").headers["Strict-Transport-Security"].startswith("max-age=")
    finally:
        app.extensions["ledgerpane"].close()


def test_the_sign_in_redirect_and_pages_are_not_stored_or_framed(flow):
    connection_id, authorize_url = flow.add()
    redirect = flow.client.get(authorize_url)
    assert redirect.status_code == 302
    assert redirect.headers["Cache-Control"] == "no-store"
    assert redirect.headers["Referrer-Policy"] == "no-referrer"
    page = flow.come_back(flow.consent(redirect.headers["Location"]))
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert directives(page)["frame-ancestors"] == ["'none'"] and page.headers["X-Frame-Options"] == "DENY"


def test_the_sandbox_consent_page_cannot_be_framed(flow):
    _, authorize_url = flow.add()
    consent = requests.get(flow.open_dialog(authorize_url), allow_redirects=False, timeout=30)
    assert consent.status_code == 200 and "text/html" in consent.headers["Content-Type"]
    assert consent.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in consent.headers["Content-Security-Policy"]
    assert consent.headers["Cache-Control"] == "no-store"
    assert consent.headers["Referrer-Policy"] == "no-referrer"
