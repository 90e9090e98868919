"""What one execution of a run knows and counts while it works, and the few acts every step shares:
a commit point (progress, heartbeat, cancel), the counters and the integration-log event."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection as DbConnection
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from server.config import Settings
from server.connections.metering import count_calls
from server.connectors import Connector
from server.connectors.framework.http import RequestRecord, TokenSource
from server.connectors.framework.streams import Stream
from server.db.models import Connection, ConnectionStatus, RefreshRun, RunStatus, utcnow
from server.refresh.integration_log import LogEntry, summarise_endpoints, write_event
from server.refresh.runs import RefreshSettings
from server.store.ledger import Written


class RunCancelled(Exception):
    """The run stops at this batch: cancelled, or its connection disconnected or deleted meanwhile. The
    message says which, in plain words."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


class RunTakenOver(Exception):
    """Another execution carries the run out now (another worker took it over, or the run was presumed dead and
    queued again or failed): this one stops writing at once and leaves the run, its status included, to it."""


@dataclass
class EntityScope:
    id: int
    provider_entity_id: str
    name: str
    base_currency: str | None


@dataclass
class Run:
    id: int
    connection_id: int
    workspace_id: int
    mode: str
    streams: list[str] | None
    since: date | None
    data_types: list[str]
    connector: Connector
    token: TokenSource
    sessions: sessionmaker[Session]
    settings: RefreshSettings
    provider: str
    setup: dict[str, str]  # the connection's stored setup, for the helper process's own connector
    app_settings: Settings  # for the helper process that reads a long ledger pull
    pages: int = 0
    rows_read: int = 0
    rows_written: int = 0
    counters: dict[str, dict[str, int]] = field(default_factory=dict)
    changes: list[dict[str, Any]] = field(default_factory=list)
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    entity_failures: list[dict[str, Any]] = field(default_factory=list)
    # The run row's worker and started_at as this execution claimed it: found changed at a commit point, the run
    # is no longer this execution's (RunTakenOver).
    worker: str = ""
    claimed_at: datetime | None = None

    def wants(self, stream: Stream) -> bool:
        if self.streams is not None and stream.name not in self.streams and stream.data_type not in self.streams:
            return stream.data_type is None  # the company profile always comes along
        return stream.data_type is None or stream.data_type in self.data_types

    def progress(self, **where: Any) -> dict[str, Any]:
        return {"pages": self.pages, "rows_read": self.rows_read, "rows_written": self.rows_written, **where}

    def count(self, data_type: str, written: Written, read: int) -> None:
        counter = self.counters.setdefault(data_type, {"read": 0, "inserted": 0, "updated": 0, "deleted": 0})
        counter["read"] += read
        counter["inserted"] += written.inserted
        counter["updated"] += written.updated
        counter["deleted"] += written.deleted

    def log(self, entity: EntityScope, data_type: str, status: str, written: Written, calls: list[RequestRecord],
            started: float, detail: str) -> None:
        write_event(self.sessions, LogEntry(
            workspace_id=self.workspace_id, connection_id=self.connection_id, entity_id=entity.id, run_id=self.id,
            data_type=data_type, status=status, rows_inserted=written.inserted, rows_updated=written.updated,
            rows_deleted=written.deleted, pages=sum(1 for c in calls if c.status is not None and c.status < 400),
            duration_ms=int((time.monotonic() - started) * 1000), endpoints=summarise_endpoints(calls),
            detail=detail))
        self.count_calls(calls)

    def count_calls(self, calls: list[RequestRecord]) -> None:
        """Every answered call counts toward the connection's calls this month, logged or not."""
        count_calls(self.sessions, self.connection_id, sum(1 for c in calls if c.status is not None))


def commit_point(connection: DbConnection, run: Run, **where: Any) -> None:
    """Progress and heartbeat travel with each batch; a cancel, a disconnect or a delete asked for meanwhile
    stops the run here (what this batch wrote rolls back with the cursor; earlier batches stay), and so does a
    takeover: the batch is then the new execution's to write, from the cursor it finds."""
    # Locked, so a takeover lands either before this check or after this batch's commit, never between.
    status, worker, started_at, connection_status, deleted_at = connection.execute(
        select(RefreshRun.status, RefreshRun.worker, RefreshRun.started_at, Connection.status, Connection.deleted_at)
        .join(Connection, Connection.id == RefreshRun.connection_id).where(RefreshRun.id == run.id)
        .with_for_update(of=RefreshRun)).one()
    if not still_ours(run, status, worker, started_at):
        raise RunTakenOver(f"run {run.id} is carried out by {worker or 'nobody'} now ({status})")
    if status == RunStatus.cancelled.value:
        raise RunCancelled("Cancelled; what was loaded before stays, and the next refresh goes on from there.")
    stopped = stopped_because(connection_status, deleted_at)
    if stopped:
        raise RunCancelled(stopped)
    connection.execute(update(RefreshRun).where(RefreshRun.id == run.id).values(
        progress=run.progress(**where), heartbeat_at=utcnow()))


def still_ours(run: Run, status: str, worker: str, started_at: datetime | None) -> bool:
    """Whether the run row still says this execution carries it out: claimed by it, and running or cancelled
    (to be stopped by it). Queued again or failed, it was presumed dead; another claim, it was taken over."""
    return ((worker, started_at) == (run.worker, run.claimed_at)
            and status in (RunStatus.running.value, RunStatus.cancelled.value))


def stopped_because(connection_status: str, deleted_at: Any) -> str:
    """Why a run must not go on for this connection ("" if it may): the user deleted or disconnected it."""
    if deleted_at is not None:
        return "Stopped: the connection was deleted. The data loaded so far stays."
    if connection_status == ConnectionStatus.disconnected.value:
        return "Stopped: the connection was disconnected. The data loaded so far stays; reconnect to refresh again."
    return ""
