"""Where refresh runs execute: the job queue behind `runtime.JobQueue` (DESIGN.md, "The data flow of one refresh").

`threads` (the embedded default): a thread pool in the process that asked for the run (server/refresh/executor.py).
`procrastinate`: jobs kept in PostgreSQL, carried out by `ledgerpane worker` processes on any number of machines
(procrastinate_queue.py). Either way a run is a row first, and the database's one-run-per-connection rule
(server/refresh/runs.py) has the last word; the queue only says where and when it is carried out.
"""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import DBAPIError

from server.refresh.runs import queued_runs
from server.runtime import JobQueue, Runtime

log = logging.getLogger(__name__)

KINDS = ("threads", "procrastinate")


def job_queue_for(runtime: Runtime) -> JobQueue:
    """The job queue the settings name (LEDGERPANE_JOB_QUEUE)."""
    kind = runtime.settings.job_queue
    if kind == "threads":
        from server.refresh.executor import ThreadPoolJobs

        return ThreadPoolJobs(runtime, runtime.settings.refresh_workers)
    if kind == "procrastinate":
        from server.jobs.procrastinate_queue import ProcrastinateJobs

        return ProcrastinateJobs(runtime)
    raise ValueError(f"LEDGERPANE_JOB_QUEUE must be one of {', '.join(KINDS)}, not {kind!r}")


def resubmit_queued(runtime: Any) -> list[int]:
    """Hand every queued run to this process's job queue again, at start: a run whose process stopped before
    a worker took it would otherwise block its connection until it is presumed dead. A run handed over twice
    is claimed once (the pipeline locks the run row to claim it). Returns the runs handed over."""
    try:
        run_ids = queued_runs(runtime.sessions)
    except DBAPIError as error:  # the service still starts (its health check says why); the next start tries again
        log.warning("could not look for queued runs to re-queue (%s)", type(error).__name__)
        return []
    for run_id in run_ids:
        runtime.jobs.submit(run_id)
    if run_ids:
        log.info("re-queued %d run(s) left queued: %s", len(run_ids), run_ids)
    return run_ids


def prepare_database(settings: Any, engine: Any) -> None:
    """What the chosen queue keeps in the database beside our migrations (Procrastinate's own schema)."""
    if settings.job_queue == "procrastinate":
        from server.jobs.procrastinate_queue import apply_schema

        apply_schema(engine)
