"""The one active scheduler: APScheduler 3 with its job store in the application database.

APScheduler 3 does not coordinate processes that share a job store (its FAQ: duplicate or missed runs), so
a process schedules only while it holds a database lock: a PostgreSQL advisory lock (held by a connection
of its own, so it ends when the process does), or on SQLite a lease row it renews. Any number of processes
may run a `SchedulerService`; one is active, the others stand by and take over within a lease of its death.

The active one keeps one job per scheduled connection (a stable id; a job that did not change is left alone,
so a night missed while no scheduler ran is still in the store and runs once on return, within the misfire
grace; coalescing folds several missed moments into one run). Every `scheduler_poll_seconds` it reads the
schedules again (web workers change them in the database, never in a scheduler) and counts the outcomes of
scheduled runs (policy.py). Jobs hold a connection id only: the store pickles them by reference.
"""
from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from datetime import UTC, timedelta
from typing import Any, Protocol

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, create_engine, or_, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.pool import NullPool

from server.db.engine import transaction
from server.db.models import SCHEDULER_JOBS, Connection, ConnectionStatus, SchedulerLease, Workspace, utcnow
from server.notify import Notifier
from server.refresh.runs import worker_name
from server.scheduler.keepalive import check_grants
from server.scheduler.policy import count_outcomes, fire
from server.scheduler.timing import Schedule, ScheduleTrigger

log = logging.getLogger(__name__)

JOBS, HOUSEKEEPING = "default", "housekeeping"
LEASE = "scheduler"
_active: dict[str, Any] = {}  # the runtime of this process's active scheduler, for jobs read from the store


def job_id(connection_id: int) -> str:
    return f"refresh-connection-{connection_id}"


def refresh_connection(connection_id: int) -> None:
    """A scheduled connection is due (the job function, stored by reference)."""
    runtime = _active.get("runtime")
    if runtime is None:
        return  # this process stepped down since the job was handed to the executor
    log.info("connection %s: schedule due: %s", connection_id, fire(runtime, connection_id))


# --- who is the active scheduler

class Leadership(Protocol):
    def acquire(self) -> bool: ...  # take the lock, or keep it: False when another process holds it

    def release(self) -> None: ...


class AdvisoryLock:
    """A PostgreSQL session-level advisory lock on a connection of its own (never pooled, so closing it, or the
    process dying, releases the lock). Keyed by schema: deployments sharing a database in schemas of their own
    each have their scheduler."""

    def __init__(self, engine: Engine) -> None:
        self._engine = create_engine(engine.url, poolclass=NullPool)
        self._connection = None
        self._held = False

    def acquire(self) -> bool:
        try:
            if self._connection is None:
                self._connection = self._engine.connect()
            if self._held:
                self._connection.execute(text("SELECT 1"))  # still there: the lock lives with the connection
            else:
                self._held = bool(self._connection.execute(text(
                    "SELECT pg_try_advisory_lock(hashtext('ledgerpane-scheduler:' || current_schema()))")).scalar())
            self._connection.commit()
        except DBAPIError as error:
            log.warning("scheduler lock: the database connection failed (%s)", type(error).__name__)
            self.release()
            return False
        return self._held

    def release(self) -> None:
        connection, self._connection, self._held = self._connection, None, False
        if connection is not None:
            with contextlib.suppress(DBAPIError):  # the connection is gone, and the lock with it
                connection.close()


class LeaseRow:
    """A row naming the holder until a time; renewed at a third of its length, taken over once it ran out."""

    def __init__(self, sessions: Any, holder: str, seconds: float) -> None:
        self._sessions, self._holder, self._length = sessions, holder, timedelta(seconds=seconds)

    def acquire(self) -> bool:
        now = utcnow()
        try:
            with transaction(self._sessions) as session:
                taken = session.execute(
                    update(SchedulerLease).where(SchedulerLease.name == LEASE, or_(
                        SchedulerLease.holder == self._holder, SchedulerLease.expires_at < now))
                    .values(holder=self._holder, expires_at=now + self._length)).rowcount
                if taken:
                    return True
                if session.get(SchedulerLease, LEASE) is not None:
                    return False
                session.add(SchedulerLease(name=LEASE, holder=self._holder, expires_at=now + self._length))
            return True
        except IntegrityError:
            return False  # another process created the row first
        except DBAPIError as error:
            log.warning("scheduler lease: the database failed (%s)", type(error).__name__)
            return False

    def release(self) -> None:
        """End the lease now, so a standby need not wait for it to run out."""
        try:
            with transaction(self._sessions) as session:
                session.execute(update(SchedulerLease).where(SchedulerLease.name == LEASE,
                                                             SchedulerLease.holder == self._holder)
                                .values(expires_at=utcnow()))
        except DBAPIError:
            pass  # it runs out by itself


def leadership_for(runtime: Any, holder: str) -> Leadership:
    if runtime.engine.dialect.name == "postgresql":
        return AdvisoryLock(runtime.engine)
    return LeaseRow(runtime.sessions, holder, runtime.settings.scheduler_lease_seconds)


# --- the jobs

def wanted_schedules(sessions: Any) -> dict[str, tuple[int, ScheduleTrigger]]:
    """job id -> (connection id, trigger) for every connection that has a running schedule. A connection
    whose sign-in was never finished has none; disconnected and re-auth-required ones keep theirs and are
    skipped with a log event when due."""
    with sessions() as session:
        rows = session.execute(select(Connection, Workspace.timezone).join(Workspace).where(
            Connection.deleted_at.is_(None), Connection.schedule_paused.is_(False),
            Connection.status != ConnectionStatus.setup.value)).all()
        return {job_id(c.id): (c.id, ScheduleTrigger(Schedule.of(c, timezone))) for c, timezone in rows}


def sync(scheduler: BackgroundScheduler, sessions: Any) -> None:
    """Make the job store say what the schedules say. An unchanged job keeps its next run time."""
    wanted = wanted_schedules(sessions)
    existing = {job.id: job for job in scheduler.get_jobs(jobstore=JOBS)}
    for identifier, (connection_id, trigger) in wanted.items():
        job = existing.get(identifier)
        if job is None or job.trigger != trigger:
            scheduler.add_job(refresh_connection, trigger, args=[connection_id], id=identifier, jobstore=JOBS,
                              name=f"refresh connection {connection_id}", replace_existing=True)
    for identifier in existing.keys() - wanted.keys():
        scheduler.remove_job(identifier, jobstore=JOBS)


class SchedulerService:
    """Stands by until it holds the lock, schedules while it does, steps down if it loses it."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.holder = f"{worker_name()}:{uuid.uuid4().hex[:8]}"
        self.leadership = leadership_for(runtime, self.holder)
        self.notifier = Notifier(runtime.settings, runtime.sessions)
        self.scheduler: BackgroundScheduler | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        return self.scheduler is not None

    def run(self) -> None:
        """Until `stop`: try for the lock (standing by) or keep it (scheduling), a third of a lease apart."""
        settings = self.runtime.settings
        log.info("scheduler %s: standing by until it holds the scheduler lock", self.holder)
        try:
            while not self._stop.is_set():
                holds = self.leadership.acquire()
                if holds and self.scheduler is None:
                    self._become_active()
                elif not holds and self.scheduler is not None:
                    self._step_down("it lost the scheduler lock")
                self._stop.wait(settings.scheduler_lease_seconds / 3)
        finally:
            self._step_down("it was stopped")
            self.leadership.release()

    def start(self) -> SchedulerService:
        self._thread = threading.Thread(target=self.run, name="scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _become_active(self) -> None:
        settings = self.runtime.settings
        # APScheduler says "Running job"/"executed successfully" for each poll at INFO; misfires stay (WARNING).
        logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
        store = SQLAlchemyJobStore(engine=self.runtime.engine, tablename=SCHEDULER_JOBS.name)
        scheduler = BackgroundScheduler(
            jobstores={JOBS: store, HOUSEKEEPING: MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(4)},
            job_defaults={"coalesce": True, "max_instances": 1,
                          "misfire_grace_time": settings.schedule_misfire_grace_minutes * 60},
            timezone=UTC)
        _active["runtime"] = self.runtime
        scheduler.start(paused=True)  # the store is brought up to date before anything in it fires
        sync(scheduler, self.runtime.sessions)
        scheduler.add_job(self._housekeeping, IntervalTrigger(seconds=settings.scheduler_poll_seconds),
                          id="housekeeping", jobstore=HOUSEKEEPING, misfire_grace_time=None)
        scheduler.add_job(self._check_grants, IntervalTrigger(seconds=settings.grant_check_seconds), id="grants",
                          jobstore=HOUSEKEEPING, misfire_grace_time=None, next_run_time=utcnow())
        scheduler.resume()
        self.scheduler = scheduler
        log.info("scheduler %s: active (%d scheduled connections)", self.holder, len(scheduler.get_jobs(JOBS)))

    def _housekeeping(self) -> None:
        scheduler = self.scheduler
        if scheduler is None:
            return  # stepping down
        try:
            sync(scheduler, self.runtime.sessions)
            count_outcomes(self.runtime.sessions, self.runtime.settings.schedule_failures_to_pause,
                           self.notifier.send, self.runtime.settings.notify_every_failure)
        except DBAPIError as error:
            log.warning("scheduler: reading schedules failed (%s); trying again", type(error).__name__)

    def _check_grants(self) -> None:
        if self.scheduler is None:
            return  # stepping down
        try:
            for connection_id, done in check_grants(self.runtime, self.notifier).items():
                log.info("connection %s: sign-in %s", connection_id, done)
        except DBAPIError as error:
            log.warning("scheduler: checking grants failed (%s); trying again", type(error).__name__)

    def _step_down(self, why: str) -> None:
        scheduler, self.scheduler = self.scheduler, None
        if scheduler is None:
            return
        _active.pop("runtime", None)
        scheduler.shutdown(wait=False)
        log.warning("scheduler %s: stood down: %s", self.holder, why)
