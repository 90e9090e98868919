"""`ledgerpane worker` processes (the Procrastinate job queue) to start, read and kill."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

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
    """The environment of a worker on the test database, refreshing from the sandbox provider."""
    quick = {f"LEDGERPANE_{key.upper()}": str(value) for key, value in QUICK_QUEUE.items()}
    return {"DATABASE_URL": db.url, "LEDGERPANE_VAR_DIR": str(directory), "LEDGERPANE_SANDBOX": "false",
            "LEDGERPANE_SANDBOX_URL": provider.url, "LEDGERPANE_PUBLIC_URL": ORIGIN,
            "LEDGERPANE_SANDBOX_RATE_SCALE": str(1 / 60), **quick, **environment}


@contextmanager
def worker_processes(directory: Path) -> Iterator:
    """`start(name, env)` starts a `ledgerpane worker` process; every one still running is killed at the end."""
    started: list[WorkerProcess] = []

    def start(name: str, env: dict[str, str]) -> WorkerProcess:
        output = directory / f"worker-{name}.log"
        process = subprocess.Popen([sys.executable, "-m", "server", "worker"], stdout=output.open("wb"),
                                   stderr=subprocess.STDOUT, env={**os.environ, **env})
        started.append(WorkerProcess(process, output))
        return started[-1]

    try:
        yield start
    finally:
        for worker in started:
            worker.process.kill()
            worker.process.wait(timeout=30)
