"""This folder's app offers the sandbox provider over real HTTP; `books` is a connection with one organisation
selected and refreshed once, and `mapping` the calls the mapping screen makes."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select

from server.db.models import Account, LedgerLine, WorkspaceAccount
from tests.support.journey import provider_app
from tests.support.refresh import run_refresh


@pytest.fixture
def app(db, tmp_path, provider):
    with provider_app(db, tmp_path, provider) as app:
        yield app


@dataclass
class Books:
    connection_id: int
    tenant_id: str


@pytest.fixture
def books(journey) -> Books:
    connection_id = journey.connect()
    journey.select(connection_id, count=1)
    assert run_refresh(journey, connection_id)["status"] == "succeeded"
    return Books(connection_id, journey.entities(connection_id)[0]["provider_entity_id"])


@dataclass
class MappingCalls:
    client: object
    headers: dict
    connection_id: int

    def url(self, tail: str = "") -> str:
        return f"/api/v1/connections/{self.connection_id}/mapping{tail}"

    def get(self) -> dict:
        response = self.client.get(self.url(), headers=self.headers)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def save(self, dimensions: list[dict], expect: int = 200) -> dict:
        response = self.client.put(self.url(), json={"dimensions": dimensions}, headers=self.headers)
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def put(self, body: dict, expect: int = 200) -> dict:
        response = self.client.put(self.url(), json=body, headers=self.headers)
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def preview_body(self, body: dict) -> dict:
        response = self.client.post(self.url("/preview"), json=body, headers=self.headers)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def preview(self, dimensions: list[dict]) -> dict:
        response = self.client.post(self.url("/preview"), json={"dimensions": dimensions}, headers=self.headers)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def dimension(self, name: str, expect: int = 201) -> dict:
        response = self.client.post("/api/v1/dimensions", json={"name": name}, headers=self.headers)
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    def member(self, dimension_id: int, name: str, code: str = "") -> int:
        response = self.client.post(f"/api/v1/dimensions/{dimension_id}/members", json={"name": name, "code": code},
                                    headers=self.headers)
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    def provider_dimension(self, name: str) -> dict:
        return next(d for d in self.get()["provider_dimensions"] if d["name"] == name)


@pytest.fixture
def mapping(client, workspace, books) -> MappingCalls:
    return MappingCalls(client, workspace.admin(), books.connection_id)


@pytest.fixture
def placed(db, books):
    """Each loaded line of the connection: its raw provider values, its slot 1 and 2 members, amount, period."""
    def read() -> dict[str, tuple]:
        with db.sessions() as session:
            return {row.source_line_id: (row.source_dimensions, row.dim1_member_id, row.dim2_member_id,
                                         row.amount_base, row.period)
                    for row in session.execute(select(LedgerLine).where(
                        LedgerLine.connection_id == books.connection_id)).scalars()}
    return read


@pytest.fixture
def accounted(db, books):
    """Each loaded line of the connection: its provider account, that account's workspace account (code and
    name), amount in base currency, period."""
    def read() -> dict[str, tuple]:
        with db.sessions() as session:
            return {line_id: (account_id, f"{code} {name}".strip(), amount, period)
                    for line_id, account_id, code, name, amount, period in session.execute(
                        select(LedgerLine.source_line_id, LedgerLine.account_id, WorkspaceAccount.code,
                               WorkspaceAccount.name, LedgerLine.amount_base, LedgerLine.period)
                        .join(Account, Account.id == LedgerLine.account_id)
                        .join(WorkspaceAccount, WorkspaceAccount.id == Account.workspace_account_id)
                        .where(LedgerLine.connection_id == books.connection_id))}
    return read
