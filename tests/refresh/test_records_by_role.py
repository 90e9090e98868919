"""The pipeline knows records by role, not providers: a provider written here against the framework alone
(its company in the URL path, a change feed that reports deletions) refreshes with nothing else changed
but the registry. Deleted lines go in the transaction of their cursor; one failing company does not stop
the others."""
from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

import server.connectors as registry
from server.connectors.framework.catalog import ProviderOption
from server.connectors.framework.connector import Company, Connector
from server.connectors.framework.http import RateLimits
from server.connectors.framework.oauth import OAuthClient, OAuthEndpoints
from server.connectors.framework.paginators import PageNumber, PageRequest
from server.connectors.framework.records import Account, CompanyProfile, Deletion, LedgerLine, Role
from server.connectors.framework.streams import Incremental, Stream
from server.db.engine import transaction
from server.db.models import Connection, Entity, LogEvent, RefreshRun
from server.db.models import LedgerLine as LoadedLine
from server.refresh.pipeline import execute
from server.refresh.runs import request_refresh
from tests.support.scripted_server import Reply, ScriptedServer, Seen


class Profile(Stream):
    name = "company"
    path = "/{region}/companies/{tenant}"
    role = Role.company_profile
    records_path = "companies"

    def parse_record(self, raw: dict[str, Any], request: PageRequest):
        yield CompanyProfile(source_id=raw["id"], name=raw["name"], base_currency=raw["currency"], year_end_month=6)


class Chart(Stream):
    name = "chart"
    path = "/{region}/companies/{tenant}/chart"
    role = Role.accounts
    records_path = "accounts"

    def parse_record(self, raw: dict[str, Any], request: PageRequest):
        yield Account(source_id=raw["id"], code=raw["code"], name=raw["name"], account_type="Expense",
                      account_class="expense")


class Lines(Stream):
    """A change feed: lines changed since a version, and journals deleted since, two records a page."""

    name = "lines"
    path = "/{region}/companies/{tenant}/lines"
    role = Role.ledger_lines
    records_path = "changes"
    paginator = PageNumber(page_size=2)
    incremental = Incremental(key="version", value=lambda raw: raw["version"], encode=str, decode=int,
                              send_as="param", name="since")
    reports_deletions = True

    def parse_record(self, raw: dict[str, Any], request: PageRequest):
        if raw.get("deleted"):
            yield Deletion(source_journal_id=raw["journal"])
        else:
            yield LedgerLine(source_line_id=raw["id"], account_id=raw["account"], amount=Decimal(raw["amount"]),
                             date=date.fromisoformat(raw["date"]), source_journal_id=raw["journal"])


class ScriptedBooks(Connector):
    key = "scripted-books"
    display_name = "Scripted Books"
    streams = (Profile(), Chart(), Lines())
    rate_limits = RateLimits(per_window=10_000, concurrent=5)

    def __init__(self, api_base: str, setup: Mapping[str, str]) -> None:
        super().__init__(setup=setup)
        self.api_base = api_base
        self.auth = OAuthClient(client_id="id", client_secret="secret", scopes=(), pkce=True,
                                endpoints=OAuthEndpoints(*(f"{api_base}/oauth/{p}" for p in ("a", "t", "r"))))

    def list_companies(self, token, log=None) -> list[Company]:
        return []


class Books:
    """The provider's side: per company, a change feed that the test edits between refreshes."""

    def __init__(self, server: ScriptedServer) -> None:
        self.server = server
        self.changes: dict[str, list[dict[str, Any]]] = {"c-1": [], "c-2": []}
        self.refusing: set[str] = set()
        for company in self.changes:
            server.script(f"/eu/companies/{company}", Reply(200, {"companies": [
                {"id": company, "name": company, "currency": "EUR"}]}))
            server.script(f"/eu/companies/{company}/chart", Reply(200, {"accounts": [
                {"id": "acc-1", "code": "6100", "name": "Rent"}, {"id": "acc-2", "code": "6200", "name": "Travel"}]}))
            server.on(f"/eu/companies/{company}/lines", self._lines_of(company))

    def _lines_of(self, company: str):
        def answer(seen: Seen) -> Reply:
            if company in self.refusing:
                return Reply(403, {"message": "This app is not allowed to read this company's ledger."})
            since, page = int(seen.query.get("since", 0)), int(seen.query["page"])
            newer = [change for change in self.changes[company] if change["version"] > since]
            return Reply(200, {"changes": newer[(page - 1) * 2:page * 2]})
        return answer

    def post(self, company: str, journal: str, *amounts: str, account: str = "acc-1") -> None:
        lines = self.changes[company]
        for number, amount in enumerate(amounts, 1):
            lines.append({"id": f"{journal}-{number}", "journal": journal, "account": account, "amount": amount,
                          "date": "2026-10-15", "version": len(lines) + 1})

    def delete(self, company: str, journal: str) -> None:
        lines = self.changes[company]
        lines.append({"deleted": True, "journal": journal, "version": len(lines) + 1})


@pytest.fixture
def books(monkeypatch) -> Iterator[Books]:
    scripted = ScriptedServer()

    def offer(settings) -> list[ProviderOption]:
        return [ProviderOption(key=ScriptedBooks.key, display_name=ScriptedBooks.display_name, auth_kind="oauth2",
                               data_types=ScriptedBooks.data_types(), dimension_kinds=(), setup_fields=(),
                               factory=lambda setup: ScriptedBooks(scripted.url, setup))]

    monkeypatch.setattr(registry, "PROVIDERS", (*registry.PROVIDERS, offer))  # the one line a provider adds
    yield Books(scripted)
    scripted.close()


@pytest.fixture
def connection_id(app, db, workspace) -> int:
    """A connection to Scripted Books in region "eu" (its setup), with both companies selected."""
    vault = app.extensions["ledgerpane"].vault
    with transaction(db.sessions) as session:
        connection = Connection(workspace_id=workspace.id, provider=ScriptedBooks.key, name="Scripted",
                                status="authenticated", setup_fields={"region": "eu"})
        session.add(connection)
        session.flush()
        vault.store(connection, {"access_token": "token", "refresh_token": "refresh",
                                 "expires_at": int(time.time()) + 86_400})
        for company in ("c-1", "c-2"):
            session.add(Entity(workspace_id=workspace.id, connection_id=connection.id, provider_entity_id=company,
                               name=company, selected=True))
        return connection.id


def refresh(app, db, connection_id: int) -> RefreshRun:
    """A run carried out here, every page in this process: the provider is registered in this process only,
    so a reader helper (a process of its own) would not know it."""
    runtime = app.extensions["ledgerpane"]
    runtime.settings = replace(runtime.settings, refresh_pages_in_process=1_000)
    run_id, _ = request_refresh(db.sessions, connection_id, trigger="manual", member_id=None)
    execute(runtime, run_id)
    with db.sessions() as session:
        return session.get(RefreshRun, run_id)


def loaded(db, company: str) -> dict[str, Decimal]:
    with db.sessions() as session:
        return dict(session.execute(select(LoadedLine.source_line_id, LoadedLine.amount).join(
            Entity, Entity.id == LoadedLine.entity_id).where(Entity.provider_entity_id == company)).all())


def test_a_provider_with_the_company_in_the_path_refreshes_through_the_framework_alone(app, db, books,
                                                                                      connection_id):
    books.post("c-1", "j-1", "100.00", "-100.00")
    books.post("c-2", "j-7", "5.50", "-5.50")
    run = refresh(app, db, connection_id)
    assert run.status == "succeeded"
    assert loaded(db, "c-1") == {"j-1-1": Decimal("100.0000"), "j-1-2": Decimal("-100.0000")}
    assert loaded(db, "c-2") == {"j-7-1": Decimal("5.5000"), "j-7-2": Decimal("-5.5000")}
    assert {"/eu/companies/c-1/lines", "/eu/companies/c-2/chart"} <= set(books.server.paths())
    with db.sessions() as session:
        assert session.scalar(select(Entity.base_currency).where(Entity.provider_entity_id == "c-1")) == "EUR"
        assert session.scalar(select(Entity.year_end_month).where(Entity.provider_entity_id == "c-1")) == 6


def test_deleted_journals_leave_with_their_cursor_and_are_counted(app, db, books, connection_id):
    books.post("c-1", "j-1", "100.00", "-100.00")
    books.post("c-1", "j-2", "40.00", "-40.00")
    refresh(app, db, connection_id)
    # The provider deletes j-1, and j-2 is edited: deleted, then sent again with its new lines.
    books.delete("c-1", "j-1")
    books.delete("c-1", "j-2")
    books.post("c-1", "j-2", "45.00", "-45.00")
    run = refresh(app, db, connection_id)
    assert run.status == "succeeded"
    assert loaded(db, "c-1") == {"j-2-1": Decimal("45.0000"), "j-2-2": Decimal("-45.0000")}
    assert run.counters["journals"]["deleted"] == 4
    since = [s.query.get("since") for s in books.server.seen if s.path == "/eu/companies/c-1/lines"]
    assert since[-5:] == ["0"] * 5  # every page of one pull asks from where it started (4 - overlap)
    with db.sessions() as session:
        event = session.scalars(select(LogEvent).where(LogEvent.run_id == run.id, LogEvent.data_type == "journals",
                                                       LogEvent.entity_id.is_not(None))
                                .order_by(LogEvent.id)).first()
    assert event.rows_deleted == 4 and "4 deleted" in event.detail
    # Re-reading the same changes (the overlap of the next incremental run) leaves the same ledger.
    assert refresh(app, db, connection_id).status == "succeeded"
    assert loaded(db, "c-1") == {"j-2-1": Decimal("45.0000"), "j-2-2": Decimal("-45.0000")}


def test_one_company_refused_at_the_provider_does_not_stop_the_others(app, db, books, connection_id):
    books.post("c-1", "j-1", "100.00", "-100.00")
    books.post("c-2", "j-7", "5.50", "-5.50")
    books.refusing.add("c-2")
    run = refresh(app, db, connection_id)
    assert run.status == "partly_succeeded" and run.needs_attention
    assert loaded(db, "c-1") == {"j-1-1": Decimal("100.0000"), "j-1-2": Decimal("-100.0000")}
    assert loaded(db, "c-2") == {}
    failed, = run.counters["entities_failed"]
    assert failed["entity"] == "c-2" and "HTTP 403" in failed["reason"]
    assert failed["action"] == "Reconnect the source and give it access to this company."
    with db.sessions() as session:
        connection = session.get(Connection, connection_id)
        event = session.scalars(select(LogEvent).where(LogEvent.run_id == run.id, LogEvent.status == "failed")).one()
    assert connection.status == "live" and "c-2" in connection.status_detail
    assert event.data_type == "journals" and "Reconnect" in event.detail
    # Once the provider lets us in again, the next refresh brings that company too.
    books.refusing.clear()
    assert refresh(app, db, connection_id).status == "succeeded"
    assert loaded(db, "c-2") == {"j-7-1": Decimal("5.5000"), "j-7-2": Decimal("-5.5000")}


def test_every_company_refused_fails_the_run(app, db, books, connection_id):
    books.refusing.update({"c-1", "c-2"})
    run = refresh(app, db, connection_id)
    assert run.status == "failed"
    assert "c-1" in run.error and "c-2" in run.error
