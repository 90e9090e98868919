"""A finance user connects the QuickBooks demo company through the service and refreshes it: the workspace then
holds the company's ledger, reconciled with its trial balance, and the connection shows the calls it made this
month (Intuit meters reads by the month)."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import func, select

from server.db.models import Entity, LedgerLine, SyncCursor
from server.sandbox.config import DEMO_CLIENT
from tests.support.journey import ORIGIN, provider_app
from tests.support.refresh import ground_truth_by_code, loaded_by_code, wait_for_run_of
from tests.support.sandbox import SandboxServer, quickbooks_test_config, running_sandbox
from tests.support.waiting import wait_until

CALLBACK = f"{ORIGIN}/oauth/callback/quickbooks-sandbox"


@pytest.fixture(scope="module")
def quickbooks() -> Iterator[SandboxServer]:
    with running_sandbox(quickbooks_test_config(lines=4_000)) as server:
        yield server


@pytest.fixture
def provider(quickbooks) -> SandboxServer:
    quickbooks.admin("POST", "/admin/reset", {"grants": True}, expect=200)
    quickbooks.admin("POST", "/admin/clients", {"clientId": DEMO_CLIENT.client_id,
                                                "clientSecret": DEMO_CLIENT.client_secret,
                                                "redirectUris": [CALLBACK]}, expect=201)
    return quickbooks


@pytest.fixture
def app(db, tmp_path, provider):
    with provider_app(db, tmp_path, provider) as app:
        yield app


def connect(client, headers, provider, tenant_id: str) -> int:
    """Add the demo company, consent to one company at Intuit, come back."""
    added = client.post("/api/v1/connections", json={"provider": "quickbooks-sandbox"}, headers=headers)
    assert added.status_code == 201, added.get_json()
    connection_id = added.get_json()["connection"]["id"]
    to_intuit = client.get(added.get_json()["authorize_url"]).headers["Location"]
    page = requests.get(to_intuit, allow_redirects=False, timeout=30)
    back = requests.post(page.url, data={"decision": "approve", "tenant": [tenant_id]}, allow_redirects=False,
                         timeout=30).headers["Location"]
    assert back.startswith(CALLBACK), back
    parts = urlsplit(back)
    done = client.get(f"{parts.path}?{parts.query}")
    assert done.status_code == 200 and b"is connected" in done.data, done.data[:400]
    return connection_id


def test_the_quickbooks_demo_company_refreshes_into_the_workspace(client, workspace, provider, db):
    headers = workspace.admin()
    tenant = provider.tenants()[1]
    connection_id = connect(client, headers, provider, tenant["tenantId"])
    entities = client.get(f"/api/v1/connections/{connection_id}/entities", headers=headers).get_json()["items"]
    assert [e["name"] for e in entities] == [tenant["name"]]  # one consent, one company: the realm it named
    chosen = client.put(f"/api/v1/connections/{connection_id}/entities",
                        json={"selected_ids": [entities[0]["id"]]}, headers=headers)
    assert chosen.status_code == 200
    started = client.post(f"/api/v1/connections/{connection_id}/refresh", json={}, headers=headers)
    run = wait_for_run_of(client, headers, started.get_json()["run_id"])
    assert run["status"] == "succeeded", run
    assert not run["needs_attention"], run["counters"].get("mismatches", [])[:5]
    assert loaded_by_code(db, connection_id) == ground_truth_by_code(provider, tenant["tenantId"])
    with db.sessions() as session:
        base = session.scalar(select(Entity.base_currency).where(Entity.connection_id == connection_id))
    assert base == tenant["baseCurrency"]
    shown = client.get(f"/api/v1/connections/{connection_id}", headers=headers).get_json()
    served = provider.admin("GET", f"/admin/tenants/{tenant['tenantId']}/stats", expect=200)["requests"]
    assert shown["calls_this_month"] == served - 1  # every call the refresh made; the other one listed the company
    # Entries posted and deleted at QuickBooks come by CDC; the workspace follows, deletions included.
    posted = provider.admin("POST", f"/admin/tenants/{tenant['tenantId']}/journals", {"generate": 4},
                            expect=201)["journals"]
    for number in (posted[0]["journalNumber"], 2):
        provider.admin("DELETE", f"/admin/tenants/{tenant['tenantId']}/journals/{number}", expect=200)
    again = client.post(f"/api/v1/connections/{connection_id}/refresh", json={}, headers=headers)
    second = wait_for_run_of(client, headers, again.get_json()["run_id"])
    assert second["status"] == "succeeded" and not second["needs_attention"], second["counters"]
    assert second["counters"]["journals"]["deleted"] >= 2
    assert loaded_by_code(db, connection_id) == ground_truth_by_code(provider, tenant["tenantId"])
    with db.sessions() as session:
        kept = session.scalar(select(func.count()).select_from(LedgerLine)
                              .where(LedgerLine.connection_id == connection_id))
    assert kept == provider.tenants()[1]["lineCount"]
    later = client.get(f"/api/v1/connections/{connection_id}", headers=headers).get_json()["calls_this_month"]
    assert later > shown["calls_this_month"]

    # A refresh that finds nothing changed still moves the ledger's cursor, so a quiet company stays inside
    # CDC's 30 days instead of being read whole again after a month.
    before = ledger_cursor(db, connection_id)
    # The cursor is a time to the second: let the clock pass it, or a fast machine sees the same second again.
    wait_until(lambda: datetime.now(UTC).isoformat(timespec="seconds") > before, message="the clock did not move on")
    quiet = client.post(f"/api/v1/connections/{connection_id}/refresh", json={}, headers=headers)
    third = wait_for_run_of(client, headers, quiet.get_json()["run_id"])
    assert third["status"] == "succeeded" and ledger_cursor(db, connection_id) > before


def ledger_cursor(db, connection_id: int) -> str:
    with db.sessions() as session:
        return session.scalar(select(SyncCursor.value).where(SyncCursor.connection_id == connection_id,
                                                             SyncCursor.stream == "general_ledger"))
