"""`ledgerpane worker` processes (the Procrastinate job queue) to start, read and kill."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.database import REDIS_URL
from tests.support.journey import ORIGIN

# Quick to notice a dead worker and to try a held run again, so tests wait seconds, not minutes.
QUICK_QUEUE = {"job_queue": "procrastinate", "job_queue_heartbeat_seconds": 0.5,
               "job_queue_stalled_seconds": 2.0, "job_queue_retry_seconds": 0.5}


@dataclass
class WorkerProcess:
    process: subprocess.Popen
    output: Path

    def said(self) -> str:
        return self.output.read_text(errors="replace")


def worker_env(db, provider, directory: Path, **environment: str) -> dict[str, str]:
    """The environment of a worker on the test database, refreshing from the sandbox provider, its budgets shared
    in Redis (as workers need) under a namespace of the test's own (the keys expire by themselves)."""
    quick = {f"LEDGERPANE_{key.upper()}": str(value) for key, value in QUICK_QUEUE.items()}
    return {"DATABASE_URL": db.url, "LEDGERPANE_VAR_DIR": str(directory), "LEDGERPANE_SANDBOX": "false",
            "LEDGERPANE_SANDBOX_URL": provider.url, "LEDGERPANE_PUBLIC_URL": ORIGIN,
            "LEDGERPANE_SANDBOX_RATE_SCALE": str(1 / 60), "LEDGERPANE_PROVIDER_BUDGETS": "redis",
            "REDIS_URL": REDIS_URL, "LEDGERPANE_BUDGET_NAMESPACE": f"test-{uuid.uuid4().hex[:12]}", **quick,
            **environment}


def can_pose_as_another_machine() -> bool:
    """Whether a worker can be started under a host name of its own (a UTS namespace: root and unshare)."""
    return os.geteuid() == 0 and shutil.which("unshare") is not None


@contextmanager
def worker_processes(directory: Path) -> Iterator:
    """`start(name, env, host=None)` starts a `ledgerpane worker` process (with `host`: in a UTS namespace of its
    own under that host name, so to the others it is a worker on another machine whose pid they cannot check);
    every one still running is killed at the end."""
    started: list[WorkerProcess] = []

    def start(name: str, env: dict[str, str], host: str | None = None) -> WorkerProcess:
        output = directory / f"worker-{name}.log"
        command = [sys.executable, "-m", "server", "worker"]
        if host is not None:  # `exec`: the pid is the worker's own, to kill or stop
            command = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', host, *command]
        process = subprocess.Popen(command, stdout=output.open("wb"), stderr=subprocess.STDOUT,
                                   env={**os.environ, **env})
        started.append(WorkerProcess(process, output))
        return started[-1]

    try:
        yield start
    finally:
        for worker in started:
            worker.process.kill()
            worker.process.wait(timeout=30)
