"""The embedded thread pool: a run left queued by a process that stopped is carried out when the next one starts,
instead of blocking its connection until it is presumed dead; a run handed to two processes is claimed once."""
import threading

import pytest
from sqlalchemy import text, update

from server.db.models import RefreshRun
from server.refresh.pipeline import execute
from server.refresh.runs import request_refresh
from tests.support.journey import provider_app
from tests.support.refresh import wait_for_run
from tests.support.waiting import wait_until


@pytest.fixture
def app(db, tmp_path, provider):
    with provider_app(db, tmp_path, provider) as app:
        yield app


def test_a_run_left_queued_is_carried_out_when_the_service_starts_again(journey, provider, db, tmp_path):
    connection_id = journey.connect()
    journey.select(connection_id)
    # As if the process that asked for it stopped before its thread pool took it; the next one starts (same var/).
    run_id, _ = request_refresh(db.sessions, connection_id, trigger="manual", member_id=None)
    with db.sessions() as session:
        assert session.get(RefreshRun, run_id).status == "queued"
    with provider_app(db, tmp_path, provider):
        run = wait_for_run(journey, run_id, 120)
    assert run["status"] == "succeeded", run
    assert journey.client.post(f"/api/v1/connections/{connection_id}/refresh", json={},
                               headers=journey.headers).get_json()["run_id"] != run_id, "the connection is free"


def test_a_run_claimed_meanwhile_is_not_carried_out_twice(journey, provider, db, runtime):
    if db.backend != "postgresql":
        pytest.skip("SQLite lets one process write at a time; the row lock that decides here is PostgreSQL's")
    connection_id = journey.connect()
    journey.select(connection_id)
    run_id, _ = request_refresh(db.sessions, connection_id, trigger="manual", member_id=None)
    outcome: list[str] = []
    with db.engine.connect() as other:  # another process claiming the same run, not yet committed
        other.execute(update(RefreshRun).where(RefreshRun.id == run_id).values(status="running", worker="elsewhere:1"))
        second = threading.Thread(target=lambda: outcome.append(execute(runtime, run_id)))
        second.start()
        wait_until(lambda: waiting_for_a_lock(db), 30, "the second claim never waited for the first")
        other.commit()
    second.join(timeout=60)
    assert outcome == ["running"], "the second process saw the claim and left the run alone"


def waiting_for_a_lock(db) -> bool:
    with db.engine.connect() as connection:
        return bool(connection.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                           "AND datname = current_database()")))
