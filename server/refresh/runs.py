"""Refresh runs as rows: asking for one, one at a time per connection, and telling a dead one."""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session, sessionmaker

from server.db.engine import lock_row, transaction
from server.db.models import Connection, RefreshRun, RunStatus, utcnow
from server.store.ledger import drop_staged, staged_tables

ACTIVE = (RunStatus.queued.value, RunStatus.running.value)


@dataclass(frozen=True)
class RefreshSettings:
    batch_rows: int = 20_000  # rows per commit: large enough that commits do not dominate (perf.md)
    overlap_records: int = 20  # offset-cursors re-read this many records back
    overlap: timedelta = timedelta(minutes=10)  # time-cursors re-read this far back
    stale_after: timedelta = timedelta(minutes=10)  # a run silent for this long is presumed dead
    pages_in_process: int = 10  # ledger pages read here before a longer pull moves to a helper process

    @classmethod
    def from_settings(cls, settings: Any) -> RefreshSettings:
        return cls(batch_rows=settings.refresh_batch_rows, overlap_records=settings.refresh_overlap_records,
                   pages_in_process=settings.refresh_pages_in_process,
                   overlap=timedelta(minutes=settings.refresh_overlap_minutes))


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def request_refresh(sessions: sessionmaker[Session], connection_id: int, *, trigger: str, member_id: int | None,
                    mode: str = "incremental", streams: list[str] | None = None, since: date | None = None,
                    settings: RefreshSettings = RefreshSettings()) -> tuple[int, bool]:
    """A new queued run, or the connection's active one: (run id, created). A cancelled run that has not
    stopped yet (it stops at its next batch) is still active: two runs never write one connection at once."""
    with transaction(sessions) as session:
        lock_row(session, Connection, connection_id)
        active = session.scalar(select(RefreshRun).where(RefreshRun.connection_id == connection_id, not_stopped())
                                .order_by(RefreshRun.id))
        if active is not None and not is_dead(active, settings):
            return active.id, False
        if active is not None and active.status == RunStatus.cancelled.value:
            active.finished_at = utcnow()  # it died while stopping: it stays cancelled
        elif active is not None:
            active.status, active.finished_at = RunStatus.failed.value, utcnow()
            active.error = "Interrupted: the process running it stopped. A new run picks up where it left off."
        connection = session.get(Connection, connection_id)
        run = RefreshRun(workspace_id=connection.workspace_id, connection_id=connection_id, trigger=trigger,
                         mode=mode, requested_by=member_id, streams=streams, since=since,
                         progress={"pages": 0, "rows_read": 0, "rows_written": 0})
        session.add(run)
        session.flush()
        return run.id, True


def not_stopped() -> ColumnElement[bool]:
    """Runs that may still write: queued, running, or cancelled but not yet stopped at a batch."""
    return or_(RefreshRun.status.in_(ACTIVE),
               and_(RefreshRun.status == RunStatus.cancelled.value, RefreshRun.finished_at.is_(None)))


def is_dead(run: RefreshRun, settings: RefreshSettings) -> bool:
    host, _, pid = run.worker.rpartition(":")
    started = run.status == RunStatus.running.value or (run.status == RunStatus.cancelled.value and run.started_at)
    # Signal 0 only asks whether the process exists on POSIX (on Windows os.kill would end it).
    if started and os.name == "posix" and host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, under another user
            pass
    last_sign = run.heartbeat_at or run.started_at or run.queued_at
    return utcnow() - last_sign > settings.stale_after


class RunHeldElsewhere(Exception):
    """The connection's run is being carried out by a process that is still alive: try again later."""


def queued_runs(sessions: sessionmaker[Session]) -> list[int]:
    """Runs waiting for a worker, oldest first. A process re-submits them at start: a run queued by a process
    that stopped before a worker took it would otherwise block its connection until it is presumed dead."""
    with sessions() as session:
        return list(session.scalars(select(RefreshRun.id).where(RefreshRun.status == RunStatus.queued.value)
                                    .order_by(RefreshRun.id)))


def run_to_carry_out(sessions: sessionmaker[Session], connection_id: int,
                     settings: RefreshSettings = RefreshSettings()) -> int | None:
    """For a job-queue worker given a connection: the run to carry out now, or None if nothing waits. A run
    whose process died mid-way goes back to queued as it stands, so the same run resumes from its committed
    cursors and ends once. Raises RunHeldElsewhere while a live process still carries it out."""
    with transaction(sessions) as session:
        lock_row(session, Connection, connection_id)  # as request_refresh does: one decision at a time
        active = session.scalar(select(RefreshRun).where(RefreshRun.connection_id == connection_id, not_stopped())
                                .order_by(RefreshRun.id))
        if active is None or active.status == RunStatus.queued.value:
            return active.id if active else None
        if not is_dead(active, settings):
            raise RunHeldElsewhere(f"run {active.id} is being carried out by {active.worker}")
        if active.status == RunStatus.cancelled.value:
            active.finished_at = utcnow()  # it died while stopping: it stays cancelled
            return None
        active.status, active.heartbeat_at = RunStatus.queued.value, None
        db = session.connection()
        if db.dialect.name == "postgresql":  # batches its dead process's reader staged: read again instead
            drop_staged(db, [table for table, run in staged_tables(db).items() if run == active.id])
        return active.id
