"""The scheduler's job store and runs as tests look at them, and `ledgerpane scheduler` processes to kill."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from sqlalchemy import select

from server.db.models import SCHEDULER_JOBS, RefreshRun
from server.scheduler.service import job_id

QUICK = {"scheduler_poll_seconds": 0.5, "scheduler_lease_seconds": 3.0}


def set_next_run(engine, connection_id: int, when: datetime) -> None:
    """Move a stored job's next run, as if the scheduler had been down since `when`: through APScheduler's own
    job store, with no scheduler of its own (a scheduler shutting down may still process what is due)."""
    store = SQLAlchemyJobStore(engine=engine, tablename=SCHEDULER_JOBS.name)
    store.start(None, "default")
    job = store.lookup_job(job_id(connection_id))
    job.next_run_time = when
    store.update_job(job)


def stored_next_run(engine, connection_id: int) -> datetime | None:
    with engine.connect() as connection:
        stamp = connection.scalar(select(SCHEDULER_JOBS.c.next_run_time)
                                  .where(SCHEDULER_JOBS.c.id == job_id(connection_id)))
    return None if stamp is None else datetime.fromtimestamp(stamp, UTC)


def scheduled_runs(db, connection_id: int) -> list[RefreshRun]:
    with db.sessions() as session:
        return list(session.scalars(select(RefreshRun).where(RefreshRun.connection_id == connection_id,
                                                             RefreshRun.trigger == "scheduled")
                                    .order_by(RefreshRun.id)))


@dataclass
class SchedulerProcess:
    process: subprocess.Popen
    output: Path

    def said(self, text: str) -> bool:
        return text in self.output.read_text(errors="replace")


@contextmanager
def scheduler_processes(directory: Path, env: dict[str, str]) -> Iterator:
    """Start `ledgerpane scheduler` processes with `start(name)`; all are killed at the end."""
    started: list[SchedulerProcess] = []

    def start(name: str) -> SchedulerProcess:
        output = directory / f"scheduler-{name}.log"
        handle = output.open("wb")
        process = subprocess.Popen([sys.executable, "-m", "server", "scheduler"], stdout=handle,
                                   stderr=subprocess.STDOUT, env={**os.environ, **env})
        started.append(SchedulerProcess(process, output))
        return started[-1]

    try:
        yield start
    finally:
        for scheduler in started:
            scheduler.process.kill()
            scheduler.process.wait(timeout=30)
