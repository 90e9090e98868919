"""The service wired to the sandbox provider over real HTTP, and a finance user's steps through it.

A test folder that needs them overrides `app` with `provider_app(...)`; `provider` and `journey` come
from here (registered in the root conftest).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
import requests

from server.app import create_app
from server.sandbox.config import DEMO_CLIENT

ORIGIN = "http://ledgerpane.test"  # the test client's origin: the provider sends the dialog back here
CALLBACK = f"{ORIGIN}/oauth/callback/xero-sandbox"


@pytest.fixture
def provider(sandbox):
    """The shared sandbox, reset with no grants (Xero lists every organisation a user ever connected to an
    app), with our demo app allowed to send users back to ORIGIN."""
    sandbox.admin("POST", "/admin/reset", {"grants": True}, expect=200)
    sandbox.admin("POST", "/admin/clients", {"clientId": DEMO_CLIENT.client_id,
                                             "clientSecret": DEMO_CLIENT.client_secret,
                                             "redirectUris": [CALLBACK]}, expect=201)
    return sandbox


@contextmanager
def provider_app(db, tmp_path, provider, **config):
    """The app offering the sandbox provider, its rate-limit windows shrunk as the sandbox's are
    (a "minute" of one second)."""
    app = create_app({"database_url": db.url, "var_dir": tmp_path, "sandbox": False, "sandbox_url": provider.url,
                      "public_url": ORIGIN, "sandbox_rate_scale": 1 / 60, **config})
    try:
        yield app
    finally:
        app.extensions["ledgerpane"].close()


@dataclass
class Journey:
    """What a finance user does in the task pane and the consent dialog, step by step."""

    client: object  # Flask test client: the task pane and the dialog's cookies on our origin
    provider: object
    headers: dict

    def add(self, name: str | None = None) -> tuple[int, str]:
        body = {"provider": "xero-sandbox", **({"name": name} if name else {})}
        response = self.client.post("/api/v1/connections", json=body, headers=self.headers)
        assert response.status_code == 201, response.get_json()
        return response.get_json()["connection"]["id"], response.get_json()["authorize_url"]

    def open_dialog(self, authorize_url: str) -> str:
        """The dialog opens our start link; we send it on to the provider. Returns the provider URL."""
        response = self.client.get(authorize_url)
        assert response.status_code == 302, response.data[:300]
        return response.headers["Location"]

    def consent(self, provider_url: str, decision: str = "approve", tenants: list[str] | None = None) -> str:
        """At the provider: approve (some or all organisations) or deny. Returns where it sends us back."""
        page = requests.get(provider_url, allow_redirects=False, timeout=30)
        if page.status_code == 200:
            chosen = tenants or [t["tenantId"] for t in self.provider.tenants()]
            page = requests.post(page.url, data={"decision": decision, "tenant": chosen}, allow_redirects=False,
                                 timeout=30)
        assert page.status_code == 302, page.text[:300]
        return page.headers["Location"]

    def come_back(self, callback_url: str):
        assert callback_url.startswith(CALLBACK), callback_url
        parts = urlsplit(callback_url)
        return self.client.get(f"{parts.path}?{parts.query}")

    def connect(self, name: str | None = None, tenants: list[str] | None = None) -> int:
        connection_id, authorize_url = self.add(name)
        page = self.come_back(self.consent(self.open_dialog(authorize_url), tenants=tenants))
        assert page.status_code == 200 and b"is connected" in page.data, page.data[:500]
        return connection_id

    def entities(self, connection_id: int) -> list[dict]:
        response = self.client.get(f"/api/v1/connections/{connection_id}/entities", headers=self.headers)
        assert response.status_code == 200, response.get_json()
        return response.get_json()["items"]

    def select(self, connection_id: int, count: int | None = None) -> list[int]:
        ids = [e["id"] for e in self.entities(connection_id)][:count]
        response = self.client.put(f"/api/v1/connections/{connection_id}/entities", json={"selected_ids": ids},
                                   headers=self.headers)
        assert response.status_code == 200, response.get_json()
        return ids

    def connection(self, connection_id: int) -> dict:
        response = self.client.get(f"/api/v1/connections/{connection_id}", headers=self.headers)
        assert response.status_code == 200, response.get_json()
        return response.get_json()


@pytest.fixture
def journey(client, provider, workspace) -> Journey:
    return Journey(client, provider, workspace.admin())
