"""A disconnect or a delete while a refresh runs stops it at its next batch, in plain words, and frees the
connection; nothing stays "running" and no internal error is reported."""
from __future__ import annotations

import logging

from server.db.models import LedgerLine
from tests.support.refresh import line_total, start_a_slow_refresh, wait_for_run
from tests.support.waiting import wait_until


def test_a_disconnect_while_a_refresh_runs_stops_it_and_keeps_what_was_loaded(journey, db, provider, caplog):
    connection_id, _, run_id = start_a_slow_refresh(journey, provider, delay=0.1, count=200)
    wait_until(lambda: line_total(db) > 0, deadline=60, message="no batch was ever committed")
    answer = journey.client.post(f"/api/v1/connections/{connection_id}/disconnect", headers=journey.headers)
    assert answer.status_code == 200
    run = wait_for_run(journey, run_id)
    assert run["status"] == "cancelled" and run["finished_at"]
    assert run["error"].startswith("Stopped: the connection was disconnected.")
    assert line_total(db) > 0, "what was committed before the disconnect stays"
    assert journey.connection(connection_id)["status"] == "disconnected"
    refused = journey.client.post(f"/api/v1/connections/{connection_id}/refresh", json={}, headers=journey.headers)
    assert refused.status_code == 409 and "reconnect" in refused.get_json()["error"]["message"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("server.")]


def test_a_delete_while_a_refresh_runs_stops_it_without_an_internal_error(journey, db, provider, caplog):
    connection_id, _, run_id = start_a_slow_refresh(journey, provider, delay=0.1, count=200)
    wait_until(lambda: line_total(db) > 0, deadline=60, message="no batch was ever committed")
    assert journey.client.delete(f"/api/v1/connections/{connection_id}", headers=journey.headers).status_code == 200
    run = wait_for_run(journey, run_id)
    assert run["status"] == "cancelled" and run["finished_at"]
    assert run["error"] == "Stopped: the connection was deleted. The data loaded so far stays."
    with db.sessions() as session:
        assert session.query(LedgerLine).filter_by(connection_id=connection_id).count() > 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("server.")]
