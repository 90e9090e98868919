"""The fault soak for Business Central: refresh runs of a real `ledgerpane serve` process against the Microsoft
dialect over TLS, which fails on purpose in Business Central's own ways (429s and 503s that say when to come back
with Retry-After, 500s, slow and dropped answers, access tokens expiring mid-run so that MSAL renews them from its
token cache) while G/L entries are posted at Business Central, now and then as a correction that reverses earlier
ones, and the service is killed with SIGKILL at random moments and started again. Two connections of one user
(one request budget, as Business Central counts them), two companies each, over two environments.

After every round: no entry twice, none Business Central lacks, every entry up to each company's cursor loaded,
no cursor beyond Business Central's newest entry. After every run that succeeded: each company's entries are all
there, its cursor is the newest entry's time, its movements per account and month equal the sandbox's ground truth,
and the connection is live with nothing to look at. Every run a kill met ends succeeded or, cut short,
interrupted; at the end, none is still going and no batch staged for a killed run is left.

What the Xero soak (test_fault_soak.py) already covers for every provider, revoked grants and outages that fail a
run, is not repeated here.

CI size: 8 runs with 2 kills, on PostgreSQL when it is configured, else SQLite. On demand, larger:
LEDGERPANE_BUSINESS_CENTRAL_SOAK_RUNS=40 LEDGERPANE_BUSINESS_CENTRAL_SOAK_KILLS=10. LEDGERPANE_SOAK_SEED replays a
plan.
"""
from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from server.connectors.business_central.connector import parse_instant
from server.db.models import Connection, Entity, LedgerLine, SyncCursor
from server.sandbox.business_central.api import instant
from tests.support.business_central import TlsSandbox, connect, offer_the_demo_app, running_tls_sandbox, trust
from tests.support.database import POSTGRES_URL
from tests.support.journey import provider_app
from tests.support.refresh import ground_truth, loaded_movements, staged_left
from tests.support.sandbox import make_test_config
from tests.support.soak import FAILING, Rounds, Service, answers_counted, plan_seed, soak_service

RUNS = int(os.environ.get("LEDGERPANE_BUSINESS_CENTRAL_SOAK_RUNS", "8"))
KILLS = int(os.environ.get("LEDGERPANE_BUSINESS_CENTRAL_SOAK_KILLS", "2"))
SEED = plan_seed()
COMPANIES = 4  # the last in a second environment (the dialect's "sandbox"), the others in "production"
CONNECTIONS = 2


@pytest.fixture
def sandbox(tmp_path_factory):
    # A rotated refresh token stays replayable, as in the other soaks, for a kill between Microsoft's rotation and
    # our commit of MSAL's cache.
    config = make_test_config(dialect="business_central", lines=150 * COMPANIES, tenants=COMPANIES,
                              refresh_grace=10 * 86_400)
    with running_tls_sandbox(config, tmp_path_factory.mktemp("tls")) as server:
        yield server


@pytest.fixture
def provider(sandbox):
    return offer_the_demo_app(sandbox)


@pytest.fixture
def app(db, tmp_path, provider, monkeypatch):
    trust(monkeypatch, provider)  # before the service's process is started: it inherits the environment
    with provider_app(db, tmp_path, SimpleNamespace(url=provider.https_url)) as app:
        yield app


class BusinessCentralSoak(Rounds):
    faults_never_fail_a_run = True

    def __init__(self, provider: TlsSandbox, db, service: Service, companies: dict[int, list[str]],
                 rng: random.Random) -> None:
        super().__init__(service, rng)
        self.provider, self.admin, self.db, self.companies = provider, provider.http, db, companies

    # --- Business Central's side

    def post_entries(self) -> None:
        """New entries at each company, now and then a correction reversing an earlier document; faults that a
        kill left pending cleared."""
        for company in self.every_company():
            self.admin.admin("DELETE", f"/admin/tenants/{company}/faults", expect=200)
            count = self.rng.randint(0, 4)
            if count:
                self.admin.admin("POST", f"/admin/tenants/{company}/journals", {"generate": count}, expect=201)
            if self.rng.random() < 0.2:
                organisation = self.admin.app.extensions["sandbox"].organisation(company)
                with organisation.lock:
                    numbers = [journal.number for journal in organisation.journals if journal.reversed_by is None]
                self.admin.admin("POST", f"/admin/tenants/{company}/journals/{self.rng.choice(numbers)}/void",
                                 expect=201)
                self.tally.faults["correction posted"] += 1

    def inject(self, company: str) -> None:
        """Fewer failures in a row than the client's attempts: every call still gets through."""
        failing = self.rng.choices([0, 1, 2, 3], [45, 35, 15, 5])[0]  # the client makes ATTEMPTS (5)
        # Retry-After: 0 leaves the wait to our backoff; a 1 is honoured as it stands (a second)
        faults = [{"kind": self.rng.choice(FAILING), "retryAfter": int(self.rng.random() < 0.15)}
                  for _ in range(failing)]
        if self.rng.random() < 0.3:
            faults.append({"kind": "slow", "delay": round(self.rng.uniform(0.05, 0.2), 2),
                           "count": self.rng.randint(1, 3)})
        for fault in faults:
            fault["endpoint"] = self.rng.choice([None, "generalLedgerEntries", "trialBalances"])
            self.admin.admin("POST", f"/admin/tenants/{company}/faults", fault, expect=201)
            self.tally.faults[fault["kind"]] += 1

    def expire_tokens(self) -> None:
        """Microsoft's clock passes the access tokens' lifetime: the next call answers 401, MSAL renews."""
        self.provider.http.clock.advance(self.provider.http.config.access_token_ttl + 1)

    # --- one round: new entries, faults, every connection refreshed, maybe a kill

    def round(self, kill: bool, expire: bool = False, first: bool = False) -> None:
        """`expire`: the access tokens expire at a random moment of the round. `first`: the first load, far longer
        than the rounds after it, so it does not set the kill window."""
        self.post_entries()
        for company in self.every_company():
            self.inject(company)
        window = self.kill_window()
        expiry = None
        if expire:
            self.tally.faults["token expiry"] += 1
            expiry = threading.Timer(self.rng.uniform(0, window), self.expire_tokens)
            expiry.start()
        ended = self.play(list(self.companies), self.rng.uniform(0, window) if kill else None, timed=not first)
        if expiry is not None:
            expiry.join()
        for connection_id, run in (ended or {}).items():
            self.check_outcome(connection_id, run)
        self.check_all()

    # --- what the workspace holds, against Business Central

    def every_company(self) -> list[str]:
        return [company for companies in self.companies.values() for company in companies]

    def check_outcome(self, connection_id: int, run: dict) -> None:
        with self.db.sessions() as session:
            status = session.get(Connection, connection_id).status
        self.tally.outcomes[run["status"]] += 1
        if (run["status"], status) != ("succeeded", "live") or run.get("needs_attention"):
            self.tally.mismatch(f"run {run['id']}: {run['status']} (error: {run.get('error')}, mismatches: "
                                f"{run.get('counters', {}).get('mismatches', [])[:3]}), connection {status}"
                                f"{self.service.last_error()}")
            return
        for company in self.companies[connection_id]:
            self.check_company(connection_id, company, complete=True)

    def check_all(self) -> None:
        started = time.monotonic()
        for connection_id, companies in self.companies.items():
            for company in companies:
                self.check_company(connection_id, company, complete=False)
        self.tally.seconds["checks"] += time.monotonic() - started

    def check_company(self, connection_id: int, company: str, complete: bool) -> None:
        """Nothing twice, nothing Business Central lacks, nothing missing up to the cursor; all of it, with the
        cursor at the newest entry and the ground truth's movements, once `complete`."""
        organisation = self.admin.app.extensions["sandbox"].organisation(company)
        with organisation.lock:
            stamped = {line.line_id: journal.created_ms for journal in organisation.journals
                       for line in journal.lines}
        newest = max(stamped.values())
        with self.db.sessions() as session:
            entity_id, provider_entity_id = session.execute(
                select(Entity.id, Entity.provider_entity_id).where(
                    Entity.connection_id == connection_id, Entity.provider_entity_id.endswith(f"/{company}"))).one()
            loaded = session.scalars(select(LedgerLine.source_line_id).where(
                LedgerLine.connection_id == connection_id, LedgerLine.entity_id == entity_id)).all()
            cursor = session.scalar(select(SyncCursor.value).where(
                SyncCursor.connection_id == connection_id, SyncCursor.entity_id == entity_id,
                SyncCursor.stream == "general_ledger_entries"))
        where = f"connection {connection_id}, company {provider_entity_id[:20]}"
        position = round(parse_instant(cursor).timestamp() * 1000) if cursor else 0
        covered = {line_id for line_id, created_ms in stamped.items() if created_ms <= position}
        if len(loaded) != len(set(loaded)):
            self.tally.mismatch(f"{where}: {len(loaded) - len(set(loaded))} entries twice")
        if set(loaded) - stamped.keys():
            self.tally.mismatch(f"{where}: {len(set(loaded) - stamped.keys())} entries Business Central lacks")
        if covered - set(loaded):
            self.tally.mismatch(f"{where}: cursor {cursor} but {len(covered - set(loaded))} entries up to it missing")
        if position > newest:
            self.tally.mismatch(f"{where}: cursor {cursor} beyond the newest entry's {instant(newest)}")
        if complete:
            if set(loaded) != stamped.keys() or position != newest:
                self.tally.mismatch(f"{where}: after a successful run {len(stamped.keys() - set(loaded))} entries "
                                    f"lost, cursor {cursor} where the newest entry is {instant(newest)}")
            if loaded_movements(self.db, connection_id, provider_entity_id) != ground_truth(self.admin, company):
                self.tally.mismatch(f"{where}: movements per account and month differ from the ground truth")


def answer_kind(path: str) -> str | None:
    """The answers the soak counts: the identity platform's token endpoint (MSAL renewing), and the API."""
    if path.endswith("/oauth2/v2.0/token"):
        return "token"
    return "API" if "/api/v2.0/" in path else None


@pytest.mark.slow
def test_business_central_refreshes_survive_faults_and_kills(client, workspace, provider, db, tmp_path, figures):
    if db.backend == "sqlite" and POSTGRES_URL:
        pytest.skip("the soak runs once, on PostgreSQL (the production store) when it is configured: time is scarce")
    rng = random.Random(SEED)
    headers = workspace.admin()
    ids = [t["tenantId"] for t in provider.http.tenants()]
    half = len(ids) // CONNECTIONS  # the second connection's companies are in both environments
    companies = {}
    for number in range(CONNECTIONS):
        chosen = ids[number * half:(number + 1) * half]
        companies[connect(client, headers, provider, chosen, name=f"Soak {number + 1}")] = chosen
    service = soak_service(db, tmp_path, provider.https_url, headers, CONNECTIONS)
    soak = BusinessCentralSoak(provider, db, service, companies, rng)
    started = time.monotonic()
    try:
        with answers_counted(provider.http.app, answer_kind) as answered:
            service.start()
            rounds = -(-RUNS // CONNECTIONS)
            kill_rounds = set(rng.sample(range(1, rounds), min(KILLS, rounds - 1)))  # the first loads first
            # Every plan has tokens expire, a third of the rounds after the first load (one at CI's size)
            expiry_rounds = set(rng.sample(range(1, rounds), max(1, (rounds - 1) // 3)))
            for number in range(rounds):
                soak.round(kill=number in kill_rounds, expire=number in expiry_rounds, first=number == 0)
            soak.round(kill=False)  # a last round after the last kill: everything must be there
            soak.check_none_left_going()
    finally:
        service.stop()
    tally = soak.tally
    if answered["token 200"] < tally.faults["token expiry"] or answered["API 401"] < tally.faults["token expiry"]:
        tally.mismatch(f"tokens expired {tally.faults['token expiry']} times, but Microsoft refused "
                       f"{answered['API 401']} calls for it and renewed {answered['token 200']} tokens")
    served = sum((Counter(provider.http.admin("GET", f"/admin/tenants/{company}/stats", expect=200)["injected"])
                  for company in ids), Counter())
    figures(tally.figures(
        f"Business Central fault soak on {db.backend} (LEDGERPANE_SOAK_SEED={SEED} to replay): {tally.runs} runs, "
        f"{tally.kills} kills ({tally.kills_mid_run} while a run was going), {time.monotonic() - started:.0f} s",
        f"faults served by the sandbox: {dict(sorted(served.items()))}",
        f"answers of the sandbox: {dict(sorted(answered.items()))}",
        f"round durations: {[round(d, 1) for d in soak.durations]}"))
    assert not tally.mismatches, tally.mismatches[:20]
    assert tally.kills == len(kill_rounds)
    assert not staged_left(db), "batches staged for killed runs were dropped"
