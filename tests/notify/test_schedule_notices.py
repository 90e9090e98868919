"""The failure policy tells the admins: when a schedule pauses itself, and, when asked, at every failed
scheduled run; each counted run is told once."""
from datetime import timedelta

import pytest

from server.db.models import Connection, RefreshRun, utcnow
from server.notify import RUN_FAILED, SCHEDULE_PAUSED, Notice
from server.scheduler.policy import count_outcomes


@pytest.fixture
def connection_id(db, workspace) -> int:
    with db.sessions.begin() as session:
        connection = Connection(workspace_id=workspace.id, provider="xero-sandbox", name="Acme UK", status="live")
        session.add(connection)
        session.flush()
        return connection.id


def fail_a_scheduled_run(db, connection_id: int, error: str) -> None:
    with db.sessions.begin() as session:
        connection = session.get(Connection, connection_id)
        session.add(RefreshRun(workspace_id=connection.workspace_id, connection_id=connection_id, trigger="scheduled",
                               status="failed", error=error, queued_at=utcnow() - timedelta(minutes=5),
                               finished_at=utcnow()))


def test_a_schedule_that_pauses_itself_tells_the_admins(db, connection_id):
    told: list[Notice] = []
    for number in range(1, 4):
        fail_a_scheduled_run(db, connection_id, f"The provider said 503 (night {number}).")
        count_outcomes(db.sessions, 3, told.append)
    [notice] = told
    assert (notice.kind, notice.connection_id, notice.connection_name) == (SCHEDULE_PAUSED, connection_id, "Acme UK")
    assert notice.message.startswith("Paused after 3 scheduled refreshes in a row failed")
    assert "night 3" in notice.message
    count_outcomes(db.sessions, 3, told.append)
    assert len(told) == 1, "each run is counted, and told, once"


def test_every_failure_is_told_when_asked(db, connection_id):
    told: list[Notice] = []
    fail_a_scheduled_run(db, connection_id, "The provider did not answer.")
    count_outcomes(db.sessions, 3, told.append, every_failure=True)
    count_outcomes(db.sessions, 3, told.append, every_failure=True)
    assert [(n.kind, n.message) for n in told] == [(RUN_FAILED, "The provider did not answer.")]
    fail_a_scheduled_run(db, connection_id, "The provider did not answer.")
    count_outcomes(db.sessions, 3, told.append)  # not asked: only the pause would be told
    assert len(told) == 1
