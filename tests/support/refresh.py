"""A refresh as a finance user runs it (press play, wait for the run), and what the workspace then holds,
compared with the sandbox provider's ground truth."""
from __future__ import annotations

import multiprocessing
from collections import defaultdict
from decimal import Decimal
from types import SimpleNamespace

from sqlalchemy import func, select

from server.db.models import Account, Entity, LedgerLine
from server.store.ledger import staged_tables
from tests.support.waiting import wait_until


def run_refresh(journey, connection_id: int, body: dict | None = None, deadline: float = 60) -> dict:
    """Press play and wait (on the run's status, with a deadline) until the run ends."""
    response = journey.client.post(f"/api/v1/connections/{connection_id}/refresh", json=body or {},
                                   headers=journey.headers)
    assert response.status_code == 202, response.get_json()
    return wait_for_run(journey, response.get_json()["run_id"], deadline)


def wait_for_run(journey, run_id: int, deadline: float = 60) -> dict:
    """The run as the API shows it once it is neither queued nor running."""
    seen: dict = {}

    def ended() -> dict | None:
        seen.update(journey.client.get(f"/api/v1/runs/{run_id}", headers=journey.headers).get_json())
        return dict(seen) if seen["status"] not in ("queued", "running") else None

    return wait_until(ended, deadline, lambda: f"run {run_id} still {seen.get('status')}: {seen.get('progress')}",
                      interval=0.05)


def wait_for_run_of(client, headers, run_id: int, deadline: float = 120) -> dict:
    """`wait_for_run` for a test holding a client and headers rather than a journey."""
    return wait_for_run(SimpleNamespace(client=client, headers=headers), run_id, deadline)


def ready(journey, provider) -> int:
    """A connection with every organisation selected and a first refresh done."""
    connection_id = journey.connect()
    journey.select(connection_id)
    assert run_refresh(journey, connection_id)["status"] == "succeeded"
    return connection_id


def staged_left(db) -> dict[str, int]:
    """Batches a reader helper staged that nobody moved (PostgreSQL stages them; SQLite never does)."""
    if db.backend != "postgresql":
        return {}
    with db.engine.begin() as connection:
        return staged_tables(connection)


def readers() -> list:
    """The ledger reader's helper processes still alive."""
    return [p for p in multiprocessing.active_children() if p.name == "ledger-reader"]


def line_total(db) -> int:
    with db.sessions() as session:
        return session.scalar(select(func.count()).select_from(LedgerLine))


def loaded_movements(db, connection_id: int, tenant_id: str) -> dict[tuple[str, str], Decimal]:
    """Net amount per (account id at the provider, YYYY-MM) as loaded into the workspace."""
    with db.sessions() as session:
        rows = session.execute(
            select(Account.source_account_id, LedgerLine.period, func.sum(LedgerLine.amount))
            .join(Account, Account.id == LedgerLine.account_id).join(Entity, Entity.id == LedgerLine.entity_id)
            .where(LedgerLine.connection_id == connection_id, Entity.provider_entity_id == tenant_id)
            .group_by(Account.source_account_id, LedgerLine.period)).all()
    return {(account, period.isoformat()[:7]): total for account, period, total in rows if total}


def ground_truth(provider, tenant_id: str, account: str = "accountId") -> dict[tuple[str, str], Decimal]:
    """Net amount per (account, YYYY-MM) from every journal the sandbox ever posted for the tenant; the account
    named by its id, or by `account="accountCode"`."""
    truth = provider.admin("GET", f"/admin/tenants/{tenant_id}/trial-balance", expect=200)
    movements = defaultdict(Decimal)
    for row in truth["movements"]:
        movements[(row[account], row["period"])] += Decimal(str(row["netAmount"]))
    return {key: value for key, value in movements.items() if value}


def loaded_by_code(db, connection_id: int) -> dict[tuple[str, str], Decimal]:
    """Net amount per (account code, YYYY-MM) as loaded: for dialects whose account ids are their own, not the
    ground truth's."""
    with db.sessions() as session:
        rows = session.execute(
            select(Account.code, LedgerLine.period, func.sum(LedgerLine.amount))
            .join(Account, Account.id == LedgerLine.account_id)
            .where(LedgerLine.connection_id == connection_id)
            .group_by(Account.code, LedgerLine.period)).all()
    return {(code, f"{period:%Y-%m}"): total for code, period, total in rows if total}


def ground_truth_by_code(provider, tenant_id: str) -> dict[tuple[str, str], Decimal]:
    """The sandbox's ground truth per (account code, YYYY-MM)."""
    return ground_truth(provider, tenant_id, account="accountCode")


def assert_equals_the_provider(db, provider, connection_id):
    for tenant in provider.tenants():
        assert loaded_movements(db, connection_id, tenant["tenantId"]) == ground_truth(provider, tenant["tenantId"])
    assert line_total(db) == sum(t["lineCount"] for t in provider.tenants())


def start_a_slow_refresh(journey, provider, delay: float, count: int) -> tuple[int, str, int]:
    """One organisation selected, its answers slowed down, play pressed: (connection id, tenant, run id)."""
    connection_id = journey.connect()
    journey.select(connection_id, 1)
    tenant = journey.entities(connection_id)[0]["provider_entity_id"]
    provider.admin("POST", f"/admin/tenants/{tenant}/faults", {"kind": "slow", "delay": delay, "count": count},
                   expect=201)
    response = journey.client.post(f"/api/v1/connections/{connection_id}/refresh", json={}, headers=journey.headers)
    return connection_id, tenant, response.get_json()["run_id"]
