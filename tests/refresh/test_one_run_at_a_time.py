"""One run per connection at a time, including a cancelled run that has not stopped yet: it stops at its
next batch, and until then it still writes the connection's lines and cursors."""
import os
import socket
import subprocess
import sys

from server.db.models import Connection, RefreshRun, RunStatus, utcnow
from server.refresh.runs import request_refresh


def stopping_run(db, connection_id: int, worker: str) -> int:
    """A run cancelled while it works, as the cancel endpoint leaves it: cancelled, started, not finished."""
    with db.sessions.begin() as session:
        connection = session.get(Connection, connection_id)
        run = RefreshRun(workspace_id=connection.workspace_id, connection_id=connection_id, trigger="manual",
                         status=RunStatus.cancelled.value, started_at=utcnow(), heartbeat_at=utcnow(), worker=worker)
        session.add(run)
        session.flush()
        return run.id


def test_a_cancelled_run_that_has_not_stopped_keeps_the_connection(journey, db):
    connection_id = journey.connect()
    stopping = stopping_run(db, connection_id, f"{socket.gethostname()}:{os.getpid()}")  # alive: this process
    assert request_refresh(db.sessions, connection_id, trigger="manual", member_id=None) == (stopping, False)
    with db.sessions.begin() as session:
        session.get(RefreshRun, stopping).finished_at = utcnow()  # it reached its next batch and stopped
    run_id, created = request_refresh(db.sessions, connection_id, trigger="manual", member_id=None)
    assert created and run_id != stopping


def test_a_run_that_died_while_stopping_stays_cancelled_and_frees_the_connection(journey, db):
    connection_id = journey.connect()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stopping = stopping_run(db, connection_id, f"{socket.gethostname()}:{gone.stdout.strip()}")
    run_id, created = request_refresh(db.sessions, connection_id, trigger="manual", member_id=None)
    assert created and run_id != stopping
    with db.sessions() as session:
        dead = session.get(RefreshRun, stopping)
        assert dead.status == "cancelled" and dead.finished_at is not None and dead.error == ""
