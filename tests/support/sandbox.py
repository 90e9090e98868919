"""pytest fixtures for the sandbox provider, served for real (waitress on 127.0.0.1, a free port).

    def test_pulls_journals(sandbox):               # function scope: state reset before the test
        token = sandbox.authorize()                 # the whole OAuth dance, over HTTP
        tenant = sandbox.tenants()[0]["tenantId"]
        sandbox.admin("POST", f"/admin/tenants/{tenant}/faults", {"kind": "503"}, expect=201)

`sandbox_server` (session scope) is the shared server; override the `sandbox_config` fixture to
change its settings, or use `running_sandbox(config)` for a private server.
"""
from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask

from server.sandbox import AdjustableClock, RateLimits, SandboxClient, SandboxConfig, create_sandbox_app
from tests.support.wsgi import serve_wsgi

TEST_CLIENT = SandboxClient(
    client_id="ledgerpane-test",
    client_secret="ledgerpane-test-secret",
    redirect_uris=["http://127.0.0.1/oauth/callback/xero", "http://localhost/oauth/callback/xero"],
    name="Ledgerpane (tests)",
)
ADMIN_KEY = "sandbox-test-admin"
SCOPE = "openid profile email offline_access accounting.settings.read accounting.journals.read " \
        "accounting.reports.read"


def make_test_config(**overrides) -> SandboxConfig:
    """Small and quick: 6,000 lines over three organisations, a one-second rate-limit "minute"."""
    settings: dict[str, Any] = {
        "clients": [TEST_CLIENT], "lines": 6000, "seed": 7, "tenants": 3, "admin_key": ADMIN_KEY,
        "clock": AdjustableClock(), "rate_limits": RateLimits.scaled(1 / 60),
    }
    settings.update(overrides)
    return SandboxConfig(**settings)


def quickbooks_test_config(lines: int) -> SandboxConfig:
    """The QuickBooks dialect over two companies, with Intuit's limits (500 a minute, 10 at once per realm)
    on a one-second "minute"."""
    return make_test_config(dialect="quickbooks", lines=lines, tenants=2,
                            rate_limits=RateLimits.scaled(1 / 60, per_minute=500, concurrent=10))


@dataclass
class SandboxServer:
    url: str
    config: SandboxConfig
    app: Flask
    client: SandboxClient = field(default_factory=lambda: TEST_CLIENT)
    http: requests.Session = field(default_factory=requests.Session)

    @property
    def clock(self) -> AdjustableClock:
        return self.config.clock

    def admin(self, method: str, path: str, json: Any = None, expect: int | None = None) -> Any:
        """Call the admin API; check the status when `expect` is given; return the JSON (or None)."""
        response = self.http.request(method, self.url + path, json=json,
                                     headers={"X-Sandbox-Admin": self.config.admin_key}, timeout=30)
        if expect is not None:
            assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def tenants(self) -> list[dict]:
        return self.admin("GET", "/admin/tenants", expect=200)

    def reset(self) -> None:
        """Fresh data, no faults, zero counters, configured limits, real time. Grants survive."""
        self.admin("POST", "/admin/reset", {}, expect=200)
        if isinstance(self.clock, AdjustableClock):
            self.clock.reset()

    def new_client(self, name: str = "Other app") -> SandboxClient:
        """Register an app of its own: its connections and grants are separate from every other
        app's, so a test can disconnect or revoke without touching the shared token."""
        client = SandboxClient(f"app-{secrets.token_hex(4)}", secrets.token_urlsafe(16),
                               ["http://127.0.0.1/oauth/callback/xero"], name)
        self.admin("POST", "/admin/clients", {"clientId": client.client_id, "clientSecret": client.client_secret,
                                              "redirectUris": client.redirect_uris, "name": client.name},
                   expect=201)
        return client

    def authorize(self, client: SandboxClient | None = None, tenant_ids: list[str] | None = None,
                  scope: str = SCOPE) -> dict:
        """Consent (all organisations unless `tenant_ids`) and exchange the code: the token response."""
        client = client or self.client
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        redirect_uri = client.redirect_uris[0]
        params = {"response_type": "code", "client_id": client.client_id, "redirect_uri": redirect_uri,
                  "scope": scope, "state": secrets.token_urlsafe(8), "code_challenge": challenge,
                  "code_challenge_method": "S256"}
        authorize_url = f"{self.url}/xero/identity/connect/authorize"
        answer = self.http.get(authorize_url, params=params, allow_redirects=False, timeout=30)
        if answer.status_code == 200:  # the consent page: approve it
            chosen = tenant_ids or [t["tenantId"] for t in self.tenants()]
            answer = self.http.post(answer.url, data={"decision": "approve", "tenant": chosen},
                                    allow_redirects=False, timeout=30)
        assert answer.status_code == 302, answer.text
        code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
        token = self.http.post(f"{self.url}/xero/identity/connect/token",
                               data={"grant_type": "authorization_code", "code": code,
                                     "redirect_uri": redirect_uri, "code_verifier": verifier},
                               auth=(client.client_id, client.client_secret), timeout=30)
        assert token.status_code == 200, token.text
        return token.json()

    def api(self, path: str, token: dict, tenant_id: str, **kwargs) -> requests.Response:
        """GET an Accounting API path (e.g. "Journals") as a connector would."""
        headers = {"Authorization": f"Bearer {token['access_token']}", "xero-tenant-id": tenant_id,
                   "Accept": "application/json", **kwargs.pop("headers", {})}
        kwargs.setdefault("timeout", 30)
        return self.http.get(f"{self.url}/xero/api.xro/2.0/{path}", headers=headers, **kwargs)


@contextmanager
def running_sandbox(config: SandboxConfig | None = None, threads: int = 16) -> Iterator[SandboxServer]:
    """A sandbox of its own, served for real for the duration of the block."""
    config = config or make_test_config()
    app = create_sandbox_app(config)
    with serve_wsgi(app, threads) as url:
        sandbox = SandboxServer(url, config, app)
        try:
            yield sandbox
        finally:
            sandbox.http.close()


@pytest.fixture(scope="session")
def sandbox_config() -> SandboxConfig:
    return make_test_config()


@pytest.fixture(scope="session")
def sandbox_server(sandbox_config: SandboxConfig) -> Iterator[SandboxServer]:
    with running_sandbox(sandbox_config) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> SandboxServer:
    """The shared sandbox, reset to its generated state (grants and tokens survive)."""
    sandbox_server.reset()
    return sandbox_server
