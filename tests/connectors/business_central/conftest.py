"""The sandbox served twice for Business Central: over HTTPS (a certificate made here) for MSAL, which talks to
nothing but an https authority, and over plain HTTP for the API calls of the connector's HTTP client."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from server.sandbox import create_sandbox_app
from tests.support.sandbox import SandboxServer, make_test_config
from tests.support.tls import serve_tls
from tests.support.wsgi import serve_wsgi


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


@pytest.fixture(scope="module")
def tls_sandbox(tmp_path_factory) -> Iterator[TlsSandbox]:
    config = make_test_config(lines=4_000, tenants=2)
    app = create_sandbox_app(config)
    with serve_tls(app, tmp_path_factory.mktemp("tls")) as (https_url, certificate), serve_wsgi(app) as url:
        yield TlsSandbox(SandboxServer(url, config, app), https_url, certificate)
