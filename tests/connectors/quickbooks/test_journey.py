"""A finance user connects the QuickBooks demo company through the service and refreshes it: the workspace then
holds the company's ledger, reconciled with its trial balance, and the connection shows the calls it made this
month (Intuit meters reads by the month). A company left unrefreshed for longer than CDC looks back loses, on its
next refresh, the transactions deleted meanwhile, and nothing else."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from server.db.models import Entity, LedgerLine, SyncCursor
from tests.support.journey import provider_app
from tests.support.quickbooks import connect, general_ledger_reports_served, offer_the_demo_app
from tests.support.refresh import ground_truth_by_code, loaded_by_code, wait_for_run_of
from tests.support.sandbox import SandboxServer, quickbooks_test_config, running_sandbox
from tests.support.waiting import wait_until


@pytest.fixture(scope="module")
def quickbooks() -> Iterator[SandboxServer]:
    with running_sandbox(quickbooks_test_config(lines=4_000)) as server:
        yield server


@pytest.fixture
def provider(quickbooks) -> SandboxServer:
    return offer_the_demo_app(quickbooks)


@pytest.fixture
def app(db, tmp_path, provider):
    with provider_app(db, tmp_path, provider) as app:
        yield app


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


def test_a_transaction_deleted_during_a_gap_longer_than_cdcs_window_leaves_the_workspace(client, workspace, provider,
                                                                                         db):
    headers = workspace.admin()
    tenant = provider.tenants()[0]
    connection_id = connect(client, headers, provider, tenant["tenantId"])
    entity = client.get(f"/api/v1/connections/{connection_id}/entities", headers=headers).get_json()["items"][0]
    client.put(f"/api/v1/connections/{connection_id}/entities", json={"selected_ids": [entity["id"]]},
               headers=headers)
    first = client.post(f"/api/v1/connections/{connection_id}/refresh", json={}, headers=headers)
    assert wait_for_run_of(client, headers, first.get_json()["run_id"])["status"] == "succeeded"
    before = held_lines(db, connection_id)
    gone = provider.admin("DELETE", f"/admin/tenants/{tenant['tenantId']}/journals/2", expect=200)
    gone_ids = {line_id for line_id, line in before.items() if line[0].endswith(f":{gone['journalNumber']}")}
    assert gone_ids, "the deleted transaction was loaded"
    # Nobody refreshed for 40 days: the ledger's cursor says so, and CDC (the only place QuickBooks reports
    # deletions) cannot look back that far.
    with db.sessions() as session, session.begin():
        session.execute(update(SyncCursor).where(SyncCursor.connection_id == connection_id,
                                                 SyncCursor.stream == "general_ledger")
                        .values(value=(datetime.now(UTC) - timedelta(days=40)).isoformat(timespec="seconds")))
    again = client.post(f"/api/v1/connections/{connection_id}/refresh", json={}, headers=headers)
    run = wait_for_run_of(client, headers, again.get_json()["run_id"])
    assert run["status"] == "succeeded" and not run["needs_attention"], run["counters"].get("mismatches")
    journals = run["counters"]["journals"]
    assert (journals["deleted"], journals["inserted"], journals["updated"]) == (len(gone_ids), 0, 0)
    events = client.get(f"/api/v1/log?connection_id={connection_id}&data_type=journals",
                        headers=headers).get_json()["items"]
    event = next(e for e in events if e["run_id"] == run["id"])
    assert (event["rows_deleted"], event["rows_inserted"], event["rows_updated"]) == (len(gone_ids), 0, 0)
    # Only the deleted transaction's lines went; every other line is as it was, down to the run that wrote it.
    assert held_lines(db, connection_id) == {k: v for k, v in before.items() if k not in gone_ids}
    assert loaded_by_code(db, connection_id) == ground_truth_by_code(provider, tenant["tenantId"])
    assert ledger_cursor(db, connection_id) > (datetime.now(UTC) - timedelta(days=1)).isoformat()


def held_lines(db, connection_id: int) -> dict[str, tuple]:
    """Every loaded line of the connection by its source id: (journal, date, amount, account, run id, row id)."""
    with db.sessions() as session:
        return {line_id: rest for line_id, *rest in session.execute(
            select(LedgerLine.source_line_id, LedgerLine.source_journal_id, LedgerLine.date, LedgerLine.amount,
                   LedgerLine.account_id, LedgerLine.run_id, LedgerLine.id)
            .where(LedgerLine.connection_id == connection_id))}


PAGES_HERE = 4  # months read by the refresh itself before the rest of a full read goes to the reader's process


def selected_company(client, headers, provider, tenant_id: str) -> int:
    connection_id = connect(client, headers, provider, tenant_id)
    entity = client.get(f"/api/v1/connections/{connection_id}/entities", headers=headers).get_json()["items"][0]
    chosen = client.put(f"/api/v1/connections/{connection_id}/entities", json={"selected_ids": [entity["id"]]},
                        headers=headers)
    assert chosen.status_code == 200, chosen.get_json()
    return connection_id


def refreshed(client, headers, connection_id: int) -> dict:
    started = client.post(f"/api/v1/connections/{connection_id}/refresh", json={}, headers=headers)
    assert started.status_code == 202, started.get_json()
    return wait_for_run_of(client, headers, started.get_json()["run_id"])


def test_a_first_load_handed_to_the_ledger_reader_reads_each_months_report_once(workspace, provider, db, tmp_path):
    # Intuit meters reads: the months the refresh read before handing the rest to the reader's process are not
    # read again there.
    headers = workspace.admin()
    tenant = provider.tenants()[0]
    with provider_app(db, tmp_path, provider, refresh_pages_in_process=PAGES_HERE) as app:
        client = app.test_client()
        connection_id = selected_company(client, headers, provider, tenant["tenantId"])
        with general_ledger_reports_served(provider) as served:
            run = refreshed(client, headers, connection_id)
    assert run["status"] == "succeeded" and not run["needs_attention"], run
    assert len(served) > PAGES_HERE + 1, "the read went on in the reader's process"
    assert set(served.values()) == {1}, sorted(served.items())
    assert line_count(db, connection_id) == tenant["lineCount"]
    assert loaded_by_code(db, connection_id) == ground_truth_by_code(provider, tenant["tenantId"])


def test_a_full_read_that_failed_half_way_goes_on_from_the_month_it_reached(workspace, provider, db, tmp_path):
    headers = workspace.admin()
    tenant = provider.tenants()[0]
    # Batches of a month or so, so that what was read before the failure is committed with its cursor.
    with provider_app(db, tmp_path, provider, refresh_pages_in_process=PAGES_HERE, refresh_batch_rows=80) as app:
        client = app.test_client()
        connection_id = selected_company(client, headers, provider, tenant["tenantId"])
        with general_ledger_reports_served(provider, throttled_after=PAGES_HERE + 3) as served:
            failed = refreshed(client, headers, connection_id)
            assert failed["status"] == "failed", failed
            assert 0 < line_count(db, connection_id) < tenant["lineCount"]
            # Meanwhile at QuickBooks: a transaction of a month already loaded is deleted, new ones are posted.
            with db.sessions() as session:
                loaded = session.scalar(select(LedgerLine.source_journal_id).order_by(LedgerLine.date).limit(1))
            provider.admin("DELETE", f"/admin/tenants/{tenant['tenantId']}/journals/{loaded.split(':')[1]}",
                           expect=200)
            provider.admin("POST", f"/admin/tenants/{tenant['tenantId']}/journals", {"generate": 3}, expect=201)
            run = refreshed(client, headers, connection_id)
    assert run["status"] == "succeeded" and not run["needs_attention"], run
    assert set(served.values()) == {1}, sorted(served.items())
    assert run["counters"]["journals"]["deleted"] > 0
    assert line_count(db, connection_id) == provider.tenants()[0]["lineCount"]
    assert loaded_by_code(db, connection_id) == ground_truth_by_code(provider, tenant["tenantId"])


def line_count(db, connection_id: int) -> int:
    """The connection's lines, each counted once: a line loaded twice would fail the comparison with QuickBooks'."""
    with db.sessions() as session:
        total, distinct = session.execute(select(func.count(), func.count(func.distinct(LedgerLine.source_line_id)))
                                          .where(LedgerLine.connection_id == connection_id)).one()
    assert total == distinct, f"{total - distinct} lines twice"
    return total
