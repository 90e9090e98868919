"""Refresh runs as Procrastinate jobs in PostgreSQL (no broker), carried out by `ledgerpane worker` processes.

A job names a connection, not a run: "carry out this connection's queued run". Every job of a connection takes
the lock `connection:<id>` (Procrastinate runs jobs sharing a lock one at a time, in order) and the queueing lock
of the same name (at most one waiting job per lock), so a connection has at most one job running and one
waiting, and a waiting job carries out whichever run is queued when it starts.

A worker says it is alive every `job_queue_heartbeat_seconds`; one worker at a time (a PostgreSQL advisory lock)
looks for jobs of workers silent for `job_queue_stalled_seconds` and puts them back in the queue. The job that
runs again asks runs.py for the connection's run: a run whose process is dead goes back to queued as it stands
and resumes from its committed cursors, so it ends once; a run a live process still holds is tried again later.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import psycopg
from procrastinate import App, JobContext, PsycopgConnector, RetryStrategy, SyncPsycopgConnector
from procrastinate.exceptions import AlreadyEnqueued, ConnectorException, UniqueViolation
from procrastinate.jobs import Job, Status
from procrastinate.schema import SchemaManager
from sqlalchemy import Engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from server.db.models import Connection, RefreshRun
from server.refresh.pipeline import execute
from server.refresh.runs import RefreshSettings, RunHeldElsewhere, run_to_carry_out, worker_name
from server.runtime import Runtime

log = logging.getLogger(__name__)

QUEUE = "refresh"
TASK = "ledgerpane:refresh_connection"


def lock_for(connection_id: int) -> str:
    return f"connection:{connection_id}"


def conninfo(database_url: str) -> str:
    """The libpq form of our database URL (the driver name dropped; options such as a search path kept)."""
    url = make_url(database_url)
    if not url.drivername.startswith("postgres"):
        raise ValueError("the procrastinate job queue keeps its jobs in PostgreSQL: set DATABASE_URL to one")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def apply_schema(engine: Engine) -> None:
    """Procrastinate's tables and functions, beside our migrations (its own schema text, as its `schema --apply`
    would; later versions bring their migration scripts). Once per database schema, whoever starts first."""
    if engine.dialect.name != "postgresql":
        raise ValueError("the procrastinate job queue keeps its jobs in PostgreSQL: set DATABASE_URL to one")
    with engine.begin() as connection:
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('ledgerpane-job-queue:' || current_schema()))"))
        if connection.scalar(text("SELECT to_regclass('procrastinate_jobs')")) is None:
            # The driver's own execute: the script has several statements and % signs that are not parameters.
            connection.connection.driver_connection.execute(SchemaManager.get_schema())


class ProviderBusy(Exception):
    """The provider already has its cap of runs under way (provider_run_slots): try again later."""


def refresh_connection(context: JobContext, connection_id: int) -> str:
    """The job: carry out the connection's queued run (or resume its dead one). Raises RunHeldElsewhere while a
    live process holds the run, ProviderBusy while its provider has all its run slots taken; Procrastinate then
    runs the job again later."""
    runtime: Runtime = context.additional_context["runtime"]
    with provider_slot(runtime, connection_id) as slot:
        if slot is None:
            raise ProviderBusy(f"connection {connection_id}: its provider has all its run slots taken")
        run_id = run_to_carry_out(runtime.sessions, connection_id, RefreshSettings.from_settings(runtime.settings))
        if run_id is None:
            return "nothing queued"
        return execute(runtime, run_id)


@contextlib.contextmanager
def provider_slot(runtime: Runtime, connection_id: int) -> Iterator[int | None]:
    """One of the `provider_run_slots` of the connection's provider, held for the run (0 slots: no cap, yields 0),
    or None when all are taken. A slot is a PostgreSQL advisory lock on a connection of our own, so a worker that
    dies gives its slot back with its connection."""
    slots = runtime.settings.provider_run_slots
    if not slots:
        yield 0
        return
    with runtime.sessions() as session:
        provider = session.scalar(select(Connection.provider).where(Connection.id == connection_id))
    key = "hashtext('ledgerpane-runs:' || current_schema() || ':' || :provider)"
    with runtime.engine.connect() as db:
        for slot in range(slots):
            taken = db.scalar(text(f"SELECT pg_try_advisory_lock({key}, :slot)"), {"provider": provider, "slot": slot})
            db.commit()  # the lock belongs to the connection, not to a transaction left open for the run
            if taken:
                try:
                    yield slot
                finally:
                    try:
                        db.execute(text(f"SELECT pg_advisory_unlock({key}, :slot)"),
                                   {"provider": provider, "slot": slot})
                        db.commit()
                    except DBAPIError:
                        db.invalidate()  # it may still hold the slot: closed, never back in the pool
                return
    yield None


def build_app(settings: Any, connector: Any) -> App:
    app = App(connector=connector)
    # No cap on attempts: a run held elsewhere is presumed dead after RefreshSettings.stale_after at the latest,
    # and a provider's slots free up as its runs end.
    app.task(name=TASK, queue=QUEUE, pass_context=True,
             retry=RetryStrategy(wait=settings.job_queue_retry_seconds,
                                 retry_exceptions={RunHeldElsewhere, ProviderBusy}))(refresh_connection)
    return app


class ProcrastinateJobs:
    """runtime.JobQueue over Procrastinate: `submit` writes a job row; workers elsewhere carry it out."""

    def __init__(self, runtime: Runtime) -> None:
        self._sessions = runtime.sessions
        self._app = build_app(runtime.settings, SyncPsycopgConnector(
            conninfo=conninfo(runtime.settings.effective_database_url), min_size=1, max_size=4))
        self._app.open()

    def submit(self, run_id: int) -> None:
        with self._sessions() as session:
            connection_id = session.scalar(select(RefreshRun.connection_id).where(RefreshRun.id == run_id))
        lock = lock_for(connection_id)
        try:
            self._app.tasks[TASK].configure(lock=lock, queueing_lock=lock).defer(connection_id=connection_id)
        except AlreadyEnqueued:
            log.debug("run %s: the waiting job of connection %s will carry it out", run_id, connection_id)

    def close(self) -> None:
        self._app.close()


def run_worker(runtime: Runtime, concurrency: int) -> None:
    """`ledgerpane worker`: carry out refresh jobs until SIGTERM or SIGINT (runs under way end first)."""
    asyncio.run(_work(runtime, concurrency))


async def _work(runtime: Runtime, concurrency: int) -> None:
    settings = runtime.settings
    dsn = conninfo(settings.effective_database_url)
    app = build_app(settings, PsycopgConnector(conninfo=dsn, min_size=1, max_size=concurrency + 4))
    async with app.open_async():
        sweeper = asyncio.create_task(_retry_stalled_jobs(app, dsn, settings))
        try:
            await app.run_worker_async(
                name=worker_name(), queues=[QUEUE], concurrency=concurrency, delete_jobs="successful",
                additional_context={"runtime": runtime},
                update_heartbeat_interval=settings.job_queue_heartbeat_seconds,
                stalled_worker_timeout=settings.job_queue_stalled_seconds)
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper


async def _retry_stalled_jobs(app: App, dsn: str, settings: Any) -> None:
    """Put the jobs of dead workers back in the queue. One worker at a time does it: it holds an advisory lock
    on a connection of its own (so the lock ends with the process), and the others try again each round."""
    holder: psycopg.AsyncConnection | None = None
    held = False
    try:
        while True:
            try:
                if holder is None:
                    holder = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
                    held = False
                if not held:
                    cursor = await holder.execute(
                        "SELECT pg_try_advisory_lock(hashtext('ledgerpane-stalled-jobs:' || current_schema()))")
                    held = bool((await cursor.fetchone())[0])
                if held:
                    for job in await app.job_manager.get_stalled_jobs(
                            queue=QUEUE, seconds_since_heartbeat=settings.job_queue_stalled_seconds):
                        await _retry(app, job)
            except (psycopg.Error, ConnectorException) as error:
                log.warning("looking for stalled jobs failed (%s); trying again", type(error).__name__)
                if holder is not None:
                    await holder.close()
                holder, held = None, False
            await asyncio.sleep(settings.job_queue_stalled_seconds / 3)
    finally:
        if holder is not None:  # the lock goes with the connection: another worker sweeps from now on
            await holder.close()


async def _retry(app: App, job: Job) -> None:
    try:
        await app.job_manager.retry_job(job)
        log.warning("job %s (%s): its worker stopped answering; it is queued again", job.id, job.queueing_lock)
    except UniqueViolation:
        # The connection already has a waiting job: that one carries out (or resumes) the connection's run.
        await app.job_manager.finish_job_by_id_async(job.id, status=Status.FAILED, delete_job=False)
        log.warning("job %s (%s): its worker stopped answering; the connection's waiting job takes over",
                    job.id, job.queueing_lock)
