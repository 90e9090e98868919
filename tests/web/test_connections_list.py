"""The Connections list: search, sort and pages, scoped to the caller's workspace."""
from datetime import UTC, datetime, timedelta

import pytest

from server.db.models import Connection, Entity, RefreshRun


@pytest.fixture
def connections(db, workspace):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [("Acme UK", "xero", "uk@acme.test"), ("Acme US", "quickbooks", "us@acme.test"),
            ("Acme DE", "business_central", "de@acme.test"), ("Old ledger", "xero", "old@acme.test")]
    with db.sessions.begin() as session:
        for days, (name, provider, login) in enumerate(rows):
            session.add(Connection(workspace_id=workspace.id, name=name, provider=provider, business_account=login,
                                   created_at=start + timedelta(days=days)))
        session.add(Connection(workspace_id=workspace.id, name="Deleted", provider="xero", deleted_at=start))


def names(client, workspace, query: str = "") -> list[str]:
    response = client.get(f"/api/v1/connections{query}", headers=workspace.member())
    assert response.status_code == 200, response.get_json()
    return [item["name"] for item in response.get_json()["items"]]


def test_empty_workspace_lists_nothing(client, workspace):
    body = client.get("/api/v1/connections", headers=workspace.member()).get_json()
    assert body == {"items": [], "total": 0, "page": 1, "per_page": 25}


def test_lists_live_connections_by_name_without_deleted_ones(client, workspace, connections):
    assert names(client, workspace) == ["Acme DE", "Acme UK", "Acme US", "Old ledger"]


def test_search_matches_name_provider_and_business_account(client, workspace, connections):
    assert names(client, workspace, "?q=ACME%20U") == ["Acme UK", "Acme US"]
    assert names(client, workspace, "?q=quickbooks") == ["Acme US"]
    assert names(client, workspace, "?q=old@") == ["Old ledger"]


def test_sort_either_way_by_a_column(client, workspace, connections):
    assert names(client, workspace, "?sort=created_at&order=desc") == ["Old ledger", "Acme DE", "Acme US", "Acme UK"]
    assert names(client, workspace, "?sort=provider") == ["Acme DE", "Acme US", "Acme UK", "Old ledger"]


def test_pages(client, workspace, connections):
    body = client.get("/api/v1/connections?per_page=3&page=2", headers=workspace.member()).get_json()
    assert ([i["name"] for i in body["items"]], body["total"], body["page"]) == (["Old ledger"], 4, 2)


def test_sorting_by_status_is_refused(client, workspace):
    response = client.get("/api/v1/connections?sort=status", headers=workspace.member())
    assert response.status_code == 422 and response.get_json()["error"]["field"] == "sort"


def test_each_listed_connection_reads_as_its_details_do(client, db, workspace, connections):
    # The list builds its items from plain rows, the details from the ORM object: the two must agree field by field.
    with db.sessions.begin() as session:
        uk = session.query(Connection).filter_by(name="Acme UK").one()
        uk.status, uk.schedule_kind, uk.schedule_every_hours, uk.unmapped = "live", "every_n_hours", 6, {"members": 2}
        us = session.query(Connection).filter_by(name="Acme US").one()
        us.status, us.schedule_paused, us.schedule_paused_reason = "live", True, "Paused by an admin."
        for connection, names_ in ((uk, ("UK Ltd", "UK Holdings")), (us, ("US Inc",))):
            session.add_all(Entity(workspace_id=workspace.id, connection_id=connection.id, provider_entity_id=name,
                                   name=name, selected=n == 0) for n, name in enumerate(names_))
        session.add(RefreshRun(workspace_id=workspace.id, connection_id=uk.id, trigger="manual", status="succeeded",
                               progress={"pages": 2, "rows_read": 40}))
    listed = client.get("/api/v1/connections", headers=workspace.admin()).get_json()["items"]
    assert [item["name"] for item in listed] == ["Acme DE", "Acme UK", "Acme US", "Old ledger"]
    for item in listed:
        assert client.get(f"/api/v1/connections/{item['id']}", headers=workspace.admin()).get_json() == item
    assert listed[1]["selected_entities"] == [{"id": listed[1]["selected_entities"][0]["id"], "name": "UK Ltd"}]
    assert listed[1]["last_run"]["progress"] == {"pages": 2, "rows_read": 40}
    assert listed[1]["next_run_at"] and listed[2]["next_run_at"] is None
