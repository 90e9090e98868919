"""What the Connections page needs of the API: reconnect for admins only, search by company and catalog
name, sort by what the list shows, the newest run on each connection, and a connection's recent runs."""
from datetime import UTC, datetime

import pytest

from server.db.models import Connection, Entity, RefreshRun


@pytest.fixture
def books(db, workspace):
    """Two authenticated connections, one with two companies (one selected) and a finished run."""
    with db.sessions.begin() as session:
        uk = Connection(workspace_id=workspace.id, name="Acme UK", provider="xero", status="authenticated")
        us = Connection(workspace_id=workspace.id, name="Acme US", provider="xero", status="setup")
        session.add_all([uk, us])
        session.flush()
        session.add_all([
            Entity(workspace_id=workspace.id, connection_id=uk.id, provider_entity_id="t1", name="Zebra Ltd",
                   selected=True),
            Entity(workspace_id=workspace.id, connection_id=uk.id, provider_entity_id="t2", name="Acme Pty"),
            RefreshRun(workspace_id=workspace.id, connection_id=uk.id, trigger="initial", status="succeeded",
                       queued_at=datetime(2026, 3, 1, tzinfo=UTC), finished_at=datetime(2026, 3, 1, 0, 5, tzinfo=UTC),
                       progress={"pages": 3, "rows_read": 120, "rows_written": 120}),
        ])
        return {"uk": uk.id, "us": us.id}


def listed(client, headers, query=""):
    response = client.get(f"/api/v1/connections{query}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return {item["name"]: item for item in response.get_json()["items"]}


def test_a_member_may_not_reconnect_an_established_connection(client, workspace, books):
    response = client.post(f"/api/v1/connections/{books['uk']}/reconnect", headers=workspace.member())
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "admin_only"
    assert "reconnect" not in listed(client, workspace.member())["Acme UK"]["actions"]


def test_an_admin_may_reconnect(client, workspace, books):
    response = client.post(f"/api/v1/connections/{books['uk']}/reconnect", headers=workspace.admin())
    assert response.status_code == 200
    assert response.get_json()["authorize_url"].startswith(f"/oauth/start/{books['uk']}?handoff=")
    assert "reconnect" in listed(client, workspace.admin())["Acme UK"]["actions"]


def test_a_member_may_finish_a_consent_that_never_completed(client, workspace, books):
    response = client.post(f"/api/v1/connections/{books['us']}/reconnect", headers=workspace.member())
    assert response.status_code == 200
    assert "reconnect" in listed(client, workspace.member())["Acme US"]["actions"]


def test_search_finds_a_connection_by_a_company_name(client, workspace, books):
    assert list(listed(client, workspace.member(), "?q=zebra")) == ["Acme UK"]
    assert list(listed(client, workspace.member(), "?q=acme%20pty")) == ["Acme UK"]


def test_search_treats_wildcards_as_plain_text(client, workspace, books):
    assert listed(client, workspace.member(), "?q=%25") == {}
    assert listed(client, workspace.member(), "?q=_") == {}


def test_sort_by_companies_and_by_last_run(client, workspace, books):
    assert list(listed(client, workspace.member(), "?sort=entities")) == ["Acme UK", "Acme US"]
    assert list(listed(client, workspace.member(), "?sort=last_run_at&order=desc")) == ["Acme UK", "Acme US"]
    assert list(listed(client, workspace.member(), "?sort=accounts")) == ["Acme UK", "Acme US"]
    assert list(listed(client, workspace.member(), "?sort=credential_status&order=desc")) == ["Acme UK", "Acme US"]


def test_last_run_sorts_by_the_run_the_list_shows(client, db, workspace, books):
    # The newest run (the one shown) is found by one step down an index; a max over every run's time cost
    # 845 ms a page on PostgreSQL for 1,000 connections with a year of nightly runs.
    with db.sessions.begin() as session:
        session.add_all([
            RefreshRun(workspace_id=workspace.id, connection_id=books["us"], trigger="scheduled", status="failed",
                       queued_at=datetime(2026, 3, 9, tzinfo=UTC)),
            RefreshRun(workspace_id=workspace.id, connection_id=books["us"], trigger="manual", status="succeeded",
                       queued_at=datetime(2026, 2, 1, tzinfo=UTC)),  # newer, though its clock said earlier
        ])
    items = listed(client, workspace.member(), "?sort=last_run_at&order=desc")
    assert list(items) == ["Acme UK", "Acme US"]
    assert items["Acme US"]["last_run"]["queued_at"].startswith("2026-02-01")


def test_an_unknown_sort_is_a_json_error(client, workspace, books):
    response = client.get("/api/v1/connections?sort=status", headers=workspace.member())
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "sort"


def test_each_connection_carries_its_newest_run(client, workspace, books):
    connections = listed(client, workspace.member())
    run = connections["Acme UK"]["last_run"]
    assert (run["status"], run["trigger"], run["progress"]["rows_written"]) == ("succeeded", "initial", 120)
    assert connections["Acme US"]["last_run"] is None


def test_a_connections_recent_runs(client, workspace, books):
    response = client.get(f"/api/v1/runs?connection_id={books['uk']}", headers=workspace.member())
    assert response.status_code == 200
    body = response.get_json()
    assert (body["total"], [run["status"] for run in body["items"]]) == (1, ["succeeded"])


def test_another_workspaces_runs_are_not_found(client, workspace, other_workspace, books):
    response = client.get(f"/api/v1/runs?connection_id={books['uk']}", headers=other_workspace.member())
    assert response.status_code == 404


def test_the_catalog_marks_the_demo_company(client, workspace):
    response = client.get("/api/v1/providers", headers=workspace.member())
    assert response.status_code == 200
    assert all(item["is_demo"] is False for item in response.get_json()["items"])  # no sandbox in this app
