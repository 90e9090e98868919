"""The workbook's fixtures, built once per backend for the whole folder on a database of its own (the tests only read
what they find, so one refresh serves them all). `books` is a workspace whose sandbox organisations were all
connected, selected and refreshed once, with the provider's Region mapped onto a workspace Region (a member per
provider member). `hand_made` is a second workspace with a small ledger written straight into the database, for what
the sandbox cannot show (a deleted connection, a line without an account, text that looks like a formula)."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from server.db.engine import make_engine, make_sessionmaker, upgrade
from server.db.models import Account, Connection, Dimension, DimensionMember, Entity, LedgerLine
from server.sandbox.config import DEMO_CLIENT
from tests.support.database import BACKENDS, Database, SeededWorkspace, fresh_database_url, seed_workspace
from tests.support.journey import CALLBACK, Journey, provider_app
from tests.support.refresh import run_refresh


@dataclass
class SheetCalls:
    client: object
    headers: dict

    def get(self, path: str = "", expect: int = 200, **params) -> dict:
        response = self.client.get(f"/api/v1/workbook{path}", query_string=params, headers=self.headers)
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def rows(self, sheet: str, **params) -> tuple[list[str], list[list]]:
        """Every row of a sheet, page after page: (column names, rows)."""
        page = self.get(f"/{sheet}", **params)
        names, rows = [c["name"] for c in page["columns"]], list(page["rows"])
        while page["next_offset"] is not None:
            page = self.get(f"/{sheet}", **{**params, "offset": page["next_offset"]})
            rows += page["rows"]
        return names, rows

    def records(self, sheet: str, **params) -> list[dict]:
        names, rows = self.rows(sheet, **params)
        return [dict(zip(names, row, strict=True)) for row in rows]


@dataclass
class Books:
    sheets: SheetCalls
    provider: object
    database: Database
    workspace: SeededWorkspace
    connection_id: int
    tenants: dict[str, str]  # entity name -> the provider's tenant id
    entity_ids: dict[str, int]  # entity name -> id


def map_region(journey: Journey, connection_id: int) -> None:
    created = journey.client.post("/api/v1/dimensions", json={"name": "Region"}, headers=journey.headers)
    assert created.status_code == 201, created.get_json()
    mapping = journey.client.get(f"/api/v1/connections/{connection_id}/mapping", headers=journey.headers).get_json()
    provider_region = next(d for d in mapping["provider_dimensions"] if d["name"] == "Region")
    saved = journey.client.put(f"/api/v1/connections/{connection_id}/mapping", headers=journey.headers, json={
        "dimensions": [{"provider_dimension_id": provider_region["id"], "dimension_id": created.get_json()["id"],
                        "new_members": "create"}]})
    assert saved.status_code == 200, saved.get_json()


@pytest.fixture(scope="package", params=BACKENDS)
def books_database(request, tmp_path_factory) -> Iterator[Database]:
    url, drop = fresh_database_url(request.param, tmp_path_factory.mktemp(f"workbook-{request.param}"))
    engine = make_engine(url)
    upgrade(engine)
    yield Database(request.param, url, engine, make_sessionmaker(engine))
    engine.dispose()
    drop()


@pytest.fixture(scope="package")
def books(books_database, sandbox_server, tmp_path_factory) -> Iterator[Books]:
    provider = sandbox_server  # as tests/support/journey.py's `provider`, once for the module
    provider.admin("POST", "/admin/reset", {"grants": True}, expect=200)
    provider.admin("POST", "/admin/clients", {"clientId": DEMO_CLIENT.client_id,
                                              "clientSecret": DEMO_CLIENT.client_secret,
                                              "redirectUris": [CALLBACK]}, expect=201)
    workspace = seed_workspace(books_database.sessions)
    with provider_app(books_database, tmp_path_factory.mktemp("workbook-var"), provider) as app:
        journey = Journey(app.test_client(), provider, workspace.admin())
        connection_id = journey.connect()
        journey.select(connection_id)
        assert run_refresh(journey, connection_id)["status"] == "succeeded"
        map_region(journey, connection_id)
        entities = journey.entities(connection_id)
        yield Books(SheetCalls(app.test_client(), workspace.member()), provider, books_database, workspace,
                    connection_id, {e["name"]: e["provider_entity_id"] for e in entities},
                    {e["name"]: e["id"] for e in entities})


@pytest.fixture(scope="package")
def truth(books) -> dict[tuple, Decimal]:
    """Net movement per (entity, account code, YYYY-MM) from every journal the sandbox posted, zeros left out."""
    movements: dict[tuple, Decimal] = defaultdict(Decimal)
    for name, tenant in books.tenants.items():
        for row in books.provider.admin("GET", f"/admin/tenants/{tenant}/trial-balance", expect=200)["movements"]:
            movements[(name, row["accountCode"], row["period"])] += Decimal(str(row["netAmount"]))
    return {key: value for key, value in movements.items() if value}


@dataclass
class HandMade:
    sheets: SheetCalls
    connection_id: int
    entity_id: int
    member_id: int  # Region "North"


@pytest.fixture(scope="package")
def hand_made(books) -> HandMade:
    """A second workspace: two lines of a deleted connection's entity, one on account 4000 (revenue) with an "="
    description, one on no account at all; a Region dimension in slot 2 with North on the first line."""
    workspace = seed_workspace(books.database.sessions, "Old Co Holdings")
    with books.database.sessions.begin() as session:
        connection = Connection(workspace_id=workspace.id, provider="xero-sandbox", name="Old books",
                                status="disconnected", deleted_at=datetime(2026, 1, 5, tzinfo=UTC),
                                last_successful_run_at=datetime(2026, 1, 4, 6, 30, tzinfo=UTC))
        session.add(connection)
        session.flush()
        entity = Entity(workspace_id=workspace.id, connection_id=connection.id, provider_entity_id="t1",
                        name="Old Co", base_currency="GBP")
        region = Dimension(workspace_id=workspace.id, position=2, name="Region")
        session.add_all([entity, region])
        session.flush()
        north = DimensionMember(dimension_id=region.id, name="North", code="N")
        account = Account(workspace_id=workspace.id, connection_id=connection.id, entity_id=entity.id,
                          source_account_id="a1", code="4000", name="Sales", account_type="REVENUE",
                          account_class="revenue", currency="GBP")
        session.add_all([north, account, DimensionMember(dimension_id=region.id, name="Unmapped", is_unmapped=True)])
        session.flush()
        common = {"workspace_id": workspace.id, "connection_id": connection.id, "entity_id": entity.id,
                  "period": date(2025, 12, 1), "date": date(2025, 12, 31), "currency": "EUR"}
        session.add_all([
            LedgerLine(**common, source_line_id="l1", account_id=account.id, dim2_member_id=north.id,
                       amount=Decimal("-120.5"), amount_base=Decimal("-100.25"), description="=HYPERLINK(1)"),
            LedgerLine(**common, source_line_id="l2", account_id=None, amount=Decimal("120.5"),
                       amount_base=Decimal("100.25")),
        ])
        made = connection.id, entity.id, north.id
    return HandMade(SheetCalls(books.sheets.client, workspace.member()), *made)


@pytest.fixture(scope="package")
def empty(books) -> SheetCalls:
    """A third workspace, with nothing in it."""
    return SheetCalls(books.sheets.client, seed_workspace(books.database.sessions, "Empty Ltd").member())
