"""The refresh pipeline (DESIGN.md, "The data flow of one refresh"): pull -> map -> load -> cursor -> log.

A run is a row (runs.py). `execute` carries a queued one out, in a job-queue worker or in
`ledgerpane refresh`. For each selected entity it loads the connector's streams by record role, in
role order (the company profile, currencies, accounts, dimensions, then ledger lines), reading each
stream's cursor, pulling pages and writing them with the cursor in the same transaction, so a crash
resumes from the last committed batch and a re-run never duplicates a line. Each entity x data type
leaves an integration-log event; ledger lines are reconciled with the provider's trial balance for the
periods the run touched (reconcile.py). An entity that fails (refused at the provider, say) does not
stop the others: the run then ends "partly succeeded", naming it, the reason and the fixing action.
"""
from __future__ import annotations

import logging
import time
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select

from server.connections.status import Event, apply
from server.connectors.framework.errors import AuthRevoked, ProviderError
from server.connectors.framework.parsing import gc_paused
from server.connectors.framework.records import ROLES, Role
from server.connectors.framework.streams import PullOptions, Stream
from server.db.engine import transaction
from server.db.models import Account, Connection, ConnectionStatus, Entity, RefreshRun, RunStatus, SyncCursor, utcnow
from server.mapping import stream_fields
from server.mapping.ledger import LineMapper
from server.mapping.routing import load_routing
from server.refresh import changes
from server.refresh.context import (
    EntityScope,
    Run,
    RunCancelled,
    RunTakenOver,
    commit_point,
    still_ours,
    stopped_because,
)
from server.refresh.loaders import LOADERS, add_accounts_from_lines
from server.refresh.outcomes import fixing_action, plain_reason
from server.refresh.reader import Batch, ReadJob, read
from server.refresh.reconcile import reconcile
from server.refresh.runs import RefreshSettings, not_stopped, worker_name
from server.store.ledger import (
    Encoding,
    Written,
    delete_lines,
    delete_unlisted_lines,
    drop_staged,
    staged_tables,
    upsert,
    write_lines,
    write_staged,
)

log = logging.getLogger(__name__)

NO_CURRENCY = "XXX"  # ISO 4217's code for "no currency", should a provider not state the base currency


def execute(runtime: Any, run_id: int) -> str:
    """Carry out a queued run to its end; returns its final status. Never raises for provider trouble:
    failures end up on the run, the connection's status and the integration log. `runtime`: a
    server.runtime.Runtime (settings, sessions, vault, connectors)."""
    sessions = runtime.sessions
    with transaction(sessions) as session:
        # Locked: two processes handed the same queued run (re-submitted at start, say) claim it one at a time.
        record = session.get(RefreshRun, run_id, with_for_update=True)
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
                  list(connection.data_types), runtime.connector_for(connection),
                  runtime.vault.token_source(connection.id), sessions,
                  RefreshSettings.from_settings(runtime.settings), connection.provider,
                  dict(connection.setup_fields or {}), runtime.settings, worker=record.worker,
                  claimed_at=record.started_at)
    _drop_abandoned_batches(sessions)
    try:
        for entity in entities:
            _refresh_entity_or_note_why_not(run, entity)
    except RunTakenOver as gone:
        log.warning("refresh run %s stops here without finishing: %s", run_id, gone)
        return "taken over"
    except RunCancelled as stop:
        return _finish(run, RunStatus.cancelled, None, stop.reason)
    except Exception as error:
        # A ProviderError here: the sign-in itself failed. Anything else is a bug of ours (keep its trace in the
        # log), unless the connection was disconnected or deleted meanwhile: `_finish` then says it stopped.
        if not isinstance(error, ProviderError) and not _stopped_by_user(run):
            log.exception("refresh run %s failed unexpectedly", run_id)
        return _finish(run, RunStatus.failed, error)
    if not run.entity_failures:
        return _finish(run, RunStatus.succeeded, None)
    if len(run.entity_failures) < len(entities):
        return _finish(run, RunStatus.partly_succeeded, None)
    return _finish(run, RunStatus.failed, run.entity_failures[0]["error"])


def _refresh_entity_or_note_why_not(run: Run, entity: EntityScope) -> None:
    """One entity's failure at the provider is that entity's: the run notes it and goes on with the
    others. A refused sign-in is the whole grant's, so it stops the run."""
    try:
        _refresh_entity(run, entity)
    except AuthRevoked:
        raise
    except ProviderError as error:
        run.entity_failures.append({"entity_id": entity.id, "entity": entity.name, "reason": plain_reason(error),
                                    "action": fixing_action(error), "error": error})


def _drop_abandoned_batches(sessions: Any) -> None:
    """Batches a reader helper staged for a run that stopped before it could move them (its process was
    killed, say): the run that resumes reads those pages again."""
    with transaction(sessions) as session:
        db = session.connection()
        if db.dialect.name != "postgresql":
            return
        waiting = staged_tables(db)
        if waiting:
            going = set(session.scalars(select(RefreshRun.id).where(RefreshRun.id.in_(set(waiting.values())),
                                                                    not_stopped())))
            drop_staged(db, [table for table, run_id in waiting.items() if run_id not in going])


def _stopped_by_user(run: Run) -> str:
    with run.sessions() as session:
        connection = session.get(Connection, run.connection_id)
        return stopped_because(connection.status, connection.deleted_at)


def _finish(run: Run, status: RunStatus, error: BaseException | None, stopped: str = "") -> str:
    """End the run and move the connection as the status machine allows. A connection disconnected or
    deleted meanwhile keeps its status: the run only says it stopped."""
    with transaction(run.sessions) as session:
        record = session.get(RefreshRun, run.id, with_for_update=True)
        if not still_ours(run, record.status, record.worker, record.started_at):  # taken over since the last batch
            log.warning("refresh run %s is carried out by %s now: its end is theirs to write", run.id, record.worker)
            return "taken over"
        connection = session.get(Connection, run.connection_id)
        stopped = stopped or stopped_because(connection.status, connection.deleted_at)
        if record.status == RunStatus.cancelled.value or stopped:
            status = RunStatus.cancelled
        failures = [{k: v for k, v in failure.items() if k != "error"} for failure in run.entity_failures]
        record.status, record.finished_at = status.value, utcnow()
        record.needs_attention = bool(run.mismatches or failures)
        record.progress = run.progress()
        record.counters = {**run.counters, "changes": run.changes[:200], "mismatches": run.mismatches[:200],
                           **({"entities_failed": failures} if failures else {})}
        accounts = session.scalar(select(func.count()).select_from(Account).where(
            Account.connection_id == run.connection_id))
        if connection.account_status == "loading":
            connection.account_status = "ready" if accounts else "none"
        if status is RunStatus.cancelled:
            record.error = stopped or record.error or "Cancelled; what was loaded before stays."
        elif status is RunStatus.succeeded:
            apply(connection, Event.refresh_succeeded,
                  "The last refresh needs attention: see the log." if run.mismatches else "")
        elif status is RunStatus.partly_succeeded:
            record.error = _entities_failed(failures)
            apply(connection, Event.refresh_partly_succeeded, record.error)
        elif isinstance(error, AuthRevoked):
            record.error = "The provider no longer accepts our sign-in. Reconnect to resume refreshes."
            if connection.status != ConnectionStatus.reauth_required.value:
                apply(connection, Event.auth_failed, record.error)
        elif status is RunStatus.failed:
            record.error = _entities_failed(failures) if failures and len(failures) > 1 else plain_reason(error)
            apply(connection, Event.refresh_failed, record.error)
    return status.value


def _entities_failed(failures: list[dict[str, Any]]) -> str:
    return " ".join(f"{f['entity']}: {f['reason']} {f['action']}" for f in failures)


# --- one entity

def _refresh_entity(run: Run, entity: EntityScope) -> None:
    periods: set[date] = set()
    for role in ROLES:
        if role is Role.trial_balance:
            continue  # read for reconciliation, once the lines are in
        for stream in run.connector.streams_for(role):
            if run.wants(stream):
                _refresh_stream(run, entity, stream, periods)
    if "trial_balance" in run.data_types and periods:
        for stream in run.connector.streams_for(Role.trial_balance):
            if run.wants(stream):
                reconcile(run, entity, stream, periods)


def _refresh_stream(run: Run, entity: EntityScope, stream: Stream, periods: set[date]) -> None:
    # The company profile has no data type of its own: it is reported with the chart.
    data_type = stream.data_type or "accounts"
    started, calls = time.monotonic(), []
    try:
        written = _pull_stream(run, entity, stream, calls, periods)
    except ProviderError as error:
        run.log(entity, data_type, "failed", Written(), calls, started,
                detail=f"{plain_reason(error)} {fixing_action(error)}")
        raise
    if stream.data_type is not None:
        run.log(entity, data_type, "succeeded", written, calls, started,
                detail=changes.summary(run, entity, data_type, written))
    else:
        run.count_calls(calls)  # not an event of its own in the log, but a call the provider counted


def _pull_stream(run: Run, entity: EntityScope, stream: Stream, calls: list, periods: set[date]) -> Written:
    cursor = None if run.mode == "full" or (run.mode == "repull" and run.streams) else _read_cursor(run, entity,
                                                                                                    stream.name)
    options: PullOptions = {}
    if run.mode == "repull" and run.since is not None:
        options["modified_since"] = datetime.combine(run.since, datetime.min.time(), tzinfo=UTC)
    if stream.role is Role.ledger_lines:
        return _load_ledger(run, entity, stream, options, cursor, periods, calls)
    pages = run.connector.pull(stream, token=run.token, tenant_id=entity.provider_entity_id,
                               cursor=_rewind(stream, cursor, run.settings), options=options, log=calls)
    records, last_cursor = [], cursor
    for page in pages:
        records.extend(page.records)
        last_cursor = page.cursor
        run.pages += 1
        run.rows_read += len(page.records)
    misfits = ""
    with transaction(run.sessions) as session:
        db = session.connection()
        fields = stream_fields.for_load(db, run.connection_id, stream)
        if fields is not None:
            fields.cast_records(records, [getattr(record, "source_id", "") for record in records])
        written = LOADERS[stream.role](db, run, entity, records)
        _save_cursor(db, run, entity, stream, cursor, last_cursor)
        if fields is not None:
            misfits = stream_fields.note_load(db, run.workspace_id, run.connection_id, run.id, stream.name, fields)
        run.rows_written += written.inserted + written.updated
        if stream.data_type is not None:
            run.count(stream.data_type, written, len(records))
        commit_point(db, run, entity=entity.name, stream=stream.name)
    _log_misfits(run, entity, stream, misfits)
    return written


def _load_ledger(run: Run, entity: EntityScope, stream: Stream, options: PullOptions, cursor: str | None,
                 periods: set[date], calls: list) -> Written:
    """Pull and map (server/refresh/reader.py: a long pull in a helper process), and write each batch with
    its cursor."""
    mapper = _line_mapper(run, entity)
    with run.sessions() as session:
        mapper.fields = stream_fields.for_load(session, run.connection_id, stream)
    job = ReadJob(run.app_settings, run.provider, run.setup, stream.name, run.connection_id,
                  entity.provider_entity_id, _rewind(stream, cursor, run.settings), dict(options), mapper,
                  run.settings.batch_rows, stage=not mapper.encoding.sqlite)
    total = Written()
    expect_new = False
    # The collector stays paused for the whole load: batches of tuples are many small objects, and
    # collections walking them page after page cost more than the parse itself (research/perf.md).
    with gc_paused():
        batches = read(job, calls, run.connector, run.token, pages_here=run.settings.pages_in_process)
        ours = True
        try:
            for batch in batches:
                run.pages += batch.pages
                run.rows_read += batch.rows_read
                written = _write_ledger_batch(run, entity, stream, mapper, batch, cursor, expect_new)
                # A stream that met only new lines (a first load, a long catch-up) will most likely go on so.
                expect_new = batch.lines > 0 and written.inserted == batch.lines
                total += written
                cursor = batch.cursor
                del batch  # before the reader unpickles the next one (server/refresh/reader.py)
        except RunTakenOver:
            ours = False  # the tables staged under the run's id may be the new execution's now
            raise
        finally:
            batches.close()
            if job.stage and ours:  # batches staged but not moved (the run stopped early): nobody else will
                with transaction(run.sessions) as session:
                    db = session.connection()
                    drop_staged(db, [table for table, of_run in staged_tables(db).items() if of_run == run.id])
    periods.update(mapper.encoding.periods_seen)
    if mapper.fields is not None:
        with transaction(run.sessions) as session:
            misfits = stream_fields.note_load(session.connection(), run.workspace_id, run.connection_id, run.id,
                                              stream.name, mapper.fields)
        _log_misfits(run, entity, stream, misfits)
    return total


def _log_misfits(run: Run, entity: EntityScope, stream: Stream, misfits: str) -> None:
    """Values that did not fit their field type were left empty on lines that loaded all the same: the log
    names them (an event of its own, after the batch's transaction: events are written in theirs)."""
    if misfits:
        run.log(entity, stream.data_type or "accounts", "needs_attention", Written(), [], time.monotonic(),
                detail=f"{stream.name}: {misfits}")


def _write_ledger_batch(run: Run, entity: EntityScope, stream: Stream, mapper: LineMapper, batch: Batch,
                        cursor: str | None, expect_new: bool) -> Written:
    with transaction(run.sessions) as session:
        db = session.connection()
        written = Written()
        if batch.deleted:  # before the batch's lines: a changed transaction is its deletion, then its lines
            written += delete_lines(db, run.connection_id, entity.id, batch.deleted)
        rows = batch.rows
        if batch.unknown:
            add_accounts_from_lines(db, run, entity, mapper, batch.unknown)
            mapped, still_unknown = mapper.rows(batch.unknown, again=True)
            assert not still_unknown, "every account was just added"
            rows = rows + mapped
        written += write_staged(db, batch.staged, expect_new) if batch.staged else write_lines(db, rows, expect_new)
        if batch.replaced:  # after the lines, so a line this batch moved to another month counts as changed
            written += delete_unlisted_lines(db, run.workspace_id, run.connection_id, entity.id, batch.replaced)
        _save_cursor(db, run, entity, stream, cursor, batch.cursor)
        run.rows_written += written.inserted + written.updated + written.deleted
        run.count("journals", written, batch.lines + len(batch.deleted))
        commit_point(db, run, entity=entity.name, stream=stream.name)
    return written


def _line_mapper(run: Run, entity: EntityScope) -> LineMapper:
    with run.sessions() as session:
        accounts = dict(session.execute(select(Account.source_account_id, Account.id)
                                        .where(Account.entity_id == entity.id)).all())
        routing = load_routing(session, run.workspace_id, entity.id)  # the saved mapping, as of now
        currency = entity.base_currency or session.get(Entity, entity.id).base_currency or NO_CURRENCY
        dialect = session.get_bind().dialect.name
    return LineMapper(run.workspace_id, run.connection_id, entity.id, currency, run.id, accounts, Encoding(dialect),
                      routing)


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


def _save_cursor(db: Any, run: Run, entity: EntityScope, stream: Stream, old: str | None, new: str | None) -> None:
    if new is None or stream.incremental is None:
        return
    if old is not None and stream.incremental.decode(new) < stream.incremental.decode(old):
        return  # a re-read of the overlap (or a re-pull) never moves the cursor back
    upsert(db, SyncCursor.__table__, [{"connection_id": run.connection_id, "entity_id": entity.id,
                                       "stream": stream.name, "value": new, "updated_at": utcnow()}],
           key=("stream",), scope={"connection_id": run.connection_id, "entity_id": entity.id})
