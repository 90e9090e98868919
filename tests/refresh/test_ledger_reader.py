"""Reading a ledger for the refresh: the first pages in the run's own process, the rest in a helper
process; what comes back, how failures travel, how a helper ends."""
import time

import pytest

from server.connectors import ProviderUnavailable
from server.mapping.ledger import LineMapper
from server.refresh.reader import HelperFailed, ReadJob, read
from server.store.ledger import Encoding
from tests.support.refresh import readers


def reading(app, connection_id: int, tenant_id: str, *, pages_here: int, log: list, batch_rows: int = 500,
            provider: str = "xero-sandbox"):
    """`read` as the refresh calls it, with no chart (every line comes back with its account unknown)."""
    services = app.extensions["ledgerpane"]
    mapper = LineMapper(workspace_id=1, connection_id=connection_id, entity_id=1, currency="AUD", run_id=1,
                        account_ids={}, encoding=Encoding(services.engine.dialect.name))
    job = ReadJob(services.settings, provider, {}, "journals", connection_id, tenant_id, cursor=None, options={},
                  mapper=mapper, batch_rows=batch_rows)
    return read(job, log, services.connector("xero-sandbox"), services.vault.token_source(connection_id),
                pages_here=pages_here)


@pytest.mark.parametrize("pages_here", [1000, 1], ids=["in process", "mostly in a helper"])
def test_every_line_comes_back_once_with_the_cursor_and_the_calls_made(journey, provider, app, pages_here):
    connection_id = journey.connect()
    tenant = provider.tenants()[0]
    calls: list = []
    batches = list(reading(app, connection_id, tenant["tenantId"], pages_here=pages_here, log=calls))
    lines = [line for batch in batches for line in batch.unknown]
    assert len(lines) == len({line.source_line_id for line in lines}) == tenant["lineCount"]
    assert sum(b.rows_read for b in batches) == tenant["lineCount"]
    assert int(batches[-1].cursor) == tenant["journalCount"]
    pages = sum(b.pages for b in batches)
    assert [c.status for c in calls] == [200] * (pages + 1), "every page, and the empty one that ends the pull"
    assert not readers()


def test_closing_early_ends_the_helper(journey, provider, app):
    connection_id = journey.connect()
    batches = reading(app, connection_id, provider.tenants()[0]["tenantId"], pages_here=1, batch_rows=100, log=[])
    next(batches)  # the first page, read here
    assert next(batches).unknown and readers(), "the helper is reading"
    batches.close()
    assert not readers()


def test_a_provider_error_in_the_helper_keeps_its_type(journey, provider, app):
    # The refresh maps ProviderUnavailable to "error" and AuthRevoked to "reauth_required": the type matters.
    connection_id = journey.connect()
    tenant = provider.tenants()[0]["tenantId"]
    calls: list = []
    batches = reading(app, connection_id, tenant, pages_here=1, batch_rows=100, log=calls)
    next(batches)  # the first page, read here; the helper starts on the next
    provider.admin("POST", f"/admin/tenants/{tenant}/faults", {"kind": "503", "count": 50}, expect=201)
    with pytest.raises(ProviderUnavailable) as raised:
        list(batches)
    assert raised.value.status == 503 and "/Journals" in raised.value.endpoint
    failed = [c for c in calls if c.status == 503]
    assert len(failed) > 1, "every failed attempt reaches the log"
    assert not readers()


def test_a_bug_in_the_helper_comes_back_with_its_traceback(journey, provider, app):
    connection_id = journey.connect()
    batches = reading(app, connection_id, provider.tenants()[0]["tenantId"], pages_here=1, log=[],
                      provider="no-such-provider")
    with pytest.raises(HelperFailed, match="Traceback"):
        list(batches)
    assert not readers()


def test_the_helper_refreshes_an_expired_token_itself(journey, provider, app, db):
    # Xero's access tokens last 30 minutes and a long load outlasts them: the helper must refresh through
    # the vault (the connection row's lock keeps two processes from spending the same refresh token).
    from tests.support.tokens import expire_access_token, stored_token

    connection_id = journey.connect()
    tenant = provider.tenants()[0]
    batches = reading(app, connection_id, tenant["tenantId"], pages_here=1, batch_rows=100, log=[])
    first = next(batches)  # read here, with the token as it was
    before = expire_access_token(app, db, connection_id)
    rest = list(batches)  # the helper finds it expired
    assert sum(b.rows_read for b in [first, *rest]) == tenant["lineCount"]
    after, _ = stored_token(app, db, connection_id)
    assert after["access_token"] != before["access_token"] and after["expires_at"] > time.time()
