"""The refresh pipeline against the sandbox over real HTTP: the first load equals the provider's ledger,
later runs bring exactly the changes, re-reads never duplicate, and the log says what happened."""
from decimal import Decimal

from sqlalchemy import delete, func, select

from server.db.models import Account, Entity, LedgerLine
from tests.support.refresh import (
    assert_equals_the_provider,
    ground_truth,
    line_total,
    loaded_movements,
    ready,
    run_refresh,
    staged_left,
    start_a_slow_refresh,
    wait_for_run,
)
from tests.support.waiting import wait_until


def test_first_refresh_loads_exactly_the_providers_ledger(journey, db, provider):
    connection_id = journey.connect()
    journey.select(connection_id)
    run = run_refresh(journey, connection_id)
    assert run["status"] == "succeeded", run
    assert not run["needs_attention"], run["counters"].get("mismatches")[:3]
    for tenant in provider.tenants():
        assert loaded_movements(db, connection_id, tenant["tenantId"]) == ground_truth(provider, tenant["tenantId"])
    total_lines = sum(t["lineCount"] for t in provider.tenants())
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(LedgerLine)) == total_lines
    assert not staged_left(db)
    item = journey.connection(connection_id)
    assert item["status"] == "live" and item["account_status"]["state"] == "ready"
    assert item["records_last_30_days"] > total_lines


def test_a_second_run_reads_only_the_overlap_and_writes_nothing(journey, db, provider):
    connection_id = ready(journey, provider)
    before = line_total(db)
    run = run_refresh(journey, connection_id)
    assert run["status"] == "succeeded"
    journals = run["counters"]["journals"]
    assert journals["inserted"] == journals["updated"] == 0
    assert 0 < journals["read"] < before / 10, "only the look-back overlap is read again"
    assert line_total(db) == before


def test_incremental_refresh_brings_posts_voids_and_edits(journey, db, provider):
    connection_id = ready(journey, provider)
    tenants = provider.tenants()
    first, second = tenants[0]["tenantId"], tenants[1]["tenantId"]
    posted = provider.admin("POST", f"/admin/tenants/{first}/journals", {"generate": 25}, expect=201)["journals"]
    provider.admin("POST", f"/admin/tenants/{first}/journals/{posted[0]['journalNumber']}/void", expect=201)
    provider.admin("POST", f"/admin/tenants/{second}/journals/5/void", expect=201)  # an old journal voided
    provider.admin("PATCH", f"/admin/tenants/{second}/accounts/200", {"name": "Sales - Services"}, expect=200)
    run = run_refresh(journey, connection_id)
    assert run["status"] == "succeeded" and not run["needs_attention"], run["counters"].get("mismatches")
    new_lines = sum(j["lineCount"] for j in posted) + posted[0]["lineCount"] + provider.admin(
        "GET", f"/admin/tenants/{second}/trial-balance", expect=200)["lineCount"] - tenants[1]["lineCount"]
    assert run["counters"]["journals"]["inserted"] == new_lines
    assert run["counters"]["accounts"]["updated"] == 1
    assert_equals_the_provider(db, provider, connection_id)
    with db.sessions() as session:
        names = session.scalars(select(Account.name).join(Entity).where(
            Entity.provider_entity_id == second, Account.code == "200")).all()
    assert names == ["Sales - Services"]
    assert run["counters"]["changes"], "the run says which accounts and periods changed"


def test_a_full_refresh_reads_everything_and_duplicates_nothing(journey, db, provider):
    connection_id = ready(journey, provider)
    run = run_refresh(journey, connection_id, {"mode": "full"})
    assert run["status"] == "succeeded"
    assert run["counters"]["journals"]["read"] == line_total(db)
    assert run["counters"]["journals"]["inserted"] == 0
    assert_equals_the_provider(db, provider, connection_id)


def test_lines_already_there_after_a_run_of_new_ones_are_merged_not_doubled(journey, db, provider):
    # The first batches of this full refresh are new (their lines were lost here), so PostgreSQL moves them
    # with plain INSERTs; the batch that meets lines still there falls back to the guarded merge.
    connection_id = ready(journey, provider)
    with db.sessions.begin() as session:
        first = session.scalars(select(LedgerLine.id).order_by(LedgerLine.id).limit(1_200)).all()
        session.execute(delete(LedgerLine).where(LedgerLine.id.in_(first)))
    run = run_refresh(journey, connection_id, {"mode": "full"})
    assert run["status"] == "succeeded"
    assert (run["counters"]["journals"]["inserted"], run["counters"]["journals"]["updated"]) == (1_200, 0)
    assert_equals_the_provider(db, provider, connection_id)


def test_a_re_pull_touches_only_its_stream(journey, db, provider):
    connection_id = ready(journey, provider)
    with db.sessions() as session:
        runs_before = dict(session.execute(select(LedgerLine.id, LedgerLine.run_id)).all())
    run = run_refresh(journey, connection_id, {"mode": "repull", "streams": ["accounts"], "since": "2020-01-01"})
    assert run["status"] == "succeeded"
    assert set(run["counters"]) - {"changes", "mismatches"} == {"accounts"}
    events = journey.client.get(f"/api/v1/log?connection_id={connection_id}", headers=journey.headers).get_json()
    assert {e["data_type"] for e in events["items"] if e["run_id"] == run["id"]} == {"accounts"}
    with db.sessions() as session:
        assert dict(session.execute(select(LedgerLine.id, LedgerLine.run_id)).all()) == runs_before


def test_a_re_pull_needs_its_streams_and_a_date(journey, provider):
    connection_id = journey.connect()
    journey.select(connection_id)
    response = journey.client.post(f"/api/v1/connections/{connection_id}/refresh", json={"mode": "repull"},
                                   headers=journey.headers)
    assert response.status_code == 422 and response.get_json()["error"]["field"] == "streams"


def test_progress_is_visible_while_a_run_works(journey, db, provider):
    connection_id, _, run_id = start_a_slow_refresh(journey, provider, delay=0.15, count=40)
    again = journey.client.post(f"/api/v1/connections/{connection_id}/refresh", json={}, headers=journey.headers)
    assert again.status_code == 202 and again.get_json() == {"run_id": run_id, "created": False}
    seen = []

    def ended() -> bool:
        run = journey.client.get(f"/api/v1/runs/{run_id}", headers=journey.headers).get_json()
        if run["status"] == "running" and run["progress"]["pages"] > 0:
            seen.append(run["progress"])
        return run["status"] not in ("queued", "running")

    wait_until(ended, deadline=60, message="the run never ended", interval=0.05)
    assert seen, "progress was never visible while the run was running"
    assert seen[-1]["pages"] >= seen[0]["pages"] and "stream" in seen[-1]
    assert wait_for_run(journey, run_id)["status"] == "succeeded"


def test_the_log_says_what_happened_per_entity_and_data_type_without_secrets(journey, db, provider, app):
    connection_id = ready(journey, provider)
    events = journey.client.get(f"/api/v1/log?connection_id={connection_id}&per_page=200",
                                headers=journey.headers).get_json()
    kinds = {(e["entity_name"], e["data_type"]) for e in events["items"]}
    names = [t["name"] for t in provider.tenants()]
    assert kinds == {(n, t) for n in names for t in ("accounts", "dimensions", "journals", "trial_balance",
                                                     "currencies")}
    journals = next(e for e in events["items"] if e["data_type"] == "journals")
    assert journals["rows_inserted"] > 0 and journals["pages"] > 0 and "new lines" in journals["detail"]
    endpoint = journals["endpoints"][0]
    assert endpoint["method"] == "GET" and endpoint["url"].endswith("/xero/api.xro/2.0/Journals")
    assert endpoint["statuses"] == {"200": endpoint["calls"]} and endpoint["max_attempt"] == 1
    reconciled = next(e for e in events["items"] if e["data_type"] == "trial_balance")
    assert reconciled["status"] == "succeeded" and "every account agrees" in reconciled["detail"]
    with db.sessions() as session:
        from server.db.models import Connection

        token = app.extensions["ledgerpane"].vault.credential(session.get(Connection, connection_id))
    raw = journey.client.get("/api/v1/log?per_page=200", headers=journey.headers).get_data(as_text=True)
    assert token["access_token"] not in raw and token["refresh_token"] not in raw
    filtered = journey.client.get("/api/v1/log?data_type=journals&status=succeeded", headers=journey.headers)
    assert {e["data_type"] for e in filtered.get_json()["items"]} == {"journals"}
    assert journey.connection(connection_id)["records_last_30_days"] >= journals["rows_inserted"]


def test_reconciliation_flags_a_line_the_workspace_lost(journey, db, provider):
    connection_id = ready(journey, provider)
    tenant = provider.tenants()[0]["tenantId"]
    with db.sessions.begin() as session:
        # One of the first lines loaded: far from the look-back overlap, which would quietly put it back.
        lost = session.scalars(select(LedgerLine).join(Entity, Entity.id == LedgerLine.entity_id)
                               .where(Entity.provider_entity_id == tenant)
                               .order_by(LedgerLine.id)).first()
        period, amount = lost.period, lost.amount
        session.delete(lost)
    # A new journal in the same period makes the next run reconcile that period.
    provider.admin("POST", f"/admin/tenants/{tenant}/journals",
                   {"generate": 1, "date": period.replace(day=15).isoformat()}, expect=201)
    run = run_refresh(journey, connection_id)
    assert run["status"] == "succeeded" and run["needs_attention"]
    mismatch = run["counters"]["mismatches"][0]
    assert Decimal(mismatch["difference"]) == -amount
    item = journey.connection(connection_id)
    assert item["status"] == "live" and "needs attention" in item["status_detail"]
    flagged = journey.client.get("/api/v1/log?status=needs_attention", headers=journey.headers).get_json()["items"]
    assert len(flagged) == 1 and "differ from the provider's trial balance" in flagged[0]["detail"]


def test_a_provider_outage_fails_the_run_in_plain_words(journey, db, provider):
    connection_id = journey.connect()
    journey.select(connection_id, 1)
    tenant = journey.entities(connection_id)[0]["provider_entity_id"]
    provider.admin("POST", f"/admin/tenants/{tenant}/faults", {"kind": "503", "count": 50}, expect=201)
    run = run_refresh(journey, connection_id)
    assert run["status"] == "failed" and "after retries" in run["error"] and "503" in run["error"]
    item = journey.connection(connection_id)
    assert item["status"] == "error" and "503" in item["status_detail"]
    failed = journey.client.get("/api/v1/log?status=failed", headers=journey.headers).get_json()["items"]
    assert failed and failed[0]["endpoints"][0]["statuses"].get("503")


def test_a_revoked_grant_during_refresh_asks_for_reconnect(journey, db, provider, app):
    from tests.support.tokens import expire_access_token

    connection_id = ready(journey, provider)
    provider.admin("POST", "/admin/grants/revoke", {}, expect=200)
    expire_access_token(app, db, connection_id)
    run = run_refresh(journey, connection_id)
    assert run["status"] == "failed" and "Reconnect" in run["error"]
    assert journey.connection(connection_id)["status"] == "reauth_required"


def test_reconciliation_flags_a_provider_report_that_disagrees(journey, db, provider):
    from datetime import UTC, datetime

    connection_id = ready(journey, provider)
    tenant = provider.tenants()[0]["tenantId"]
    month = datetime.now(UTC).strftime("%Y-%m")  # new journals are dated today by the sandbox
    provider.admin("POST", f"/admin/tenants/{tenant}/report-adjustments",
                   {"accountCode": "200", "period": month, "amount": "12.34"}, expect=201)
    provider.admin("POST", f"/admin/tenants/{tenant}/journals", {"generate": 2}, expect=201)
    run = run_refresh(journey, connection_id)
    assert run["status"] == "succeeded" and run["needs_attention"]
    assert [(m["period"], m["account_code"], m["difference"]) for m in run["counters"]["mismatches"]] == [
        (month, "200", "-12.3400")]
    flagged = journey.client.get(f"/api/v1/log?status=needs_attention&connection_id={connection_id}",
                                 headers=journey.headers).get_json()["items"]
    assert len(flagged) == 1 and "200" in flagged[0]["detail"]


def loaded_by_run(db, run_id: int) -> dict[tuple, tuple[Decimal, int]]:
    """(entity, account code, account name, YYYY-MM) -> (net, lines) of the lines a run wrote."""
    with db.sessions() as session:
        rows = session.execute(
            select(Entity.name, Account.code, Account.name, LedgerLine.period, func.sum(LedgerLine.amount),
                   func.count())
            .join(Account, Account.id == LedgerLine.account_id).join(Entity, Entity.id == LedgerLine.entity_id)
            .where(LedgerLine.run_id == run_id)
            .group_by(Entity.name, Account.code, Account.name, LedgerLine.period)).all()
    return {(entity, code, name, period.isoformat()[:7]): (total, count) for entity, code, name, period, total, count
            in rows}


def assert_changes_are_what_the_run_wrote(db, run: dict) -> None:
    written = loaded_by_run(db, run["id"])
    changes = run["counters"]["changes"]
    assert len(changes) == min(200, len(written)), "every account-period changed is listed (up to 200)"
    for change in changes:
        key = (change["entity"], change["account_code"], change["account_name"], change["period"])
        assert written[key] == (Decimal(change["net_amount"]), change["lines"]), key
    nets = [abs(Decimal(c["net_amount"])) for c in changes]
    assert nets == sorted(nets, reverse=True), "largest changes first"


def test_the_change_summary_of_a_first_load_is_what_it_wrote(journey, db, provider):
    # Summed by the statements that wrote each batch, not read back: it must agree with the database.
    connection_id = journey.connect()
    journey.select(connection_id)
    run = run_refresh(journey, connection_id)
    assert run["status"] == "succeeded"
    assert_changes_are_what_the_run_wrote(db, run)


def test_the_change_summary_of_an_incremental_run_is_what_it_wrote(journey, db, provider):
    # The look-back overlap meets lines already there: only the ones inserted may count.
    connection_id = ready(journey, provider)
    tenant = provider.tenants()[0]["tenantId"]
    provider.admin("POST", f"/admin/tenants/{tenant}/journals", {"generate": 12}, expect=201)
    run = run_refresh(journey, connection_id)
    assert run["status"] == "succeeded" and run["counters"]["journals"]["inserted"] > 0
    assert_changes_are_what_the_run_wrote(db, run)


def test_cancelling_mid_load_keeps_what_was_committed_and_ends_the_reader(journey, db, provider):
    from tests.support.refresh import readers

    connection_id, tenant, run_id = start_a_slow_refresh(journey, provider, delay=0.1, count=200)
    # The first batch is in: the helper is reading the rest.
    wait_until(lambda: line_total(db) > 0, deadline=60, message="no batch was ever committed")
    assert journey.client.post(f"/api/v1/runs/{run_id}/cancel", headers=journey.headers).status_code == 200
    # "cancelled" at once; it stops at its next batch
    run = wait_until(lambda: (found := wait_for_run(journey, run_id))["finished_at"] and found, deadline=60,
                     message="the run never stopped")
    tenant_lines = next(t["lineCount"] for t in provider.tenants() if t["tenantId"] == tenant)
    assert run["status"] == "cancelled"
    assert 0 < line_total(db) < tenant_lines, "it stopped after a batch, keeping what it had committed"
    assert not readers(), "the helper ended"
    assert not staged_left(db), "batches staged but not moved went with it"
    assert run_refresh(journey, connection_id)["status"] == "succeeded"
    assert line_total(db) == tenant_lines, "the next run picks up where the cancelled one stopped"
