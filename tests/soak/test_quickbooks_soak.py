"""The fault soak for QuickBooks: refresh runs of a real `ledgerpane serve` process against the QuickBooks dialect,
which fails on purpose (429s, 500/503s, slow and dropped answers, access tokens expiring mid-run) while transactions
are posted and deleted at QuickBooks, ledger cursors age past CDC's 30 days (so a run reads every month again,
each replacing what was loaded for it) and the service is killed with SIGKILL at random moments and started again.
After every run that succeeded, the company's lines equal QuickBooks' ledger (count, and movements per account and
month) and its ledger cursor is an instant QuickBooks answered at during the run (no read of every month left half
done); after every round, no line is there twice; every run a kill met ends succeeded or, cut short, interrupted;
at the end, none is still going and no batch staged for a killed run is left.

What the Xero soak (test_fault_soak.py) already covers for every provider, revoked grants and outages that fail a
run, is not repeated here: this one is about QuickBooks' own ways, a time cursor, CDC's deletions and the re-read
beyond its window, surviving kills.

CI size: 8 runs with 2 kills (about half a minute: a run costs seconds of retries' backoff and restarts), on
PostgreSQL when it is configured, else SQLite. On demand, larger: LEDGERPANE_QUICKBOOKS_SOAK_RUNS=24
LEDGERPANE_QUICKBOOKS_SOAK_KILLS=6 (2.5 minutes). LEDGERPANE_SOAK_SEED replays a plan.
"""
from __future__ import annotations

import os
import random
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from server.connectors.quickbooks.connector import parse_ledger_cursor
from server.db.models import LedgerLine, SyncCursor
from server.sandbox import RateLimits
from tests.support.database import POSTGRES_URL
from tests.support.quickbooks import connect, offer_the_demo_app
from tests.support.refresh import ground_truth_by_code, loaded_by_code, staged_left
from tests.support.sandbox import make_test_config, running_sandbox
from tests.support.soak import FAILING, Rounds, Service, plan_seed, soak_service

RUNS = int(os.environ.get("LEDGERPANE_QUICKBOOKS_SOAK_RUNS", "8"))
KILLS = int(os.environ.get("LEDGERPANE_QUICKBOOKS_SOAK_KILLS", "2"))
SEED = plan_seed()
GAP = timedelta(days=40)  # a cursor this old is beyond CDC's window: the next run reads every month again


@pytest.fixture
def sandbox():
    # Two companies (one consent each); a rotated refresh token stays replayable, as in the Xero soak, for a kill
    # between Intuit's rotation and our commit.
    config = make_test_config(dialect="quickbooks", lines=300, tenants=2, refresh_grace=10 * 86_400,
                              rate_limits=RateLimits.scaled(1 / 60, per_minute=500, concurrent=10))
    with running_sandbox(config) as server:
        yield server


@pytest.fixture
def provider(sandbox):
    return offer_the_demo_app(sandbox)


class QuickBooksSoak(Rounds):
    faults_never_fail_a_run = True

    def __init__(self, provider, db, service: Service, companies: dict[int, str], rng: random.Random) -> None:
        super().__init__(service, rng)
        self.provider, self.db, self.companies = provider, db, companies

    def change_the_books(self) -> None:
        """New transactions, and now and then one deleted, at each company; faults cleared that a kill left."""
        for tenant in self.companies.values():
            self.provider.admin("DELETE", f"/admin/tenants/{tenant}/faults", expect=200)
            count = self.rng.randint(0, 3)
            if count:
                self.provider.admin("POST", f"/admin/tenants/{tenant}/journals", {"generate": count}, expect=201)
            if self.rng.random() < 0.4:
                organisation = self.provider.app.extensions["sandbox"].organisation(tenant)
                with organisation.lock:
                    live = [j.number for j in organisation.journals if j.deleted_ms is None]
                self.provider.admin("DELETE", f"/admin/tenants/{tenant}/journals/{self.rng.choice(live)}", expect=200)
                self.tally.faults["deleted at QuickBooks"] += 1

    def age_a_cursor(self, connection_id: int) -> None:
        """Nobody refreshed it for 40 days, as far as its ledger's cursor says."""
        with self.db.sessions() as session, session.begin():
            session.execute(update(SyncCursor).where(SyncCursor.connection_id == connection_id,
                                                     SyncCursor.stream == "general_ledger")
                            .values(value=(datetime.now(UTC) - GAP).isoformat(timespec="seconds")))
        self.tally.faults["gap beyond CDC"] += 1

    def inject(self, tenant: str) -> None:
        """Fewer failures in a row than the client's attempts: every call still gets through."""
        failing = self.rng.choices([0, 1, 2, 3], [45, 35, 15, 5])[0]  # the client makes ATTEMPTS (5)
        faults = [{"kind": self.rng.choice(FAILING), "retryAfter": 0} for _ in range(failing)]
        if self.rng.random() < 0.3:
            faults.append({"kind": "slow", "delay": round(self.rng.uniform(0.05, 0.2), 2),
                           "count": self.rng.randint(1, 3)})
        for fault in faults:
            fault["endpoint"] = self.rng.choice([None, "GeneralLedger", "CDC"])
            self.provider.admin("POST", f"/admin/tenants/{tenant}/faults", fault, expect=201)
            self.tally.faults[fault["kind"]] += 1

    def round(self, kill: bool, first: bool = False) -> None:
        """`first`: the first load, far longer than the rounds after it, so it does not set the kill window."""
        self.change_the_books()
        for connection_id, tenant in self.companies.items():
            if self.rng.random() < 0.2:
                self.age_a_cursor(connection_id)
            self.inject(tenant)
        if self.rng.random() < 0.15:
            self.tally.faults["token expiry"] += 1
            self.provider.clock.advance(self.provider.config.access_token_ttl + 1)
        window = self.kill_window()
        pressed_at = self.provider.clock()
        ended = self.play(list(self.companies), self.rng.uniform(0, window) if kill else None, timed=not first)
        for connection_id, run in (ended or {}).items():
            self.check(connection_id, run, pressed_at)

    def check(self, connection_id: int, run: dict, pressed_at: float) -> None:
        """A run that succeeded leaves the company's ledger as QuickBooks has it, and its cursor where QuickBooks
        answered during the run (`pressed_at`: QuickBooks' clock when play was pressed); any run, no line twice."""
        tenant = self.companies[connection_id]
        self.tally.outcomes[run["status"]] += 1
        if run["status"] != "succeeded" or run.get("needs_attention"):
            self.tally.mismatch(f"run {run['id']}: {run['status']} (error: {run.get('error')}, mismatches: "
                                f"{run.get('counters', {}).get('mismatches', [])[:3]}){self.service.last_error()}")
            return
        lines = self.line_count(connection_id)
        expected = next(t for t in self.provider.tenants() if t["tenantId"] == tenant)["lineCount"]
        if lines != expected:
            self.tally.mismatch(f"run {run['id']}: {lines} lines loaded, QuickBooks has {expected}")
        if loaded_by_code(self.db, connection_id) != ground_truth_by_code(self.provider, tenant):
            self.tally.mismatch(f"run {run['id']}: movements per account and month differ from the ground truth")
        self.check_cursor(connection_id, run, pressed_at)

    def check_cursor(self, connection_id: int, run: dict, pressed_at: float) -> None:
        """The next run asks CDC from here: an instant of this run (older, it would read changes twice or,
        beyond CDC's window, every month again; later, it would miss what changes in between), never a read of
        every month still under way."""
        with self.db.sessions() as session:
            value = session.scalar(select(SyncCursor.value).where(SyncCursor.connection_id == connection_id,
                                                                  SyncCursor.stream == "general_ledger"))
        position = parse_ledger_cursor(value) if value else None
        if not isinstance(position, datetime):
            self.tally.mismatch(f"run {run['id']}: the ledger's cursor is {value!r} after a successful run")
        elif not pressed_at - 1 <= position.timestamp() <= self.provider.clock() + 1:  # stamped to the second
            self.tally.mismatch(f"run {run['id']}: the ledger's cursor {value} is not an instant of the run "
                                f"({datetime.fromtimestamp(pressed_at, UTC):%H:%M:%S} to now)")

    def line_count(self, connection_id: int) -> int:
        with self.db.sessions() as session:
            total, distinct = session.execute(
                select(func.count(), func.count(func.distinct(LedgerLine.source_line_id)))
                .where(LedgerLine.connection_id == connection_id)).one()
        if total != distinct:
            self.tally.mismatch(f"connection {connection_id}: {total - distinct} lines twice")
        return total


@pytest.mark.slow
def test_quickbooks_refreshes_survive_faults_kills_and_gaps_beyond_cdc(client, workspace, provider, db, tmp_path,
                                                                      figures):
    if db.backend == "sqlite" and POSTGRES_URL:
        pytest.skip("the soak runs once, on PostgreSQL (the production store) when it is configured: time is scarce")
    rng = random.Random(SEED)
    headers = workspace.admin()
    companies = {}
    for tenant in provider.tenants():
        connection_id = connect(client, headers, provider, tenant["tenantId"])
        entity = client.get(f"/api/v1/connections/{connection_id}/entities", headers=headers).get_json()["items"][0]
        client.put(f"/api/v1/connections/{connection_id}/entities", json={"selected_ids": [entity["id"]]},
                   headers=headers)
        companies[connection_id] = tenant["tenantId"]
    # A pull longer than four pages (a read of every month) moves to the ledger reader's helper process, which the
    # kills then take down too.
    service = soak_service(db, tmp_path, provider.url, headers, len(companies),
                           LEDGERPANE_REFRESH_PAGES_IN_PROCESS="4")
    soak = QuickBooksSoak(provider, db, service, companies, rng)
    started = time.monotonic()
    try:
        service.start()
        rounds = -(-RUNS // len(companies))
        kill_rounds = set(rng.sample(range(1, rounds), min(KILLS, rounds - 1)))  # the first loads first
        for number in range(rounds):
            soak.round(kill=number in kill_rounds, first=number == 0)
        soak.round(kill=False)  # a last round after the last kill: everything must be there
        soak.check_none_left_going()
    finally:
        service.stop()
    tally = soak.tally
    figures(tally.figures(
        f"QuickBooks fault soak on {db.backend} (LEDGERPANE_SOAK_SEED={SEED} to replay): {tally.runs} runs, "
        f"{tally.kills} kills ({tally.kills_mid_run} while a run was going), {time.monotonic() - started:.0f} s",
        f"round durations: {[round(d, 1) for d in soak.durations]}"))
    assert not tally.mismatches, tally.mismatches[:20]
    assert tally.kills == len(kill_rounds)
    assert not staged_left(db), "batches staged for killed runs were dropped"
