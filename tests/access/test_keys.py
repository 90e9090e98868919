"""Every /api/ call needs a workspace key; roles gate admin actions; workspaces never see each other."""
from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from server.db.models import Connection, WorkspaceKey


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "lp_abc"}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer "},
])
def test_missing_key_is_401(client, workspace, headers):
    response = client.get("/api/v1/workspace", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize("key", ["lp_not-a-real-key", "something-else", "lp_" + "a" * 43])
def test_unknown_key_is_401(client, workspace, key):
    response = client.get("/api/v1/workspace", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_key"


def test_revoked_key_is_401(client, workspace, db):
    with db.sessions.begin() as session:
        session.execute(update(WorkspaceKey).values(revoked_at=datetime.now(UTC)))
    assert client.get("/api/v1/workspace", headers=workspace.admin()).status_code == 401


def test_admin_and_member_see_their_role(client, workspace):
    assert client.get("/api/v1/workspace", headers=workspace.admin()).get_json() == {
        "name": "Acme Holdings", "timezone": "Europe/London", "base_currency": "GBP", "role": "admin"}
    assert client.get("/api/v1/workspace", headers=workspace.member()).get_json()["role"] == "member"


def test_member_may_not_take_admin_actions(client, workspace):
    response = client.patch("/api/v1/workspace", json={"name": "Renamed"}, headers=workspace.member())
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "admin_only"
    assert client.get("/api/v1/workspace", headers=workspace.member()).get_json()["name"] == "Acme Holdings"


def test_admin_may_change_the_workspace(client, workspace):
    response = client.patch("/api/v1/workspace", json={"name": "Acme Group", "timezone": "America/New_York",
                                                       "base_currency": "usd"}, headers=workspace.admin())
    assert response.status_code == 200
    assert response.get_json() == {"name": "Acme Group", "timezone": "America/New_York",
                                   "base_currency": "USD", "role": "admin"}


def test_openapi_document_needs_no_key(client):
    assert client.get("/api/openapi.json").status_code == 200


def test_a_key_reads_only_its_own_workspace(client, workspace, other_workspace, db):
    with db.sessions.begin() as session:
        session.add_all([
            Connection(workspace_id=workspace.id, provider="xero", name="Acme UK"),
            Connection(workspace_id=other_workspace.id, provider="xero", name="Globex AU"),
        ])
    assert client.get("/api/v1/workspace", headers=other_workspace.admin()).get_json()["name"] == "Globex Group"
    names = [c["name"] for c in client.get("/api/v1/connections", headers=workspace.member()).get_json()["items"]]
    assert names == ["Acme UK"]
    names = [c["name"] for c in client.get("/api/v1/connections", headers=other_workspace.admin()).get_json()["items"]]
    assert names == ["Globex AU"]


def test_workspace_keys_are_stored_only_as_hashes(db, workspace):
    with db.engine.connect() as raw:
        stored = " ".join(str(value) for row in raw.exec_driver_sql("SELECT * FROM workspace_key") for value in row)
    assert workspace.admin_key not in stored and workspace.member_key not in stored
    assert workspace.admin_key[3:20] not in stored
