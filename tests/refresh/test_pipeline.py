"""The refresh pipeline against the sandbox over real HTTP: the first load equals the provider's ledger,
later runs bring exactly the changes, re-reads never duplicate, and the log says what happened."""
import time
from collections import defaultdict
from decimal import Decimal

from sqlalchemy import func, select

from server.models import Account, Entity, LedgerLine


def run_refresh(journey, connection_id: int, body: dict | None = None, deadline: float = 60) -> dict:
    """Press play and wait (on the run's status, with a deadline) until the run ends."""
    response = journey.client.post(f"/api/v1/connections/{connection_id}/refresh", json=body or {},
                                   headers=journey.headers)
    assert response.status_code == 202, response.get_json()
    return wait_for_run(journey, response.get_json()["run_id"], deadline)


def wait_for_run(journey, run_id: int, deadline: float = 60) -> dict:
    give_up = time.monotonic() + deadline
    while True:
        run = journey.client.get(f"/api/v1/runs/{run_id}", headers=journey.headers).get_json()
        if run["status"] not in ("queued", "running"):
            return run
        assert time.monotonic() < give_up, f"run {run_id} still {run['status']}: {run['progress']}"
        time.sleep(0.05)


def loaded_movements(db, connection_id: int, tenant_id: str) -> dict[tuple[str, str], Decimal]:
    """Net amount per (account id at the provider, YYYY-MM) as loaded into the workspace."""
    with db.sessions() as session:
        rows = session.execute(
            select(Account.source_account_id, LedgerLine.period, func.sum(LedgerLine.amount))
            .join(Account, Account.id == LedgerLine.account_id).join(Entity, Entity.id == LedgerLine.entity_id)
            .where(LedgerLine.connection_id == connection_id, Entity.provider_entity_id == tenant_id)
            .group_by(Account.source_account_id, LedgerLine.period)).all()
    return {(account, period.isoformat()[:7]): total for account, period, total in rows if total}


def ground_truth(provider, tenant_id: str) -> dict[tuple[str, str], Decimal]:
    truth = provider.admin("GET", f"/admin/tenants/{tenant_id}/trial-balance", expect=200)
    movements = defaultdict(Decimal)
    for row in truth["movements"]:
        movements[(row["accountId"], row["period"])] += Decimal(str(row["netAmount"]))
    return {key: value for key, value in movements.items() if value}


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
    item = journey.connection(connection_id)
    assert item["status"] == "live" and item["account_status"]["state"] == "ready"
    assert item["records_last_30_days"] > total_lines
