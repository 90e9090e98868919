"""Adding a data source end to end, over real HTTP against the sandbox provider: catalog, consent,
callback, companies, selection; and every way the handoff must refuse."""
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from server.db.models import Connection, OAuthHandoff, utcnow
from tests.support.journey import CALLBACK


def test_catalog_offers_the_demo_company(client, workspace):
    items = client.get("/api/v1/providers", headers=workspace.member()).get_json()["items"]
    assert [(p["key"], p["name"]) for p in items] == [("xero-sandbox", "Demo company (Xero sandbox)"),
                                                      ("quickbooks-sandbox", "Demo company (QuickBooks sandbox)")]
    demo = items[0]
    assert demo["auth_kind"] == "oauth2" and demo["setup_fields"] == []
    assert set(demo["data_types"]) == {"accounts", "dimensions", "journals", "trial_balance", "currencies"}
    assert demo["dimension_kinds"] == ["tracking categories"]


def test_the_whole_journey(journey, client, workspace, provider):
    connection_id, authorize_url = journey.add("Demo books")
    assert authorize_url.startswith(f"/oauth/start/{connection_id}?handoff=")
    assert journey.connection(connection_id)["status"] == "setup"

    provider_url = journey.open_dialog(authorize_url)
    assert provider_url.startswith(provider.url + "/xero/identity/connect/authorize?")
    assert "code_challenge_method=S256" in provider_url and "state=" in provider_url
    page = journey.come_back(journey.consent(provider_url))
    assert page.status_code == 200 and b"Demo books is connected" in page.data
    assert b"We found 3 companies" in page.data

    entities = journey.entities(connection_id)
    assert sorted(e["name"] for e in entities) == sorted(t["name"] for t in provider.tenants())
    assert not any(e["selected"] for e in entities)
    chosen = journey.select(connection_id, 2)
    listed = client.get("/api/v1/connections", headers=workspace.member()).get_json()["items"]
    assert len(listed) == 1
    item = listed[0]
    assert (item["status"], item["credential_status"]["state"]) == ("authenticated", "active")
    assert [e["id"] for e in item["selected_entities"]] == chosen
    assert item["business_account"], "the login that granted access is shown"
    assert item["account_status"] == {"state": "none", "accounts": 0, "label": "No accounts"}
    assert "refresh" in item["actions"] and "delete" not in item["actions"]  # a member's view
    # Selections come back pre-selected next time the user opens the list.
    assert [e["id"] for e in journey.entities(connection_id) if e["selected"]] == chosen


def test_the_callback_page_tells_the_task_pane_and_carries_no_token(journey, db):
    connection_id, authorize_url = journey.add()
    page = journey.come_back(journey.consent(journey.open_dialog(authorize_url)))
    html = page.get_data(as_text=True)
    assert "messageParent" in html and 'postMessage(payload, origin)' in html
    assert '"http://ledgerpane.test"' in html  # the exact origin, never "*"
    with db.sessions() as session:
        token = journey.client.application.extensions["ledgerpane"].vault.credential(
            session.get(Connection, connection_id))
    assert token["access_token"] not in html and token["refresh_token"] not in html
    assert page.headers["Cache-Control"] == "no-store"


def test_only_chosen_organisations_are_listed(journey, provider):
    first = provider.tenants()[0]
    connection_id = journey.connect(tenants=[first["tenantId"]])
    assert [e["provider_entity_id"] for e in journey.entities(connection_id)] == [first["tenantId"]]


def test_consent_denied_leaves_the_connection_in_setup(journey):
    connection_id, authorize_url = journey.add()
    back = journey.consent(journey.open_dialog(authorize_url), decision="deny")
    assert "error=access_denied" in back
    page = journey.come_back(back)
    assert b"You declined access" in page.data and b'"outcome":"refused"' in page.data.replace(b" ", b"")
    connection = journey.connection(connection_id)
    assert connection["status"] == "setup" and connection["credential_status"]["state"] == "none"


def _callback_with(url: str, **changes: str) -> str:
    from urllib.parse import parse_qsl, urlencode, urlsplit

    query = dict(parse_qsl(urlsplit(url).query))
    query.update(changes)
    return f"{CALLBACK}?{urlencode(query)}"


def test_tampered_state_is_refused(journey):
    connection_id, authorize_url = journey.add()
    back = journey.consent(journey.open_dialog(authorize_url))
    page = journey.come_back(_callback_with(back, state="forged-state"))
    assert page.status_code == 400 and b"We did not start this sign-in" in page.data
    assert journey.connection(connection_id)["status"] == "setup"
    # The genuine answer still works afterwards: the forgery spent nothing.
    assert journey.come_back(back).status_code == 200


def test_a_replayed_callback_is_refused(journey):
    connection_id, authorize_url = journey.add()
    back = journey.consent(journey.open_dialog(authorize_url))
    assert journey.come_back(back).status_code == 200
    again = journey.come_back(back)
    assert again.status_code == 400 and b"cannot be used twice" in again.data


def test_a_start_link_works_once(journey):
    _, authorize_url = journey.add()
    journey.open_dialog(authorize_url)
    again = journey.client.get(authorize_url)
    assert again.status_code == 400 and b"already been used" in again.data


def test_an_expired_handoff_is_refused(journey, db):
    _, authorize_url = journey.add()
    back = journey.consent(journey.open_dialog(authorize_url))
    with db.sessions.begin() as session:
        session.execute(update(OAuthHandoff).values(expires_at=utcnow() - timedelta(seconds=1)))
    page = journey.come_back(back)
    assert page.status_code == 400 and b"expired" in page.data


def test_state_of_another_provider_is_refused(journey):
    _, authorize_url = journey.add()
    back = journey.consent(journey.open_dialog(authorize_url))
    query = back.split("?", 1)[1]
    page = journey.client.get(f"/oauth/callback/xero?{query}")
    assert page.status_code == 400 and b"We did not start this sign-in" in page.data


def test_a_callback_in_another_browser_is_refused(journey, app):
    _, authorize_url = journey.add()
    back = journey.consent(journey.open_dialog(authorize_url))
    stranger = app.test_client()  # no cookie from the dialog that started it
    query = back.split("?", 1)[1]
    page = stranger.get(f"/oauth/callback/xero-sandbox?{query}")
    assert page.status_code == 400 and b"another window or browser" in page.data


def test_a_new_start_link_retires_the_old_one(journey, client, workspace):
    connection_id, first = journey.add()
    again = client.post(f"/api/v1/connections/{connection_id}/reconnect", headers=workspace.admin())
    assert again.status_code == 200
    assert journey.client.get(first).status_code == 400
    assert journey.client.get(again.get_json()["authorize_url"]).status_code == 302


@pytest.mark.parametrize("body, field, code", [
    ({"provider": "sage-one"}, "provider", "unknown_provider"),
    ({"provider": "xero-sandbox", "setup": {"environment": "prod"}}, "setup.environment", "unknown_field"),
    ({"provider": "xero-sandbox", "setup": {"a\x00": "b"}}, "setup", "unknown_field"),  # not echoed raw as a field
    ({"provider": "xero-sandbox", "colour": "red"}, "colour", "unknown_field"),
    ({}, "provider", "missing_field"),
])
def test_adding_refuses_bad_input(client, workspace, body, field, code):
    response = client.post("/api/v1/connections", json=body, headers=workspace.member())
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert (error["field"], error["code"]) == (field, code)


def test_selection_is_checked_against_what_the_provider_listed(journey, client, workspace, other_workspace):
    connection_id = journey.connect()
    other = journey.connect()
    foreign = journey.entities(other)[0]["id"]
    response = client.put(f"/api/v1/connections/{connection_id}/entities", json={"selected_ids": [foreign]},
                          headers=workspace.admin())
    assert response.status_code == 422 and response.get_json()["error"]["field"] == "selected_ids.0"


def test_sync_relists_companies_and_keeps_selections(journey, client, workspace, provider):
    connection_id = journey.connect()
    chosen = journey.select(connection_id, 1)
    response = client.post(f"/api/v1/connections/{connection_id}/entities/sync", headers=workspace.member())
    assert response.status_code == 200
    assert [e["id"] for e in response.get_json()["items"] if e["selected"]] == chosen
    assert all(e["available"] for e in response.get_json()["items"])


def test_entities_cannot_be_chosen_before_consent(journey, client, workspace):
    connection_id, _ = journey.add()
    response = client.put(f"/api/v1/connections/{connection_id}/entities", json={"selected_ids": []},
                          headers=workspace.admin())
    assert response.status_code == 409 and "finish the consent" in response.get_json()["error"]["message"]


def test_data_types_default_to_all_and_can_be_narrowed(journey, client, workspace):
    connection_id, _ = journey.add()
    url = f"/api/v1/connections/{connection_id}/data-types"
    items = client.get(url, headers=workspace.member()).get_json()["items"]
    assert all(item["enabled"] for item in items) and len(items) == 5
    response = client.put(url, json={"enabled": ["journals", "accounts"]}, headers=workspace.member())
    assert {i["key"] for i in response.get_json()["items"] if i["enabled"]} == {"accounts", "journals"}
    assert journey.connection(connection_id)["data_types"] == ["accounts", "journals"]
    assert client.put(url, json={"enabled": []}, headers=workspace.member()).status_code == 422
    bad = client.put(url, json={"enabled": ["budgets"]}, headers=workspace.member())
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "enabled.0"


def test_the_database_holds_no_token_in_plain_text(journey, db):
    connection_id = journey.connect()
    vault = journey.client.application.extensions["ledgerpane"].vault
    with db.sessions() as session:
        token = vault.credential(session.get(Connection, connection_id))
    secrets = [token["access_token"], token["refresh_token"]]
    with db.engine.connect() as raw:
        for table in ("connection", "oauth_handoff", "entity", "log_event"):
            for row in raw.exec_driver_sql(f"SELECT * FROM {table}"):
                flat = " ".join(str(value) for value in row)
                assert not any(secret in flat for secret in secrets), f"a token in plain text in {table}"
    with db.sessions() as session:
        handoff = session.scalar(select(OAuthHandoff))
        assert handoff.state_hash and len(handoff.state_hash) == 64  # only a hash of the state is kept


def test_no_token_reaches_the_log(journey, db, caplog):
    caplog.set_level("DEBUG")
    connection_id = journey.connect()
    vault = journey.client.application.extensions["ledgerpane"].vault
    with db.sessions() as session:
        token = vault.credential(session.get(Connection, connection_id))
    assert token["access_token"] not in caplog.text and token["refresh_token"] not in caplog.text


def test_no_api_response_carries_a_token(journey, db, client, workspace):
    connection_id = journey.connect()
    journey.select(connection_id)
    vault = journey.client.application.extensions["ledgerpane"].vault
    with db.sessions() as session:
        token = vault.credential(session.get(Connection, connection_id))
    for path in ("/api/v1/connections", f"/api/v1/connections/{connection_id}",
                 f"/api/v1/connections/{connection_id}/entities", f"/api/v1/connections/{connection_id}/data-types",
                 "/api/v1/log"):
        body = client.get(path, headers=workspace.admin()).get_data(as_text=True)
        assert token["access_token"] not in body and token["refresh_token"] not in body, path
