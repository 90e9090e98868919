"""The helper process that reads a ledger for the refresh: what it hands back, how it fails, how it ends."""
import multiprocessing

import pytest

from server.connectors import ProviderUnavailable
from server.ledger_reader import HelperFailed, ReadJob, read
from server.mapping.ledger import LineMapper
from server.store import Encoding


def job(app, connection_id: int, tenant_id: str, provider: str = "xero-sandbox", batch_rows: int = 500) -> ReadJob:
    services = app.extensions["ledgerpane"]
    mapper = LineMapper(workspace_id=1, connection_id=connection_id, entity_id=1, currency="AUD", run_id=1,
                        account_ids={}, encoding=Encoding(services.engine.dialect.name))
    return ReadJob(services.settings, provider, connection_id, tenant_id, cursor=None, options={}, mapper=mapper,
                   batch_rows=batch_rows)


def readers() -> list:
    return [p for p in multiprocessing.active_children() if p.name == "ledger-reader"]


def test_batches_carry_lines_cursor_pages_and_the_calls_made(journey, provider, app):
    connection_id = journey.connect()
    tenant = provider.tenants()[0]
    calls: list = []
    batches = list(read(job(app, connection_id, tenant["tenantId"], batch_rows=10**9), log=calls))
    assert len(batches) == 1
    batch = batches[0]
    assert not batch.rows and len(batch.unknown) == tenant["lineCount"], "no chart given: every account unknown"
    assert batch.rows_read == tenant["lineCount"] and batch.pages >= 1
    assert int(batch.cursor) == tenant["journalCount"]
    assert [c.status for c in calls] == [200] * (batch.pages + 1), "every page, and the empty one that ends it"
    assert calls == batch.calls
    assert not readers()


def test_closing_early_ends_the_helper(journey, provider, app):
    connection_id = journey.connect()
    batches = read(job(app, connection_id, provider.tenants()[0]["tenantId"], batch_rows=100), log=[])
    first = next(batches)
    assert first.unknown and readers(), "the helper is still reading"
    batches.close()
    assert not readers()


def test_a_provider_error_keeps_its_type(journey, provider, app):
    # The refresh maps ProviderUnavailable to "error" and AuthRevoked to "reauth_required": the type matters.
    connection_id = journey.connect()
    tenant = provider.tenants()[0]["tenantId"]
    provider.admin("POST", f"/admin/tenants/{tenant}/faults", {"kind": "503", "count": 50}, expect=201)
    calls: list = []
    with pytest.raises(ProviderUnavailable) as raised:
        list(read(job(app, connection_id, tenant), log=calls))
    assert raised.value.status == 503 and "/Journals" in raised.value.endpoint
    assert len(calls) > 1 and all(c.status == 503 for c in calls), "every failed attempt reaches the log"
    assert not readers()


def test_a_bug_in_the_helper_comes_back_with_its_traceback(journey, provider, app):
    connection_id = journey.connect()
    with pytest.raises(HelperFailed, match="Traceback"):
        list(read(job(app, connection_id, provider.tenants()[0]["tenantId"], provider="no-such-provider"), log=[]))
    assert not readers()
