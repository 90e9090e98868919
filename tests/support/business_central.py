"""The sandbox served for Business Central, and a finance user connecting its demo companies through the service.

MSAL talks to nothing but an https authority, so the sandbox is served twice: over HTTPS with a certificate made
here (the identity platform, and the API for the service, which reads one root) and over plain HTTP (the admin
API, and the API for tests that build a connector themselves). A process trusts the certificate as a deployment
trusts a private CA: REQUESTS_CA_BUNDLE for requests, which MSAL talks through, and SSL_CERT_FILE for OpenSSL's
default store, which the connector's HTTP client reads (`trust`)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from server.sandbox import SandboxConfig, create_sandbox_app
from server.sandbox.config import DEMO_CLIENT
from tests.support.journey import ORIGIN
from tests.support.sandbox import SandboxServer
from tests.support.tls import serve_tls
from tests.support.wsgi import serve_wsgi

CALLBACK = f"{ORIGIN}/oauth/callback/business-central-sandbox"


@dataclass
class TlsSandbox:
    http: SandboxServer  # the API, the admin
    https_url: str  # the identity platform
    certificate: Path

    def session(self) -> requests.Session:
        """What MSAL talks through: trusting our certificate, and only it (REQUESTS_CA_BUNDLE would win over
        `verify` on a session that reads the environment)."""
        session = requests.Session()
        session.trust_env = False
        session.verify = str(self.certificate)
        return session


@contextmanager
def running_tls_sandbox(config: SandboxConfig, folder: Path) -> Iterator[TlsSandbox]:
    """One sandbox app served over HTTPS (its certificate written to `folder`) and over HTTP."""
    app = create_sandbox_app(config)
    with serve_tls(app, folder) as (https_url, certificate), serve_wsgi(app) as url:
        sandbox = SandboxServer(url, config, app)
        try:
            yield TlsSandbox(sandbox, https_url, certificate)
        finally:
            sandbox.http.close()


def trust(monkeypatch: pytest.MonkeyPatch, sandbox: TlsSandbox) -> None:
    """This process, and every process it starts from then on, trusts the sandbox's certificate."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sandbox.certificate))
    monkeypatch.setenv("SSL_CERT_FILE", str(sandbox.certificate))


def offer_the_demo_app(sandbox: TlsSandbox) -> TlsSandbox:
    """The sandbox reset with no grants, our demo app registered with the Business Central callback."""
    sandbox.http.admin("POST", "/admin/reset", {"grants": True}, expect=200)
    sandbox.http.admin("POST", "/admin/clients", {"clientId": DEMO_CLIENT.client_id,
                                                  "clientSecret": DEMO_CLIENT.client_secret,
                                                  "redirectUris": [CALLBACK]}, expect=201)
    return sandbox


def connect(client, headers, sandbox: TlsSandbox, company_ids: list[str], name: str | None = None) -> int:
    """Add the demo company, sign in at Microsoft (MSAL's link, over TLS) approving `company_ids`, come back, and
    select those companies (whichever environment each is in)."""
    added = client.post("/api/v1/connections", json={"provider": "business-central-sandbox",
                                                     **({"name": name} if name else {})}, headers=headers)
    assert added.status_code == 201, added.get_json()
    connection_id = added.get_json()["connection"]["id"]
    to_microsoft = client.get(added.get_json()["authorize_url"]).headers["Location"]
    page = requests.get(to_microsoft, allow_redirects=False, timeout=30, verify=str(sandbox.certificate))
    back = requests.post(page.url, data={"decision": "approve", "tenant": company_ids}, allow_redirects=False,
                         timeout=30, verify=str(sandbox.certificate)).headers["Location"]
    assert back.startswith(CALLBACK), back
    parts = urlsplit(back)
    done = client.get(f"{parts.path}?{parts.query}")
    assert done.status_code == 200 and b"is connected" in done.data, done.data[:400]
    entities = client.get(f"/api/v1/connections/{connection_id}/entities", headers=headers).get_json()["items"]
    chosen = [e["id"] for e in entities if e["provider_entity_id"].split("/", 1)[1] in company_ids]
    assert len(chosen) == len(company_ids), entities
    picked = client.put(f"/api/v1/connections/{connection_id}/entities", json={"selected_ids": chosen},
                        headers=headers)
    assert picked.status_code == 200, picked.get_json()
    return connection_id
