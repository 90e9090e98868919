"""The wizard's environment step in a real browser: a Business Central sign-in that reaches companies in two
environments is asked which environment first, then offered only that environment's companies; the consent step
says beforehand that Microsoft asks for write access because it has no read-only permission."""
from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from server.sandbox import create_sandbox_app
from server.sandbox.config import DEMO_CLIENT
from tests.support.browser import check_screen, pane_page
from tests.support.live import serving
from tests.support.sandbox import SandboxServer, make_test_config
from tests.support.tls import serve_tls
from tests.support.wsgi import serve_wsgi

pytestmark = pytest.mark.browser

DEMO = "Demo company (Business Central sandbox)"


@pytest.fixture(scope="module")
def microsoft(tmp_path_factory) -> Iterator[tuple[SandboxServer, str, str]]:
    """(the sandbox's admin over http, its https URL, the certificate to trust)."""
    config = make_test_config(lines=300, tenants=2)
    app = create_sandbox_app(config)
    with serve_tls(app, tmp_path_factory.mktemp("tls")) as (https_url, certificate), serve_wsgi(app) as url:
        yield SandboxServer(url, config, app), https_url, str(certificate)


@pytest.fixture
def service(tmp_path, microsoft, monkeypatch):
    admin, https_url, certificate = microsoft
    # The service trusts the sandbox's certificate as a deployment trusts a private CA (MSAL talks through
    # requests; the connector's HTTP client through OpenSSL's default store).
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certificate)
    monkeypatch.setenv("SSL_CERT_FILE", certificate)
    admin.admin("POST", "/admin/reset", {"grants": True}, expect=200)
    with serving(tmp_path, sandbox_url=https_url, sandbox_rate_scale=1 / 60) as server:
        callback = f"{server.url}/oauth/callback/business-central-sandbox"
        admin.admin("POST", "/admin/clients", {"clientId": DEMO_CLIENT.client_id,
                                               "clientSecret": DEMO_CLIENT.client_secret, "redirectUris": [callback]},
                    expect=201)
        yield server


@pytest.fixture
def pane(browser) -> Iterator:
    """Its popups accept the sandbox's self-signed certificate (the user's browser would know Microsoft's)."""
    with pane_page(browser, timeout_ms=15_000, ignore_https_errors=True) as page:
        yield page


def test_a_sign_in_reaching_two_environments_chooses_one_then_its_companies(pane, service, microsoft):
    admin, _, _ = microsoft
    page = pane
    page.goto(f"{service.url}/taskpane.html#key={service.key}")
    page.get_by_role("button", name="Add data source").click()
    page.get_by_role("radio", name=re.compile(re.escape(DEMO))).check()
    page.get_by_role("button", name="Next").click()

    expect(page.get_by_role("heading", name=f"Sign in to {DEMO}")).to_be_focused()
    expect(page.get_by_text("Microsoft offers no read-only permission for Business Central")).to_be_visible()
    with page.expect_popup() as opened:
        page.get_by_role("button", name=f"Sign in to {DEMO}").click()
    popup = opened.value
    popup.get_by_role("button", name="Allow access").click()
    popup.wait_for_event("close")

    expect(page.get_by_role("heading", name="Choose an environment")).to_be_focused()
    environments = page.get_by_role("group", name="Environments").get_by_role("radio")
    expect(environments).to_have_count(2)
    expect(page.get_by_role("button", name="Next")).to_be_disabled()
    check_screen(page, service.url, "wizard-environment")
    page.get_by_role("radio", name="sandbox (1 company)").check()
    page.get_by_role("button", name="Next").click()

    expect(page.get_by_role("heading", name="Choose companies and ledgers")).to_be_focused()
    boxes = page.get_by_role("group", name="Companies and ledgers to bring in").get_by_role("checkbox")
    expect(boxes).to_have_count(1)
    in_sandbox = admin.tenants()[-1]["name"]  # the dialect puts the last company in the sandbox environment
    expect(page.get_by_role("group", name="Companies and ledgers to bring in")).to_contain_text(
        f"{in_sandbox} (sandbox)")

    # Back to the environment: the choice is kept, and the other one offers its own company.
    page.get_by_role("button", name="Back").click()
    expect(page.get_by_role("radio", name="sandbox (1 company)")).to_be_checked()
    page.get_by_role("radio", name="production (1 company)").check()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("group", name="Companies and ledgers to bring in")).to_contain_text("(production)")
