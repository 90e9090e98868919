"""A run taken over by another worker (its first worker presumed gone while it still lived) is written by one
execution only: the first stops at its next batch, writes nothing more and leaves the run's end to the other."""
from __future__ import annotations

import logging

from sqlalchemy import func, select, update

from server.db.models import LedgerLine, LogEvent, RefreshRun, utcnow
from tests.support.refresh import line_total, start_a_slow_refresh
from tests.support.waiting import wait_until

ELSEWHERE = "other-machine:4242"


def take_over(db, run_id: int) -> int:
    """What another worker's takeover writes (runs.run_to_carry_out, then pipeline.execute claiming the run);
    returns the lines loaded by then, read in the same transaction."""
    with db.sessions.begin() as session:
        now = utcnow()
        claimed = session.execute(update(RefreshRun).where(RefreshRun.id == run_id, RefreshRun.status == "running")
                                  .values(worker=ELSEWHERE, started_at=now, heartbeat_at=now))
        assert claimed.rowcount == 1, "the run ended before the takeover: slow the provider down more"
        return session.scalar(select(func.count()).select_from(LedgerLine))


def test_a_run_taken_over_elsewhere_stops_at_its_next_batch_and_leaves_the_run_to_the_other(
        journey, db, provider, caplog):
    _, _, run_id = start_a_slow_refresh(journey, provider, delay=0.2, count=200)
    wait_until(lambda: line_total(db) > 0, deadline=60, message="no batch was ever committed")
    loaded = take_over(db, run_id)

    def first_execution_ended() -> bool:
        with db.sessions() as session:
            ended = session.scalar(select(RefreshRun.finished_at).where(RefreshRun.id == run_id)) is not None
        return ended or any("stops here without finishing" in r.getMessage() for r in caplog.records)

    wait_until(first_execution_ended, 60, "the first execution neither stopped nor ended")
    with db.sessions() as session:
        run = session.get(RefreshRun, run_id)
        assert (run.status, run.worker, run.finished_at) == ("running", ELSEWHERE, None), "its end is the other's"
        journal_events = session.scalars(select(LogEvent.status).where(LogEvent.run_id == run_id,
                                                                       LogEvent.data_type == "journals")).all()
    assert line_total(db) == loaded, "nothing written after the takeover"
    assert journal_events == [], "no log event for the journals the first execution did not finish"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("server.")]
