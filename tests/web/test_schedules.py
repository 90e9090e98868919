"""A connection's schedule over the API: admins set it, members read it, the list shows the next run."""
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from server.db.models import Connection, Entity


def add_connection(db, workspace, status="live", selected=True, **fields) -> int:
    with db.sessions.begin() as session:
        connection = Connection(workspace_id=workspace.id, provider="xero-sandbox", name="Acme Xero", status=status,
                                **fields)
        session.add(connection)
        session.flush()
        session.add(Entity(workspace_id=workspace.id, connection_id=connection.id, provider_entity_id="t1",
                           name="Acme UK", selected=selected))
        return connection.id


def schedule_of(client, connection_id, headers):
    return client.get(f"/api/v1/connections/{connection_id}/schedule", headers=headers)


def test_a_new_connection_refreshes_daily_at_two_local_time(client, db, workspace):
    connection_id = add_connection(db, workspace)
    response = schedule_of(client, connection_id, workspace.member())
    assert response.status_code == 200
    body = response.get_json()
    assert (body["kind"], body["time"], body["timezone"], body["paused"]) == ("daily", "02:00", "Europe/London", False)
    assert 0 <= body["offset_seconds"] < 30 * 60
    next_run = datetime.fromisoformat(body["next_run_at"]).astimezone(ZoneInfo("Europe/London"))
    assert next_run - timedelta(seconds=body["offset_seconds"]) == next_run.replace(hour=2, minute=0, second=0,
                                                                                    microsecond=0)


def test_an_admin_sets_weekdays_at_six_and_the_list_shows_it(client, db, workspace):
    connection_id = add_connection(db, workspace, schedule_offset_seconds=0)
    response = client.put(f"/api/v1/connections/{connection_id}/schedule", json={"kind": "weekdays", "time": "06:30"},
                          headers=workspace.admin())
    assert response.status_code == 200, response.get_json()
    next_run = datetime.fromisoformat(response.get_json()["next_run_at"]).astimezone(ZoneInfo("Europe/London"))
    assert (next_run.hour, next_run.minute, next_run.weekday() < 5) == (6, 30, True)
    listed = client.get("/api/v1/connections", headers=workspace.member()).get_json()["items"][0]
    assert listed["schedule"]["kind"] == "weekdays" and listed["schedule"]["time"] == "06:30"
    assert listed["next_run_at"] == response.get_json()["next_run_at"]


def test_every_n_hours_needs_its_hours(client, db, workspace):
    connection_id = add_connection(db, workspace)
    url = f"/api/v1/connections/{connection_id}/schedule"
    missing = client.put(url, json={"kind": "every_n_hours", "time": "00:00"}, headers=workspace.admin())
    assert missing.status_code == 422 and missing.get_json()["error"]["field"] == "every_hours"
    odd = client.put(url, json={"kind": "every_n_hours", "time": "00:00", "every_hours": 5}, headers=workspace.admin())
    assert odd.status_code == 422 and odd.get_json()["error"]["field"] == "every_hours"
    stray = client.put(url, json={"kind": "daily", "every_hours": 6}, headers=workspace.admin())
    assert stray.status_code == 422 and stray.get_json()["error"]["code"] == "not_applicable"
    fine = client.put(url, json={"kind": "every_n_hours", "time": "01:00", "every_hours": 6}, headers=workspace.admin())
    assert fine.status_code == 200 and fine.get_json()["every_hours"] == 6


@pytest.mark.parametrize("body", [{"kind": "daily", "time": "24:00"}, {"kind": "daily", "time": "2:00"},
                                  {"kind": "hourly"}, {"kind": "daily", "cron": "0 2 * * *"}, {"time": "02:00"}])
def test_bad_schedules_are_refused_with_the_field(client, db, workspace, body):
    connection_id = add_connection(db, workspace)
    response = client.put(f"/api/v1/connections/{connection_id}/schedule", json=body, headers=workspace.admin())
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"]["field"]


def test_members_may_read_but_not_change_a_schedule(client, db, workspace):
    connection_id = add_connection(db, workspace)
    url = f"/api/v1/connections/{connection_id}/schedule"
    assert client.put(url, json={"kind": "daily"}, headers=workspace.member()).status_code == 403
    assert client.post(f"{url}/resume", headers=workspace.member()).status_code == 403


def test_another_workspaces_schedule_is_not_found(client, db, workspace, other_workspace):
    connection_id = add_connection(db, other_workspace)
    url = f"/api/v1/connections/{connection_id}/schedule"
    assert schedule_of(client, connection_id, workspace.admin()).status_code == 404
    assert client.put(url, json={"kind": "daily"}, headers=workspace.admin()).status_code == 404
    assert client.post(f"{url}/resume", headers=workspace.admin()).status_code == 404


def test_pausing_and_resuming(client, db, workspace):
    connection_id = add_connection(db, workspace, schedule_failures=2)
    url = f"/api/v1/connections/{connection_id}/schedule"
    paused = client.put(url, json={"kind": "daily", "paused": True}, headers=workspace.admin()).get_json()
    assert paused["paused"] and "controller@acme.test" in paused["paused_reason"]
    assert paused["next_run_at"] is None and paused["note"]
    resumed = client.post(f"{url}/resume", headers=workspace.admin()).get_json()
    assert (resumed["paused"], resumed["paused_reason"], resumed["consecutive_failures"]) == (False, "", 0)
    assert resumed["next_run_at"] is not None


@pytest.mark.parametrize(("status", "selected"), [("disconnected", True), ("reauth_required", True),
                                                  ("setup", True), ("live", False)])
def test_a_connection_that_cannot_refresh_shows_no_next_run_and_why(client, db, workspace, status, selected):
    connection_id = add_connection(db, workspace, status=status, selected=selected)
    body = schedule_of(client, connection_id, workspace.admin()).get_json()
    assert body["next_run_at"] is None and body["note"]
