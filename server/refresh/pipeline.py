"""The refresh pipeline (DESIGN.md, "The data flow of one refresh"): pull -> map -> load -> cursor -> log.

A run is a row. `request_refresh` makes one (or returns the connection's active run: one at a time);
`execute` carries it out, in a worker thread of the service or in `ledgerpane refresh`. For each
selected entity and enabled stream it reads the cursor, pulls pages, maps and writes them, and moves
the cursor in the same transaction as the rows, so a crash resumes from the last committed batch and a
re-run never duplicates a line. Each entity x data type leaves an integration-log event; journals are
reconciled with the provider's trial balance for the periods the run touched.
"""
from __future__ import annotations

import calendar
import logging
import os
import socket
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy import Connection as DbConnection
from sqlalchemy.orm import Session, sessionmaker

from server.config import Settings
from server.connections.status import Event, apply
from server.connectors import AuthRevoked, Connector, ProviderError
from server.connectors.framework.parsing import gc_paused, month_ends
from server.connectors.framework.streams import Stream
from server.db.engine import lock_row, transaction
from server.db.models import (
    Account,
    Connection,
    ConnectionStatus,
    Entity,
    LedgerLine,
    RefreshRun,
    RunStatus,
    SourceDimension,
    SourceDimensionOption,
    SyncCursor,
    TrialBalanceLine,
    utcnow,
)
from server.mapping.dimensions import unmapped_members
from server.mapping.ledger import LineMapper
from server.refresh.integration_log import LogEntry, summarise_endpoints, write_event
from server.refresh.reader import Batch, ReadJob, read
from server.store.ledger import (
    Encoding,
    Written,
    drop_staged,
    period_of,
    staged_tables,
    to_amount,
    upsert,
    write_lines,
    write_staged,
)

log = logging.getLogger(__name__)

ACTIVE = (RunStatus.queued.value, RunStatus.running.value)
NO_CURRENCY = "XXX"  # ISO 4217's code for "no currency", should a provider not state the base currency
# Streams in the order they must run: accounts before the journals that point at them.
ORDER = ("organisation", "currencies", "accounts", "tracking_categories", "journals")


@dataclass(frozen=True)
class RefreshSettings:
    batch_rows: int = 20_000  # rows per commit: large enough that commits do not dominate (perf.md)
    overlap_records: int = 20  # offset-cursors re-read this many records back
    overlap: timedelta = timedelta(minutes=10)  # time-cursors re-read this far back
    stale_after: timedelta = timedelta(minutes=10)  # a run silent for this long is presumed dead
    pages_in_process: int = 10  # journal pages read here before a longer pull moves to a helper process

    @classmethod
    def from_settings(cls, settings: Any) -> RefreshSettings:
        return cls(batch_rows=settings.refresh_batch_rows, overlap_records=settings.refresh_overlap_records,
                   pages_in_process=settings.refresh_pages_in_process,
                   overlap=timedelta(minutes=settings.refresh_overlap_minutes))


class RunCancelled(Exception):
    pass


# --- asking for a run

def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def request_refresh(sessions: sessionmaker[Session], connection_id: int, *, trigger: str, member_id: int | None,
                    mode: str = "incremental", streams: list[str] | None = None, since: date | None = None,
                    settings: RefreshSettings = RefreshSettings()) -> tuple[int, bool]:
    """A new queued run, or the connection's active one: (run id, created). A cancelled run that has not
    stopped yet (it stops at its next batch) is still active: two runs never write one connection at once."""
    with transaction(sessions) as session:
        lock_row(session, Connection, connection_id)
        active = session.scalar(select(RefreshRun).where(RefreshRun.connection_id == connection_id, _not_stopped())
                                .order_by(RefreshRun.id))
        if active is not None and not _is_dead(active, settings):
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


def _not_stopped() -> ColumnElement[bool]:
    """Runs that may still write: queued, running, or cancelled but not yet stopped at a batch."""
    return or_(RefreshRun.status.in_(ACTIVE),
               and_(RefreshRun.status == RunStatus.cancelled.value, RefreshRun.finished_at.is_(None)))


def _is_dead(run: RefreshRun, settings: RefreshSettings) -> bool:
    host, _, pid = run.worker.rpartition(":")
    started = run.status == RunStatus.running.value or (run.status == RunStatus.cancelled.value and run.started_at)
    if started and host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
    last_sign = run.heartbeat_at or run.started_at or run.queued_at
    return utcnow() - last_sign > settings.stale_after


# --- carrying it out

@dataclass
class EntityScope:
    id: int
    provider_entity_id: str
    name: str
    base_currency: str | None


@dataclass
class Run:
    """What one execution knows and counts while it works."""

    id: int
    connection_id: int
    workspace_id: int
    mode: str
    streams: list[str] | None
    since: date | None
    data_types: list[str]
    connector: Connector
    token: Callable[..., str]
    sessions: sessionmaker[Session]
    settings: RefreshSettings
    provider: str
    app_settings: Settings  # for the helper process that reads a long ledger pull
    pages: int = 0
    rows_read: int = 0
    rows_written: int = 0
    counters: dict[str, dict[str, int]] = field(default_factory=dict)
    changes: list[dict[str, Any]] = field(default_factory=list)
    mismatches: list[dict[str, Any]] = field(default_factory=list)

    def wants(self, stream: Stream) -> bool:
        if self.streams is not None and stream.name not in self.streams and stream.data_type not in self.streams:
            return stream.data_type is None  # entity metadata always comes along
        return stream.data_type is None or stream.data_type in self.data_types


def execute(services: Any, run_id: int) -> str:
    """Carry out a queued run to its end; returns its final status. Never raises for provider trouble:
    failures end up on the run, the connection's status and the integration log."""
    sessions = services.sessions
    settings = RefreshSettings.from_settings(services.settings)
    with transaction(sessions) as session:
        record = session.get(RefreshRun, run_id)
        if record is None or record.status != RunStatus.queued.value:
            return record.status if record else "missing"
        connection = session.get(Connection, record.connection_id)
        record.status, record.started_at, record.heartbeat_at = RunStatus.running.value, utcnow(), utcnow()
        record.worker = worker_name()
        if connection.account_status != "error":
            connection.account_status = "loading"
        entities = [EntityScope(e.id, e.provider_entity_id, e.name, e.base_currency)
                    for e in connection.entities if e.selected and e.available]
        run = Run(run_id, connection.id, connection.workspace_id, record.mode, record.streams, record.since,
                  list(connection.data_types), services.connector(connection.provider),
                  services.vault.token_source(connection.id), sessions, settings, connection.provider,
                  services.settings)
    _drop_abandoned_batches(sessions)
    try:
        for entity in entities:
            _refresh_entity(run, entity)
        return _finish(run, RunStatus.succeeded, None)
    except RunCancelled:
        return _finish(run, RunStatus.cancelled, None)
    except ProviderError as error:
        return _finish(run, RunStatus.failed, error)
    except Exception as error:  # a bug of ours: keep the service alive, say so plainly, keep the trace in the log
        log.exception("refresh run %s failed unexpectedly", run_id)
        return _finish(run, RunStatus.failed, error)


def _drop_abandoned_batches(sessions: sessionmaker[Session]) -> None:
    """Batches a reader helper staged for a run that stopped before it could move them (its process was
    killed, say): the run that resumes reads those pages again."""
    with transaction(sessions) as session:
        db = session.connection()
        if db.dialect.name != "postgresql":
            return
        waiting = staged_tables(db)
        if waiting:
            going = set(session.scalars(select(RefreshRun.id).where(RefreshRun.id.in_(set(waiting.values())),
                                                                    _not_stopped())))
            drop_staged(db, [table for table, run_id in waiting.items() if run_id not in going])


def _finish(run: Run, status: RunStatus, error: BaseException | None) -> str:
    with transaction(run.sessions) as session:
        record = session.get(RefreshRun, run.id)
        connection = session.get(Connection, run.connection_id)
        if record.status == RunStatus.cancelled.value:
            status = RunStatus.cancelled
        record.status, record.finished_at = status.value, utcnow()
        record.needs_attention = bool(run.mismatches)
        record.progress = _progress(run)
        record.counters = {**run.counters, "changes": run.changes[:200], "mismatches": run.mismatches[:200]}
        accounts = session.scalar(select(func.count()).select_from(Account).where(
            Account.connection_id == run.connection_id))
        if connection.account_status == "loading":
            connection.account_status = "ready" if accounts else "none"
        if status is RunStatus.succeeded:
            apply(connection, Event.refresh_succeeded,
                  "The last refresh needs attention: see the log." if run.mismatches else "")
        elif isinstance(error, AuthRevoked):
            record.error = "The provider no longer accepts our sign-in. Reconnect to resume refreshes."
            if connection.status != ConnectionStatus.reauth_required.value:
                apply(connection, Event.auth_failed, record.error)
        elif status is RunStatus.failed:
            record.error = plain_reason(error)
            apply(connection, Event.refresh_failed, record.error)
    return status.value


def plain_reason(error: BaseException | None) -> str:
    if isinstance(error, ProviderError):
        return f"The provider call failed after retries: {error.message}" + (
            f" (HTTP {error.status})" if error.status else "")
    return "Ledgerpane hit an internal error; the details are in the service log." if error else ""


def _progress(run: Run, **where: Any) -> dict[str, Any]:
    return {"pages": run.pages, "rows_read": run.rows_read, "rows_written": run.rows_written, **where}


def _commit_point(connection: DbConnection, run: Run, **where: Any) -> None:
    """Progress and heartbeat travel with each batch; a cancel asked for meanwhile stops the run here."""
    status = connection.execute(select(RefreshRun.status).where(RefreshRun.id == run.id)).scalar_one()
    if status == RunStatus.cancelled.value:
        raise RunCancelled()
    connection.execute(update(RefreshRun).where(RefreshRun.id == run.id).values(
        progress=_progress(run, **where), heartbeat_at=utcnow()))


# --- one entity

def _refresh_entity(run: Run, entity: EntityScope) -> None:
    periods: set[date] = set()
    for name in ORDER:
        stream = run.connector.stream(name)
        if not run.wants(stream):
            continue
        started, calls = time.monotonic(), []
        try:
            written = _pull_stream(run, entity, stream, calls, periods)
        except ProviderError as error:
            # Entity metadata (the organisation) has no data type of its own: it is reported with the chart.
            _log(run, entity, stream.data_type or "accounts", "failed", Written(), calls, started,
                 detail=plain_reason(error))
            raise
        if stream.data_type is not None:
            detail = _change_summary(run, entity, stream, written)
            _log(run, entity, stream.data_type, "succeeded", written, calls, started, detail=detail)
    if "trial_balance" in run.data_types and periods and run.wants(run.connector.stream("trial_balance")):
        _reconcile(run, entity, periods)


def _pull_stream(run: Run, entity: EntityScope, stream: Stream, calls: list, periods: set[date]) -> Written:
    cursor = None if run.mode == "full" or (run.mode == "repull" and run.streams) else _read_cursor(run, entity,
                                                                                                    stream.name)
    options: dict[str, Any] = {}
    if run.mode == "repull" and run.since is not None:
        options["modified_since"] = datetime.combine(run.since, datetime.min.time(), tzinfo=UTC)
    if stream.name == "journals":
        return _load_journals(run, entity, options, cursor, periods, calls)
    pages = run.connector.pull(stream, token=run.token, tenant_id=entity.provider_entity_id,
                               cursor=_rewind(stream, cursor, run.settings), options=options, log=calls)
    records, last_cursor = [], cursor
    for page in pages:
        records.extend(page.records)
        last_cursor = page.cursor
        run.pages += 1
        run.rows_read += len(page.records)
    with run.sessions.begin() as session:
        db = session.connection()
        written = LOADERS[stream.name](db, run, entity, records)
        _save_cursor(db, run, entity, stream, cursor, last_cursor)
        run.rows_written += written.inserted + written.updated
        if stream.data_type is not None:
            _count(run, stream.name, written, len(records))
        _commit_point(db, run, entity=entity.name, stream=stream.name)
    return written


def _load_journals(run: Run, entity: EntityScope, connector_options: dict[str, Any], cursor: str | None,
                   periods: set[date], calls: list) -> Written:
    """Pull and map (server/refresh/reader.py: a long pull in a helper process), and write each batch with
    its cursor."""
    stream = run.connector.stream("journals")
    mapper = _line_mapper(run, entity)
    job = ReadJob(run.app_settings, run.provider, run.connection_id, entity.provider_entity_id,
                  _rewind(stream, cursor, run.settings), connector_options, mapper, run.settings.batch_rows,
                  stage=not mapper.encoding.sqlite)
    total = Written()
    expect_new = False
    # The collector stays paused for the whole load: batches of tuples are many small objects, and
    # collections walking them page after page cost more than the parse itself (research/perf.md).
    with gc_paused():
        batches = read(job, calls, run.connector, run.token, pages_here=run.settings.pages_in_process)
        try:
            for batch in batches:
                run.pages += batch.pages
                run.rows_read += batch.rows_read
                written = _write_journal_batch(run, entity, stream, mapper, batch, cursor, expect_new)
                # A stream that met only new lines (a first load, a long catch-up) will most likely go on so.
                expect_new = batch.lines > 0 and written.inserted == batch.lines
                total += written
                cursor = batch.cursor
                del batch  # before the reader unpickles the next one (server/refresh/reader.py)
        finally:
            batches.close()
            if job.stage:  # batches staged but not moved (the run stopped early): nobody else will
                with run.sessions.begin() as session:
                    db = session.connection()
                    drop_staged(db, [table for table, of_run in staged_tables(db).items() if of_run == run.id])
    periods.update(mapper.encoding.periods_seen)
    return total


def _write_journal_batch(run: Run, entity: EntityScope, stream: Stream, mapper: LineMapper, batch: Batch,
                         cursor: str | None, expect_new: bool) -> Written:
    with run.sessions.begin() as session:
        db = session.connection()
        rows = batch.rows
        if batch.unknown:
            # Lines may name accounts the chart did not list (accounts not pulled, or created since).
            _add_accounts_from_lines(db, run, entity, mapper, batch.unknown)
            mapped, still_unknown = mapper.rows(batch.unknown)
            assert not still_unknown, "every account was just added"
            rows = rows + mapped
        written = write_staged(db, batch.staged, expect_new) if batch.staged else write_lines(db, rows, expect_new)
        _save_cursor(db, run, entity, stream, cursor, batch.cursor)
        run.rows_written += written.inserted + written.updated
        _count(run, "journals", written, batch.lines)
        _commit_point(db, run, entity=entity.name, stream="journals")
    return written


def _line_mapper(run: Run, entity: EntityScope) -> LineMapper:
    with run.sessions() as session:
        accounts = dict(session.execute(select(Account.source_account_id, Account.id)
                                        .where(Account.entity_id == entity.id)).all())
        unmapped = unmapped_members(session, run.workspace_id)
        currency = entity.base_currency or session.get(Entity, entity.id).base_currency or NO_CURRENCY
        dialect = session.get_bind().dialect.name
    return LineMapper(run.workspace_id, run.connection_id, entity.id, currency, run.id, accounts, Encoding(dialect),
                      unmapped)


def _add_accounts_from_lines(db: DbConnection, run: Run, entity: EntityScope, mapper: LineMapper,
                             lines: list[Any]) -> None:
    first = {}
    for line in lines:
        first.setdefault(line.account_id, line)
    rows = [{"workspace_id": run.workspace_id, "connection_id": run.connection_id, "entity_id": entity.id,
             "source_account_id": account_id, "code": line.account_code or "",
             "name": line.account_name or line.account_code or account_id, "account_type": line.account_type or ""}
            for account_id, line in first.items()]
    upsert(db, Account.__table__, rows, key=("source_account_id",), scope={"entity_id": entity.id})
    mapper.account_ids.update(db.execute(select(Account.source_account_id, Account.id).where(
        Account.entity_id == entity.id, Account.source_account_id.in_(first))).all())


# --- small streams

def _load_organisation(db: DbConnection, run: Run, entity: EntityScope, records: list[Any]) -> Written:
    if records:
        organisation = records[0]
        entity.base_currency = organisation.base_currency
        db.execute(update(Entity).where(Entity.id == entity.id).values(
            base_currency=organisation.base_currency, year_end_month=organisation.financial_year_end_month,
            year_end_day=organisation.financial_year_end_day))
    return Written()


def _load_currencies(db: DbConnection, run: Run, entity: EntityScope, records: list[Any]) -> Written:
    codes = sorted({r.code for r in records})
    before = db.execute(select(Entity.currencies).where(Entity.id == entity.id)).scalar_one() or []
    db.execute(update(Entity).where(Entity.id == entity.id).values(currencies=codes))
    return Written(len(set(codes) - set(before)), 0)


def _load_accounts(db: DbConnection, run: Run, entity: EntityScope, records: list[Any]) -> Written:
    rows = [{"workspace_id": run.workspace_id, "connection_id": run.connection_id, "entity_id": entity.id,
             "source_account_id": r.account_id, "code": r.code or "", "name": r.name,
             "account_type": r.type or "", "account_class": r.account_class or "",
             "status": (r.status or "ACTIVE").lower(), "currency": r.currency_code,
             "source_updated_at": r.updated_at} for r in records]
    return upsert(db, Account.__table__, rows, key=("source_account_id",), scope={"entity_id": entity.id})


def _load_dimensions(db: DbConnection, run: Run, entity: EntityScope, records: list[Any]) -> Written:
    rows = [{"workspace_id": run.workspace_id, "connection_id": run.connection_id, "entity_id": entity.id,
             "source_dimension_id": r.category_id, "name": r.name, "status": (r.status or "ACTIVE").lower()}
            for r in records]
    written = upsert(db, SourceDimension.__table__, rows, key=("source_dimension_id",),
                     scope={"entity_id": entity.id})
    ids = dict(db.execute(select(SourceDimension.source_dimension_id, SourceDimension.id)
                          .where(SourceDimension.entity_id == entity.id)).all())
    for record in records:
        options = [{"source_dimension_id": ids[record.category_id], "source_option_id": o.option_id,
                    "name": o.name, "status": (o.status or "ACTIVE").lower()} for o in record.options]
        written += upsert(db, SourceDimensionOption.__table__, options, key=("source_option_id",),
                          scope={"source_dimension_id": ids[record.category_id]})
    return written


LOADERS: dict[str, Callable[[DbConnection, Run, EntityScope, list[Any]], Written]] = {
    "organisation": _load_organisation,
    "currencies": _load_currencies,
    "accounts": _load_accounts,
    "tracking_categories": _load_dimensions,
}


# --- cursors

def _read_cursor(run: Run, entity: EntityScope, stream: str) -> str | None:
    with run.sessions() as session:
        return session.scalar(select(SyncCursor.value).where(
            SyncCursor.connection_id == run.connection_id, SyncCursor.entity_id == entity.id,
            SyncCursor.stream == stream)) or None


def _rewind(stream: Stream, cursor: str | None, settings: RefreshSettings) -> str | None:
    """Start a little before the cursor so late writes at the provider are not missed; the idempotent
    load absorbs what is read twice."""
    if cursor is None or stream.incremental is None:
        return cursor
    value = stream.incremental.decode(cursor)
    if isinstance(value, int):
        return stream.incremental.encode(max(0, value - settings.overlap_records))
    if isinstance(value, datetime):
        return stream.incremental.encode(value - settings.overlap)
    return cursor


def _save_cursor(db: DbConnection, run: Run, entity: EntityScope, stream: Stream, old: str | None,
                 new: str | None) -> None:
    if new is None or stream.incremental is None:
        return
    if old is not None and stream.incremental.decode(new) < stream.incremental.decode(old):
        return  # a re-read of the overlap (or a re-pull) never moves the cursor back
    upsert(db, SyncCursor.__table__, [{"connection_id": run.connection_id, "entity_id": entity.id,
                                       "stream": stream.name, "value": new, "updated_at": utcnow()}],
           key=("stream",), scope={"connection_id": run.connection_id, "entity_id": entity.id})


def _count(run: Run, stream: str, written: Written, read: int) -> None:
    counter = run.counters.setdefault(stream, {"read": 0, "inserted": 0, "updated": 0, "deleted": 0})
    counter["read"] += read
    counter["inserted"] += written.inserted
    counter["updated"] += written.updated


# --- what changed, in finance terms

def _change_summary(run: Run, entity: EntityScope, stream: Stream, written: Written) -> str:
    if stream.name != "journals":
        return f"{written.inserted} new, {written.updated} changed."
    with run.sessions() as session:
        names = {id_: (code, name) for id_, code, name in session.execute(
            select(Account.id, Account.code, Account.name).where(Account.entity_id == entity.id))}
    changes = [{"entity": entity.name, "account_code": names[account][0], "account_name": names[account][1],
                "period": period.isoformat()[:7], "net_amount": str(to_amount(net)), "lines": lines}
               for (account, period), (net, lines) in written.added.items()]
    run.changes.extend(sorted(changes, key=lambda c: -abs(Decimal(c["net_amount"]))))
    if not changes:
        return f"No new lines ({written.updated} changed)." if written.updated else "No new lines."
    top = sorted(changes, key=lambda c: -abs(Decimal(c["net_amount"])))[:5]
    described = "; ".join(f"{c['period']} {c['account_code'] or c['account_name']} {Decimal(c['net_amount']):+,.2f}"
                          for c in top)
    periods = {c["period"] for c in changes}
    return (f"{written.inserted} new lines across {len(changes)} account-periods in {len(periods)} period(s)"
            f"{f', {written.updated} changed' if written.updated else ''}. Largest: {described}.")


# --- reconciliation with the provider's trial balance

def financial_year_start(period_end: date, year_end_month: int | None, year_end_day: int | None) -> date:
    """First day of the financial year that `period_end` falls in (calendar year when unknown)."""
    month, day = year_end_month or 12, year_end_day or 31

    def year_end(year: int) -> date:
        return date(year, month, min(day, calendar.monthrange(year, month)[1]))

    end = year_end(period_end.year)
    if period_end <= end:
        end = year_end(period_end.year - 1)
    return end + timedelta(days=1)


def _previous_month(period: date) -> date:
    return (period - timedelta(days=1)).replace(day=1)


def _reconcile(run: Run, entity: EntityScope, periods: set[date]) -> None:
    """For each month the run touched, compare every account's movement as loaded with the provider's:
    its trial balance's year-to-date column at that month's end, less the one a month earlier (within the
    same financial year). YTD columns mean the same whichever way a provider presents its balance
    columns, and reading only the touched months keeps the cost with the change, not the history."""
    stream = run.connector.stream("trial_balance")
    started, calls = time.monotonic(), []
    with run.sessions() as session:
        year_end = session.execute(select(Entity.year_end_month, Entity.year_end_day)
                                   .where(Entity.id == entity.id)).one()
    opening = {p for p in periods if financial_year_start(month_ends(p, p)[0], *year_end) == p}
    wanted = sorted(set(periods) | {_previous_month(p) for p in periods if p not in opening})
    ends = [month_ends(p, p)[0].isoformat() for p in wanted]
    try:
        lines = [line for page in run.connector.pull(stream, token=run.token, tenant_id=entity.provider_entity_id,
                                                     options={"period_ends": ends}, log=calls)
                 for line in page.records]
    except ProviderError as error:
        _log(run, entity, "trial_balance", "failed", Written(), calls, started, detail=plain_reason(error))
        raise
    run.pages += len(ends)
    with run.sessions.begin() as session:
        db = session.connection()
        rows = [{"workspace_id": run.workspace_id, "connection_id": run.connection_id, "entity_id": entity.id,
                 "period": period_of(line.period_end), "source_account_id": line.account_id,
                 "account_code": line.account_code or "", "account_name": line.account_name,
                 "debit": to_amount(line.debit), "credit": to_amount(line.credit), "ytd_net": to_amount(line.ytd_net),
                 "run_id": run.id} for line in lines]
        written = Written()
        for period in sorted({r["period"] for r in rows}):
            written += upsert(db, TrialBalanceLine.__table__, [r for r in rows if r["period"] == period],
                              key=("source_account_id",), scope={"entity_id": entity.id, "period": period})
        _commit_point(db, run, entity=entity.name, stream="trial_balance")
    mismatches = _compare(run, entity, sorted(periods), opening, lines)
    run.mismatches.extend(mismatches)
    if mismatches:
        listed = "; ".join(f"{m['period']} {m['account_code'] or m['account_name']}: loaded {m['loaded']}, "
                           f"provider {m['provider']}" for m in mismatches[:10])
        detail = (f"Needs attention: {len(mismatches)} account-month(s) differ from the provider's trial "
                  f"balance. {listed}.")
    else:
        detail = f"Reconciled {len(periods)} month(s) with the provider's trial balance: every account agrees."
    _log(run, entity, "trial_balance", "needs_attention" if mismatches else "succeeded", written, calls, started,
         detail=detail)


def _compare(run: Run, entity: EntityScope, periods: list[date], opening: set[date],
             provider_lines: list[Any]) -> list[dict[str, Any]]:
    ytd: dict[tuple[str, date], Decimal] = defaultdict(Decimal)
    names: dict[str, tuple[str, str]] = {}
    for line in provider_lines:
        ytd[(line.account_id, period_of(line.period_end))] += to_amount(line.ytd_net)
        names[line.account_id] = (line.account_code or "", line.account_name)
    # A report leaves out accounts with nothing to show, so an account missing at a month end is zero there.
    expected: dict[tuple[str, date], Decimal] = {}
    for account_id in {account for account, _ in ytd}:
        for period in periods:
            before = Decimal(0) if period in opening else ytd.get((account_id, _previous_month(period)), Decimal(0))
            expected[(account_id, period)] = ytd.get((account_id, period), Decimal(0)) - before
    # Sum the lines first and name the accounts after: joined first, a planner without statistics for
    # a freshly loaded table (autovacuum has not analysed it yet) chose a nested loop, 3 s at 1M lines.
    sums = (select(LedgerLine.account_id, LedgerLine.period, func.sum(LedgerLine.amount).label("total"))
            .where(LedgerLine.workspace_id == run.workspace_id, LedgerLine.period.in_(periods),
                   LedgerLine.entity_id == entity.id)
            .group_by(LedgerLine.account_id, LedgerLine.period).subquery())
    with run.sessions() as session:
        monthly = session.execute(
            select(Account.source_account_id, Account.code, Account.name, sums.c.period, sums.c.total)
            .join(Account, Account.id == sums.c.account_id)).all()
    loaded = {}
    for account_id, code, name, period, total in monthly:
        names.setdefault(account_id, (code, name))
        loaded[(account_id, period)] = total
    mismatches = []
    for key in sorted(set(expected) | set(loaded), key=lambda k: (k[1], names.get(k[0], ("", ""))[0])):
        ours, theirs = loaded.get(key, Decimal(0)), expected.get(key, Decimal(0))
        if ours != theirs:
            code, name = names.get(key[0], ("", key[0]))
            mismatches.append({"entity": entity.name, "period": key[1].isoformat()[:7], "account_code": code,
                               "account_name": name, "loaded": str(ours), "provider": str(theirs),
                               "difference": str(ours - theirs)})
    return mismatches


def _log(run: Run, entity: EntityScope, data_type: str, status: str, written: Written, calls: list, started: float,
         detail: str) -> None:
    write_event(run.sessions, LogEntry(
        workspace_id=run.workspace_id, connection_id=run.connection_id, entity_id=entity.id, run_id=run.id,
        data_type=data_type, status=status, rows_inserted=written.inserted, rows_updated=written.updated,
        pages=sum(1 for c in calls if c.status is not None and c.status < 400),
        duration_ms=int((time.monotonic() - started) * 1000), endpoints=summarise_endpoints(calls), detail=detail))
