"""The one active scheduler: jobs in the database, misfires within the grace window, one process at a time."""
import logging
import os
import signal
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from server.db.models import Connection, utcnow
from server.scheduler.service import LeaseRow, SchedulerService
from server.scheduler.timing import Schedule
from tests.support.refresh import ready, wait_for_run
from tests.support.scheduling import scheduled_runs, scheduler_processes, set_next_run, stored_next_run
from tests.support.waiting import wait_until


def active(service: SchedulerService, engine, connection_id: int) -> SchedulerService:
    wait_until(lambda: service.active, 20, "the scheduler never became active")
    wait_until(lambda: stored_next_run(engine, connection_id), 20, "no job was stored for the connection")
    return service


def test_jobs_persist_and_a_night_missed_within_the_grace_window_runs_once(journey, provider, runtime, db):
    connection_id = ready(journey, provider)
    first = active(SchedulerService(runtime).start(), db.engine, connection_id)
    planned = stored_next_run(db.engine, connection_id)
    first.stop()
    assert planned > utcnow() and stored_next_run(db.engine, connection_id) == planned  # kept across the stop
    # Down since 40 minutes ago, back within the 3-hour grace window: that night's refresh runs, once.
    set_next_run(db.engine, connection_id, utcnow() - timedelta(minutes=40))
    again = active(SchedulerService(runtime).start(), db.engine, connection_id)
    try:
        [run] = wait_until(lambda: scheduled_runs(db, connection_id), 20, "the missed night never ran")
        assert wait_for_run(journey, run.id)["status"] == "succeeded"
        wait_until(lambda: stored_next_run(db.engine, connection_id) > utcnow(), 20, "the job never moved on")
        assert len(scheduled_runs(db, connection_id)) == 1
    finally:
        again.stop()


def test_a_night_missed_beyond_the_grace_window_does_not_run(journey, provider, runtime, db, caplog):
    connection_id = ready(journey, provider)
    # Daily at a local time four hours ago (the grace window is three), so no planned moment since is due.
    four_hours_ago = (utcnow() - timedelta(hours=4)).astimezone(ZoneInfo("Europe/London"))
    journey.client.put(f"/api/v1/connections/{connection_id}/schedule",
                       json={"kind": "daily", "time": four_hours_ago.strftime("%H:%M")}, headers=journey.headers)
    with db.sessions.begin() as session:
        session.get(Connection, connection_id).schedule_offset_seconds = 0
        planned = Schedule.of(session.get(Connection, connection_id), "Europe/London").last_at_or_before(utcnow())
    active(SchedulerService(runtime).start(), db.engine, connection_id).stop()
    set_next_run(db.engine, connection_id, planned)
    caplog.set_level(logging.WARNING, logger="apscheduler")
    service = active(SchedulerService(runtime).start(), db.engine, connection_id)
    try:
        wait_until(lambda: "was missed by" in caplog.text, 20, "APScheduler never judged the run missed")
        wait_until(lambda: stored_next_run(db.engine, connection_id) > utcnow(), 20, "the job never moved on")
        assert scheduled_runs(db, connection_id) == []
    finally:
        service.stop()


def test_a_schedule_changed_over_the_api_reaches_the_running_scheduler(journey, provider, runtime, db):
    connection_id = ready(journey, provider)
    service = active(SchedulerService(runtime).start(), db.engine, connection_id)
    try:
        before = stored_next_run(db.engine, connection_id)
        # A time hours away, so the next run cannot roll over while the scheduler picks the change up.
        zone = ZoneInfo(journey.client.get("/api/v1/workspace", headers=journey.headers).get_json()["timezone"])
        hours = 6 if (datetime.now(zone) + timedelta(hours=6)).hour != 2 else 7  # not the default 02:00
        later = (datetime.now(zone) + timedelta(hours=hours)).strftime("%H:00")
        response = journey.client.put(f"/api/v1/connections/{connection_id}/schedule",
                                      json={"kind": "daily", "time": later}, headers=journey.headers)
        expected = response.get_json()["next_run_at"]
        wait_until(lambda: stored_next_run(db.engine, connection_id).isoformat().replace("+00:00", "Z")
                   == expected.replace("+00:00", "Z"), 20,
                   lambda: f"job still at {stored_next_run(db.engine, connection_id)} (was {before}), not {expected}")
        journey.client.put(f"/api/v1/connections/{connection_id}/schedule", json={"kind": "daily", "paused": True},
                           headers=journey.headers)
        wait_until(lambda: stored_next_run(db.engine, connection_id) is None, 20, "the paused job stayed")
    finally:
        service.stop()


def test_a_lease_has_one_holder_until_it_is_released_or_runs_out(db):
    if db.backend != "sqlite":
        pytest.skip("PostgreSQL uses an advisory lock, tested with real processes below")
    first, second = LeaseRow(db.sessions, "host:1", 60), LeaseRow(db.sessions, "host:2", 60)
    assert first.acquire() and not second.acquire() and first.acquire()  # the holder renews
    first.release()
    assert second.acquire() and not first.acquire()
    short = LeaseRow(db.sessions, "host:2", -1)  # renewed into the past: as if its process stalled past the lease
    assert short.acquire() and first.acquire()


def test_two_scheduler_processes_never_both_fire_and_one_takes_over(journey, provider, db, tmp_path):
    if db.backend != "postgresql":
        pytest.skip("the takeover between processes is tested on PostgreSQL (its advisory lock)")
    connections = []
    for name in ("Acme UK", "Acme US", "Acme DE"):
        connection_id = journey.connect(name)
        journey.select(connection_id, 1)
        connections.append(connection_id)
    env = {"DATABASE_URL": db.url, "LEDGERPANE_VAR_DIR": str(tmp_path), "LEDGERPANE_SANDBOX": "false",
           "LEDGERPANE_SANDBOX_URL": provider.url, "LEDGERPANE_SANDBOX_RATE_SCALE": str(1 / 60),
           "LEDGERPANE_SCHEDULER_POLL_SECONDS": "0.5", "LEDGERPANE_SCHEDULER_LEASE_SECONDS": "3"}
    with scheduler_processes(tmp_path, env) as start:
        first = start("a")
        wait_until(lambda: first.said(": active ("), 60, lambda: first.output.read_text())
        second = start("b")
        wait_until(lambda: second.said("standing by"), 60, lambda: second.output.read_text())
        for connection_id in connections:
            wait_until(lambda c=connection_id: stored_next_run(db.engine, c), 20, "no job stored")

        set_next_run(db.engine, connections[0], utcnow() - timedelta(minutes=1))
        [run] = wait_until(lambda: scheduled_runs(db, connections[0]), 30, "the active scheduler never fired")
        assert wait_for_run(journey, run.id)["status"] == "succeeded"
        assert scheduled_runs(db, connections[0])[0].worker.endswith(f":{first.process.pid}")

        os.kill(first.process.pid, signal.SIGKILL)
        set_next_run(db.engine, connections[1], utcnow() - timedelta(minutes=1))
        wait_until(lambda: second.said(": active ("), 30, lambda: second.output.read_text())
        [run] = wait_until(lambda: scheduled_runs(db, connections[1]), 30, "the standby never fired after takeover")
        assert wait_for_run(journey, run.id)["status"] == "succeeded"
        assert scheduled_runs(db, connections[1])[0].worker.endswith(f":{second.process.pid}")
        wait_until(lambda: stored_next_run(db.engine, connections[1]) > utcnow(), 20, "the job never moved on")

    assert [len(scheduled_runs(db, c)) for c in connections] == [1, 1, 0]
