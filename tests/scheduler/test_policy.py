"""What a due schedule does (the play button's path, or a logged skip) and the failure policy."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from server.db.models import Connection, LogEvent, RefreshRun, utcnow
from server.scheduler.policy import count_outcomes, fire
from tests.support.refresh import ready, start_a_slow_refresh, wait_for_run
from tests.support.scheduling import scheduled_runs


def schedule_events(db, connection_id: int) -> list[LogEvent]:
    with db.sessions() as session:
        return list(session.scalars(select(LogEvent).where(LogEvent.connection_id == connection_id,
                                                           LogEvent.data_type == "schedule").order_by(LogEvent.id)))


def set_connection(db, connection_id: int, **fields) -> None:
    with db.sessions.begin() as session:
        for name, value in fields.items():
            setattr(session.get(Connection, connection_id), name, value)


def test_a_due_schedule_refreshes_through_the_play_buttons_path(journey, provider, runtime, db):
    connection_id = ready(journey, provider)
    said = fire(runtime, connection_id)
    [run] = scheduled_runs(db, connection_id)
    assert said == f"started run {run.id}"
    assert wait_for_run(journey, run.id)["status"] == "succeeded"
    assert journey.connection(connection_id)["last_run"]["trigger"] == "scheduled"


def test_one_planned_moment_fires_once(journey, provider, runtime, db):
    connection_id = ready(journey, provider)
    first = fire(runtime, connection_id)
    second = fire(runtime, connection_id)  # a second scheduler, or a retry, for the same moment
    [run] = scheduled_runs(db, connection_id)
    assert first == f"started run {run.id}" and second == f"already fired: run {run.id}"
    wait_for_run(journey, run.id)


def test_a_manual_refresh_under_way_is_joined_not_doubled(journey, provider, runtime, db):
    connection_id, _, manual_run = start_a_slow_refresh(journey, provider, delay=0.5, count=4)
    assert fire(runtime, connection_id) == f"joined run {manual_run}, already under way"
    assert scheduled_runs(db, connection_id) == []
    wait_for_run(journey, manual_run)


@pytest.mark.parametrize(("status", "event_status"), [("disconnected", "skipped"),
                                                       ("reauth_required", "needs_attention")])
def test_connections_that_cannot_refresh_are_skipped_with_a_log_event(journey, provider, runtime, db, status,
                                                                      event_status):
    connection_id = ready(journey, provider)
    set_connection(db, connection_id, status=status)
    said = fire(runtime, connection_id)
    assert scheduled_runs(db, connection_id) == []
    [event] = schedule_events(db, connection_id)
    assert (event.status, event.detail) == (event_status, said)
    assert "skipped" in said


def test_a_paused_schedule_does_not_fire(journey, provider, runtime, db):
    connection_id = ready(journey, provider)
    set_connection(db, connection_id, schedule_paused=True, schedule_paused_reason="Paused by an admin.")
    assert fire(runtime, connection_id) == "not scheduled"
    assert scheduled_runs(db, connection_id) == [] and schedule_events(db, connection_id) == []


# --- the failure policy, counted from run rows as the pipeline leaves them

def end_scheduled_run(db, connection_id: int, status: str, error: str = "") -> None:
    with db.sessions.begin() as session:
        connection = session.get(Connection, connection_id)
        session.add(RefreshRun(workspace_id=connection.workspace_id, connection_id=connection_id, trigger="scheduled",
                               status=status, error=error, queued_at=utcnow() - timedelta(minutes=5),
                               finished_at=utcnow()))


def connection_row(db, connection_id: int) -> Connection:
    with db.sessions() as session:
        return session.get(Connection, connection_id)


@pytest.fixture
def connection_id(journey, provider):
    connection_id = journey.connect()
    journey.select(connection_id, 1)
    return connection_id


def test_a_warning_one_failure_before_the_schedule_pauses_itself(db, connection_id):
    end_scheduled_run(db, connection_id, "failed", "The provider did not answer.")
    assert count_outcomes(db.sessions, failures_to_pause=3) == 1
    assert connection_row(db, connection_id).schedule_failures == 1 and schedule_events(db, connection_id) == []
    end_scheduled_run(db, connection_id, "failed", "The provider did not answer.")
    count_outcomes(db.sessions, failures_to_pause=3)
    [warning] = schedule_events(db, connection_id)
    assert warning.status == "needs_attention" and "after one more the schedule pauses itself" in warning.detail
    assert not connection_row(db, connection_id).schedule_paused
    end_scheduled_run(db, connection_id, "failed", "The provider said 503.")
    count_outcomes(db.sessions, failures_to_pause=3)
    connection = connection_row(db, connection_id)
    assert connection.schedule_paused and connection.schedule_failures == 3
    assert "3 scheduled refreshes in a row failed" in connection.schedule_paused_reason
    assert "The provider said 503." in connection.schedule_paused_reason
    assert schedule_events(db, connection_id)[-1].detail == connection.schedule_paused_reason
    assert count_outcomes(db.sessions, failures_to_pause=3) == 0  # each run is counted once


def test_a_success_or_partial_success_ends_a_run_of_failures_and_cancelled_runs_do_not_count(db, connection_id):
    for status in ("failed", "failed", "succeeded", "failed", "cancelled", "partly_succeeded", "failed"):
        end_scheduled_run(db, connection_id, status)
    count_outcomes(db.sessions, failures_to_pause=3)
    connection = connection_row(db, connection_id)
    assert (connection.schedule_failures, connection.schedule_paused) == (1, False)


def test_manual_runs_do_not_count(db, connection_id):
    with db.sessions.begin() as session:
        connection = session.get(Connection, connection_id)
        for _ in range(3):
            session.add(RefreshRun(workspace_id=connection.workspace_id, connection_id=connection_id,
                                   trigger="manual", status="failed", finished_at=utcnow()))
    assert count_outcomes(db.sessions, failures_to_pause=3) == 0
    assert connection_row(db, connection_id).schedule_failures == 0


def test_resuming_is_one_action(client, workspace, db, connection_id):
    for _ in range(3):
        end_scheduled_run(db, connection_id, "failed", "The provider did not answer.")
    count_outcomes(db.sessions, failures_to_pause=3)
    shown = client.get(f"/api/v1/connections/{connection_id}/schedule", headers=workspace.member()).get_json()
    assert shown["paused"] and shown["paused_reason"].startswith("Paused after 3 scheduled refreshes")
    resumed = client.post(f"/api/v1/connections/{connection_id}/schedule/resume", headers=workspace.admin())
    assert resumed.status_code == 200
    connection = connection_row(db, connection_id)
    assert (connection.schedule_paused, connection.schedule_failures) == (False, 0)
