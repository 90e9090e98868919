"""A connection's life after consent: tokens refreshed and rotated by the vault, a revoked grant, reconnecting,
disconnecting and deleting (data stays), and who may do what, in which workspace."""
import threading
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from server.connectors import AuthRevoked
from server.db.models import Connection, LedgerLine
from tests.support.tokens import expire_access_token, stored_token, vault_of


def add_ledger_line(db, connection_id: int) -> None:
    with db.sessions.begin() as session:
        connection = session.get(Connection, connection_id)
        entity = connection.entities[0]
        session.add(LedgerLine(workspace_id=connection.workspace_id, connection_id=connection.id, entity_id=entity.id,
                               source_line_id="JL-1", date=date(2026, 10, 31), period=date(2026, 10, 1),
                               amount=Decimal("125.50"), currency="GBP"))


def line_count(db, connection_id: int) -> int:
    with db.sessions() as session:
        return session.scalar(select(func.count()).select_from(LedgerLine)
                              .where(LedgerLine.connection_id == connection_id))


def test_a_fresh_token_is_used_as_is(journey, app, db):
    connection_id = journey.connect()
    token, version = stored_token(app, db, connection_id)
    assert vault_of(app).get_access_token(connection_id) == token["access_token"]
    assert stored_token(app, db, connection_id)[1] == version


def test_an_expiring_token_is_refreshed_and_the_rotated_one_kept_first(journey, app, db, provider):
    connection_id = journey.connect()
    old = expire_access_token(app, db, connection_id)
    _, version = stored_token(app, db, connection_id)
    access = vault_of(app).get_access_token(connection_id)
    new, new_version = stored_token(app, db, connection_id)
    assert access == new["access_token"] != old["access_token"]
    assert new["refresh_token"] != old["refresh_token"], "the sandbox rotates refresh tokens, as Xero does"
    assert new_version == version + 1
    # The new access token works at the provider.
    tenant = journey.entities(connection_id)[0]["provider_entity_id"]
    assert provider.api("Organisation", {"access_token": access}, tenant).status_code == 200


def test_a_refused_access_token_is_replaced(journey, app, db):
    connection_id = journey.connect()
    token, _ = stored_token(app, db, connection_id)
    fresh = vault_of(app).get_access_token(connection_id, rejected=token["access_token"])
    assert fresh != token["access_token"]


def test_two_workers_never_spend_the_same_refresh_token(journey, app, db):
    connection_id = journey.connect()
    expire_access_token(app, db, connection_id)
    _, version = stored_token(app, db, connection_id)
    results, errors = [], []

    def worker():
        try:
            results.append(vault_of(app).get_access_token(connection_id))
        except Exception as error:  # noqa: BLE001 - any failure is the finding
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors and len(set(results)) == 1, (errors, results)
    assert stored_token(app, db, connection_id)[1] == version + 1, "exactly one refresh happened"


def test_a_revoked_grant_needs_reconnecting_and_reconnect_keeps_selections(journey, app, db, provider, client,
                                                                           workspace):
    connection_id = journey.connect()
    chosen = journey.select(connection_id, 2)
    provider.admin("POST", "/admin/grants/revoke", {}, expect=200)
    expire_access_token(app, db, connection_id)
    with pytest.raises(AuthRevoked):
        vault_of(app).get_access_token(connection_id)
    item = journey.connection(connection_id)
    assert item["status"] == "reauth_required"
    assert item["credential_status"]["state"] == "error" and "invalid_grant" in item["credential_status"]["detail"]
    assert "refresh" not in item["actions"]
    refused = client.post(f"/api/v1/connections/{connection_id}/refresh", headers=workspace.member())
    assert refused.status_code == 409 and "reconnect" in refused.get_json()["error"]["message"]

    again = client.post(f"/api/v1/connections/{connection_id}/reconnect", headers=workspace.admin())  # admins only
    assert again.status_code == 200
    page = journey.come_back(journey.consent(journey.open_dialog(again.get_json()["authorize_url"])))
    assert page.status_code == 200
    item = journey.connection(connection_id)
    assert item["status"] == "authenticated" and item["credential_status"]["state"] == "active"
    assert [e["id"] for e in item["selected_entities"]] == chosen
    assert vault_of(app).get_access_token(connection_id)


def test_disconnect_stops_refreshes_and_keeps_data(journey, db, client, workspace):
    connection_id = journey.connect()
    journey.select(connection_id)
    add_ledger_line(db, connection_id)
    response = client.post(f"/api/v1/connections/{connection_id}/disconnect", headers=workspace.admin())
    assert response.status_code == 200 and response.get_json()["status"] == "disconnected"
    assert line_count(db, connection_id) == 1
    refused = client.post(f"/api/v1/connections/{connection_id}/refresh", headers=workspace.admin())
    assert refused.status_code == 409
    twice = client.post(f"/api/v1/connections/{connection_id}/disconnect", headers=workspace.admin())
    assert twice.status_code == 409 and "already disconnected" in twice.get_json()["error"]["message"]
    assert "reconnect" in response.get_json()["actions"]


def test_disconnect_revokes_the_grant_and_erases_the_tokens(journey, app, db, client, workspace, provider):
    """A disconnected source comes back through a new consent, so nothing is kept that could still sign in."""
    connection_id = journey.connect()
    token, _ = stored_token(app, db, connection_id)
    response = client.post(f"/api/v1/connections/{connection_id}/disconnect", headers=workspace.admin())
    assert response.status_code == 200
    assert response.get_json()["status_detail"].endswith("The provider revoked our access.")
    assert response.get_json()["credential_status"] == {"state": "none", "detail": ""}, "the pane: Not signed in"
    with db.sessions() as session:
        assert session.get(Connection, connection_id).token_ciphertext is None
    import requests

    answer = requests.post(f"{provider.url}/xero/identity/connect/token", timeout=10,
                           data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
                           auth=("ledgerpane-demo", "ledgerpane-demo-secret"))
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    again = client.post(f"/api/v1/connections/{connection_id}/reconnect", headers=workspace.admin())
    assert again.status_code == 200, "a new consent brings it back"


def test_delete_revokes_the_grant_erases_tokens_and_keeps_data(journey, app, db, client, workspace, provider):
    connection_id = journey.connect()
    add_ledger_line(db, connection_id)
    token, _ = stored_token(app, db, connection_id)
    response = client.delete(f"/api/v1/connections/{connection_id}", headers=workspace.admin())
    assert response.status_code == 200
    assert response.get_json() == {"id": connection_id, "deleted": True, "revoked_at_provider": True,
                                   "detail": "The provider revoked our access."}
    assert line_count(db, connection_id) == 1, "loaded data stays, attributed to the deleted source"
    with db.sessions() as session:
        assert session.get(Connection, connection_id).token_ciphertext is None
    assert client.get(f"/api/v1/connections/{connection_id}", headers=workspace.admin()).status_code == 404
    assert client.get("/api/v1/connections", headers=workspace.admin()).get_json()["total"] == 0
    # At the provider, the refresh token is dead.
    import requests

    answer = requests.post(f"{provider.url}/xero/identity/connect/token", timeout=10,
                           data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
                           auth=("ledgerpane-demo", "ledgerpane-demo-secret"))
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_delete_says_so_when_the_provider_cannot_revoke(journey, db, client, workspace, provider):
    connection_id = journey.connect()
    provider.admin("POST", "/admin/identity/faults", {"kind": "503", "count": 20}, expect=201)
    response = client.delete(f"/api/v1/connections/{connection_id}", headers=workspace.admin())
    body = response.get_json()
    assert response.status_code == 200 and body["deleted"] and not body["revoked_at_provider"]
    assert "did not confirm" in body["detail"]


@pytest.mark.parametrize("method, action", [("post", "disconnect"), ("delete", "")])
def test_members_may_not_disconnect_or_delete(journey, client, workspace, method, action):
    connection_id = journey.connect()
    url = f"/api/v1/connections/{connection_id}" + (f"/{action}" if action else "")
    response = getattr(client, method)(url, headers=workspace.member())
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "admin_only"
    assert journey.connection(connection_id)["status"] == "authenticated"


def test_admins_see_their_extra_actions(journey):
    connection_id = journey.connect()
    assert {"disconnect", "delete"} <= set(journey.connection(connection_id)["actions"])


@pytest.mark.parametrize("method, path", [
    ("get", ""), ("delete", ""), ("get", "/entities"), ("put", "/entities"), ("post", "/entities/sync"),
    ("get", "/data-types"), ("put", "/data-types"), ("post", "/refresh"), ("post", "/reconnect"),
    ("post", "/disconnect"),
])
def test_another_workspace_gets_404(journey, client, other_workspace, method, path):
    connection_id = journey.connect()
    bodies = {"/entities": {"selected_ids": []}, "/data-types": {"enabled": ["journals"]}}
    response = client.open(f"/api/v1/connections/{connection_id}{path}", method=method.upper(),
                           json=bodies.get(path) if method == "put" else None, headers=other_workspace.admin())
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    assert journey.connection(connection_id)["status"] == "authenticated"


def test_refresh_needs_a_selected_entity(journey, client, workspace):
    connection_id = journey.connect()
    response = client.post(f"/api/v1/connections/{connection_id}/refresh", headers=workspace.member())
    assert response.status_code == 409 and "choose at least one" in response.get_json()["error"]["message"]
