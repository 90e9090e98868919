"""What a scheduled moment does, and what repeated failures do to a schedule.

A due schedule goes through the play button's path: `request_refresh` (trigger "scheduled": the same run
record and the same one-run-per-connection rule, so a manual refresh already under way is joined, not doubled)
and the job queue. A connection that cannot refresh is skipped with an integration-log event. After
`failures_to_pause` scheduled runs in a row fail, the schedule pauses itself with the reason; a warning comes
one failure earlier; `resume` is the one action that undoes it. `pause` and `resume` are the only places a
schedule's pause changes.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.db.engine import lock_row, transaction
from server.db.models import Connection, ConnectionStatus, LogEvent, RefreshRun, RunStatus, Workspace, utcnow
from server.notify import RUN_FAILED, SCHEDULE_PAUSED, Notice
from server.refresh.integration_log import LogEntry, write_event
from server.refresh.runs import request_refresh
from server.scheduler.timing import Schedule

log = logging.getLogger(__name__)

SCHEDULE = "schedule"  # the integration log's data type for what the scheduler did
SCHEDULED = "scheduled"  # a run's trigger

SKIPPED = {
    ConnectionStatus.setup: ("skipped", "Scheduled refresh skipped: the sign-in at the provider was never finished."),
    ConnectionStatus.disconnected: ("skipped", "Scheduled refresh skipped: the connection is disconnected."),
    ConnectionStatus.reauth_required: ("needs_attention", "Scheduled refresh skipped: the provider no longer "
                                                          "accepts our sign-in. Reconnect to resume refreshes."),
}
RESETS = {RunStatus.succeeded.value, RunStatus.partly_succeeded.value}  # some data came: not a failure


def fire(runtime: Any, connection_id: int, now: datetime | None = None) -> str:
    """The schedule of this connection is due: refresh it, or say why not. Returns what happened, in words.
    `runtime`: a server.runtime.Runtime whose job queue carries the run out."""
    now = now or utcnow()
    with transaction(runtime.sessions) as session:
        connection = session.get(Connection, connection_id)
        if connection is None or connection.deleted_at is not None or connection.schedule_paused:
            return "not scheduled"  # changed since the scheduler last read it: its job goes at the next sync
        timezone = session.get(Workspace, connection.workspace_id).timezone
        planned = Schedule.of(connection, timezone).last_at_or_before(now)
        # A second scheduler that wrongly thinks it is the active one (a stalled process, say) finds the run
        # the first one made for this moment and leaves it.
        fired = session.scalar(select(RefreshRun.id).where(RefreshRun.connection_id == connection_id,
                                                           RefreshRun.trigger == SCHEDULED,
                                                           RefreshRun.queued_at >= planned))
        if fired is not None:
            return f"already fired: run {fired}"
        skipped = _why_skipped(connection)
        workspace_id = connection.workspace_id
    if skipped:
        status, detail = skipped
        write_event(runtime.sessions, LogEntry(workspace_id, connection_id, None, None, SCHEDULE, status,
                                               detail=detail))
        log.info("connection %s: %s", connection_id, detail)
        return detail
    run_id, created = request_refresh(runtime.sessions, connection_id, trigger=SCHEDULED, member_id=None)
    if not created:
        return f"joined run {run_id}, already under way"
    runtime.jobs.submit(run_id)
    return f"started run {run_id}"


def _why_skipped(connection: Connection) -> tuple[str, str] | None:
    if ConnectionStatus(connection.status) in SKIPPED:
        return SKIPPED[ConnectionStatus(connection.status)]
    if not any(entity.selected and entity.available for entity in connection.entities):
        return "skipped", "Scheduled refresh skipped: no company or ledger is selected."
    return None


def count_outcomes(sessions: Any, failures_to_pause: int, notify: Callable[[Notice], Any] | None = None,
                   every_failure: bool = False) -> int:
    """Count the scheduled runs that ended since last time into each connection's run of failures, warning
    and pausing as the policy says; `notify` is told of a pause (and of every failed run when `every_failure`).
    Returns how many runs it counted."""
    with sessions() as session:
        waiting = session.scalars(
            select(RefreshRun.connection_id).join(Connection, Connection.id == RefreshRun.connection_id)
            .where(RefreshRun.trigger == SCHEDULED, RefreshRun.finished_at.is_not(None),
                   RefreshRun.id > func.coalesce(Connection.schedule_counted_run_id, 0)).distinct()).all()
    counted = 0
    for connection_id in waiting:
        notices: list[Notice] = []
        with transaction(sessions) as session:
            lock_row(session, Connection, connection_id)  # an admin's resume meanwhile is not overwritten
            counted += _count(session, session.get(Connection, connection_id), failures_to_pause, notices,
                              every_failure)
        for notice in notices:  # once the count that caused them is committed, and outside its row lock
            if notify is not None:
                notify(notice)
    return counted


def _count(session: Session, connection: Connection, failures_to_pause: int, notices: list[Notice],
           every_failure: bool) -> int:
    runs = session.scalars(select(RefreshRun).where(
        RefreshRun.connection_id == connection.id, RefreshRun.trigger == SCHEDULED,
        RefreshRun.finished_at.is_not(None), RefreshRun.id > func.coalesce(connection.schedule_counted_run_id, 0))
        .order_by(RefreshRun.id)).all()
    before = connection.schedule_failures
    for run in runs:
        if run.status in RESETS:
            connection.schedule_failures = 0
        elif run.status == RunStatus.failed.value:
            connection.schedule_failures += 1
            if every_failure:
                notices.append(Notice(RUN_FAILED, connection.workspace_id, connection.id, connection.name,
                                      f"The scheduled refresh of {connection.name} failed",
                                      run.error or "No reason given."))
        connection.schedule_counted_run_id = run.id
    failures, last = connection.schedule_failures, runs[-1] if runs else None
    if failures >= failures_to_pause and not connection.schedule_paused:
        reason = (f"Paused after {failures} scheduled refreshes in a row failed; the last said: "
                  f"{last.error or 'no reason given'} Fix the cause, then resume the schedule.")
        pause(connection, reason)
        _note(session, connection, last, reason)
        notices.append(Notice(SCHEDULE_PAUSED, connection.workspace_id, connection.id, connection.name,
                              f"The schedule of {connection.name} paused itself", reason))
    elif failures == failures_to_pause - 1 and before < failures and failures > 0:
        _note(session, connection, last, f"{failures} scheduled refresh{'es' * (failures > 1)} in a row failed; "
                                         "after one more the schedule pauses itself.")
    return len(runs)


def _note(session: Session, connection: Connection, run: RefreshRun | None, detail: str) -> None:
    """A log event in the counting transaction: the warning stands or falls with the count that caused it."""
    session.add(LogEvent(workspace_id=connection.workspace_id, connection_id=connection.id, entity_id=None,
                         run_id=run.id if run else None, data_type=SCHEDULE, status="needs_attention",
                         detail=detail, endpoints=[]))
    log.warning("connection %s: %s", connection.id, detail)


def pause(connection: Connection, reason: str) -> None:
    connection.schedule_paused, connection.schedule_paused_reason = True, reason


def resume(connection: Connection) -> None:
    """One action: the schedule runs again from its next planned time, its run of failures forgotten."""
    connection.schedule_paused, connection.schedule_paused_reason = False, ""
    connection.schedule_failures = 0
