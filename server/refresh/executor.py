"""The embedded job queue: refresh runs carried out by a thread pool in this process (runtime.JobQueue)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from server.refresh.pipeline import execute
from server.runtime import Runtime


class ThreadPoolJobs:
    """Runs execute here, off the request threads. A distributed engine can replace this behind the same
    `submit`; a run whose process dies is presumed dead by the next request for that connection."""

    def __init__(self, runtime: Runtime, workers: int) -> None:
        self._runtime = runtime
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="refresh")

    def submit(self, run_id: int) -> None:
        self._pool.submit(execute, self._runtime, run_id)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)
