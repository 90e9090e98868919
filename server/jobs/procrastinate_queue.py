"""Refresh runs as Procrastinate jobs in PostgreSQL (no broker), carried out by `ledgerpane worker` processes.

A job names a connection, not a run: "carry out this connection's queued run". Every job of a connection takes
the lock `connection:<id>` (Procrastinate runs jobs sharing a lock one at a time, in order) and the queueing lock
of the same name (at most one waiting job per lock), so a connection has at most one job running and one
waiting, and a waiting job carries out whichever run is queued when it starts.

A worker says it is alive every `job_queue_heartbeat_seconds`; one worker at a time (a PostgreSQL advisory lock)
looks for jobs of workers silent for `job_queue_stalled_seconds` and puts them back in the queue. The job that
runs again asks runs.py for the connection's run: a run whose process is dead goes back to queued as it stands
and resumes from its committed cursors, so it ends once; a run a live process still holds is tried again later.

runs.py can tell a dead process only on its own machine (by its pid); for another machine's it waits for the run's
`stale_after` silence (ten minutes, as batches may be minutes apart). So every worker also holds a presence lock
for its lifetime (an advisory lock named after it, on a connection of its own whose silent peer PostgreSQL gives up
by TCP keepalives before the stalled-job sweep acts): a run whose holder's presence lock is free was left by a dead
worker and is taken over at once, on any machine. A worker that loses its presence connection stops: others may
take its runs.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
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
from server.refresh.runs import RefreshSettings, RunHeldElsewhere, not_stopped, run_to_carry_out, worker_name
from server.runtime import Runtime

log = logging.getLogger(__name__)

QUEUE = "refresh"
TASK = "ledgerpane:refresh_connection"
EX_TEMPFAIL = 75  # a worker's exit status for "not now, start me again": its supervisor retries


class PresenceTaken(Exception):
    """Another live connection holds this worker's presence lock (its name): most likely this same container's
    previous process, whose connection PostgreSQL has not given up yet."""


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
        settings = RefreshSettings.from_settings(runtime.settings)
        try:
            run_id = run_to_carry_out(runtime.sessions, connection_id, settings)
        except RunHeldElsewhere:
            if not holder_gone(runtime, connection_id):
                raise
            # Its worker is gone (its presence lock is free): take the run over now rather than after stale_after.
            run_id = run_to_carry_out(runtime.sessions, connection_id,
                                      dataclasses.replace(settings, stale_after=timedelta(0)))
            log.warning("connection %s: the worker carrying out its run is gone; run %s is taken over",
                        connection_id, run_id)
        if run_id is None:
            return "nothing queued"
        return execute(runtime, run_id)


PRESENCE_KEY = "hashtext('ledgerpane-worker:' || current_schema())"


def holder_gone(runtime: Runtime, connection_id: int) -> bool:
    """Whether the worker carrying out the connection's active run is gone, on whatever machine it ran: its
    presence lock is free. A holder on this machine is left to runs.py's own check (its pid), which also
    covers processes that hold no presence lock (`ledgerpane refresh` run by hand)."""
    with runtime.sessions() as session:
        holder = session.scalar(select(RefreshRun.worker).where(RefreshRun.connection_id == connection_id,
                                                                not_stopped()).order_by(RefreshRun.id))
    if not holder or holder.rpartition(":")[0] == socket.gethostname():
        return False
    with runtime.engine.connect() as db:
        free = db.scalar(text(f"SELECT pg_try_advisory_lock({PRESENCE_KEY}, hashtext(:holder))"),
                         {"holder": holder})
        if free:
            db.execute(text(f"SELECT pg_advisory_unlock({PRESENCE_KEY}, hashtext(:holder))"), {"holder": holder})
        db.commit()
    return bool(free)


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
    """`ledgerpane worker`: carry out refresh jobs until SIGTERM or SIGINT (runs under way end first). Exits with
    EX_TEMPFAIL when its presence lock is taken or lost: started again a little later, it goes on."""
    try:
        asyncio.run(_work(runtime, concurrency))
    except PresenceTaken as taken:
        log.error("%s; exiting with status %d so that it is started again once that one is gone", taken, EX_TEMPFAIL)
        raise SystemExit(EX_TEMPFAIL) from None


async def _work(runtime: Runtime, concurrency: int) -> None:
    settings = runtime.settings
    dsn = conninfo(settings.effective_database_url)
    # Procrastinate runs a sync job on the loop's default executor, whose few threads (cores + 4) would cap the
    # runs at once below `concurrency`.
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(concurrency, thread_name_prefix="run"))
    app = build_app(settings, PsycopgConnector(conninfo=dsn, min_size=1, max_size=concurrency + 4))
    name = worker_name()
    presence = await _hold_presence(dsn, name, settings)
    async with app.open_async():
        watch = asyncio.create_task(_keep_presence(presence, name, settings))
        sweeper = asyncio.create_task(_retry_stalled_jobs(app, dsn, settings))
        try:
            await app.run_worker_async(
                name=name, queues=[QUEUE], concurrency=concurrency, delete_jobs="successful",
                additional_context={"runtime": runtime},
                update_heartbeat_interval=settings.job_queue_heartbeat_seconds,
                stalled_worker_timeout=settings.job_queue_stalled_seconds)
        finally:
            for task in (sweeper, watch):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await presence.close()


async def _hold_presence(dsn: str, name: str, settings: Any) -> psycopg.AsyncConnection:
    """This worker's presence lock, on a connection of its own. Keepalives on both ends: PostgreSQL drops the
    connection, and with it the lock, when this machine goes silent, and this process notices it has lost it, both
    well within `job_queue_stalled_seconds`, before the stalled-job sweep hands its jobs to others (a killed
    process's connection closes at once)."""
    probe = presence_probe_seconds(settings)
    presence = await psycopg.AsyncConnection.connect(
        dsn, autocommit=True, keepalives=1, keepalives_idle=probe, keepalives_interval=probe, keepalives_count=3,
        tcp_user_timeout=probe * 3000)
    for setting, value in (("tcp_keepalives_idle", probe), ("tcp_keepalives_interval", probe),
                           ("tcp_keepalives_count", 3), ("tcp_user_timeout", probe * 3000)):
        await presence.execute(f"SET {setting} = {value}")
    cursor = await presence.execute(f"SELECT pg_try_advisory_lock({PRESENCE_KEY}, hashtext(%s))", (name,))
    if not (await cursor.fetchone())[0]:
        await presence.close()
        raise PresenceTaken(f"another worker already holds the presence lock of {name}")
    return presence


def presence_probe_seconds(settings: Any) -> int:
    """Seconds between keepalive probes: a silent peer is given up after four of them."""
    return max(1, int(settings.job_queue_stalled_seconds // 6))


async def _keep_presence(presence: psycopg.AsyncConnection, name: str, settings: Any) -> None:
    """Stop the process if its presence connection is lost: its runs may already be taken over elsewhere, and
    going on would write a run twice. The runs resume (once) in other workers."""
    while True:
        await asyncio.sleep(presence_probe_seconds(settings))
        try:
            await presence.execute("SELECT 1")
        except psycopg.Error as error:
            log.critical("worker %s lost its presence in the database (%s): stopping at once so that its runs are "
                         "carried out once, elsewhere", name, type(error).__name__)
            logging.shutdown()
            os._exit(EX_TEMPFAIL)


async def _retry_stalled_jobs(app: App, dsn: str, settings: Any) -> None:
    """Put the jobs of dead workers back in the queue. One worker at a time does it, each round under an advisory
    lock held for that round's transaction only: a worker that hangs between rounds (stopped, swapped out) keeps
    no one else from sweeping, its own jobs included."""
    holder: psycopg.AsyncConnection | None = None
    try:
        while True:
            try:
                if holder is None:
                    holder = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
                async with holder.transaction():
                    cursor = await holder.execute(
                        "SELECT pg_try_advisory_xact_lock(hashtext('ledgerpane-stalled-jobs:' || current_schema()))")
                    if (await cursor.fetchone())[0]:
                        for job in await app.job_manager.get_stalled_jobs(
                                queue=QUEUE, seconds_since_heartbeat=settings.job_queue_stalled_seconds):
                            await _retry(app, job)
            except (psycopg.Error, ConnectorException) as error:
                log.warning("looking for stalled jobs failed (%s); trying again", type(error).__name__)
                if holder is not None:
                    await holder.close()
                holder = None
            await asyncio.sleep(settings.job_queue_stalled_seconds / 3)
    finally:
        if holder is not None:
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
