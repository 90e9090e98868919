"""How reader helper processes start (server/refresh/reader.py). A leaf: it imports nothing of ours.

On Linux and macOS helpers fork from a server process started once, that imported our modules already,
so a helper starts in milliseconds and copies no lock held by one of the service's threads. Where there
is no fork server (Windows: the Python client of desktop Excel users imports this package there) they
spawn, which is slower to start but the same otherwise.
"""
from __future__ import annotations

import multiprocessing
import sys
from multiprocessing.context import BaseContext

context: BaseContext
try:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["server.refresh.reader", "server.runtime"])
except ValueError:  # no fork server on this platform
    context = multiprocessing.get_context("spawn")

_peak_rss_kib = 0  # the largest any helper of this process reported: its memory is not in our own peak


def note_peak(kib: int) -> None:
    global _peak_rss_kib
    _peak_rss_kib = max(_peak_rss_kib, kib)


def helpers_peak_rss_mib() -> float:
    """The highest peak resident memory a helper of this process reported (benchmarks print it)."""
    return _peak_rss_kib / 1024


def own_peak_rss_kib() -> int:
    """This process's peak resident memory in KiB (0 where the platform does not say)."""
    try:
        import resource
    except ImportError:  # Windows
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # macOS reports bytes, Linux KiB


def warm_up(wait: bool = False) -> None:
    """Start the process helpers are forked from, so the first refresh does not wait for its imports
    (about half a second). Returns at once, or with `wait` once it can fork (benchmarks measure a
    running service). Idempotent; nothing to do where helpers spawn."""
    if context.get_start_method() != "forkserver":
        return
    from multiprocessing import forkserver

    forkserver.ensure_running()
    if wait:
        ready = context.Process(target=int, name="ledger-reader-warm-up")
        ready.start()
        ready.join()
