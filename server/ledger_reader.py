"""Reads a ledger (the journals stream) in a helper process, while the refresh writes what it has read.

Why a process: pulling a page (HTTP, JSON with exact decimals, records, rows) and writing it are both
Python work, so in two threads of one interpreter they take turns and their costs add up; in two
processes they run side by side on two cores. benchmarks/refresh_full.py measures the difference.

The helper builds its own connector and token source from the same settings (the vault serialises token
refreshes across processes with the connection row's lock), maps pages with the mapper it was handed,
and sends batches of rows, each with the cursor that follows it, through a pipe. The refresh commits a
batch and its cursor together, exactly as before, so a crash of either process loses nothing that was
committed. If the refresh stops, it ends the helper; if the refresh's process dies, the helper's next
send fails and it exits.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from server.config import Settings
from server.connectors.base import gc_paused
from server.connectors.http import RequestRecord
from server.mapping.ledger import LineMapper

# A fresh interpreter, forked from a server that imported our modules once, so starting a helper
# costs milliseconds, and no lock held by one of the service's threads is copied into it.
_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(["server.ledger_reader", "server.services"])


@dataclass
class ReadJob:
    settings: Settings
    provider: str
    connection_id: int
    tenant_id: str
    cursor: str | None
    options: dict[str, Any]
    mapper: LineMapper
    batch_rows: int


@dataclass
class Batch:
    rows: list[tuple]
    unknown: list[Any]  # lines whose account the chart does not have yet
    cursor: str | None  # where the stream stands once these rows are committed
    pages: int
    rows_read: int
    calls: list[RequestRecord]  # the requests made for these rows, as the integration log shows them


@dataclass
class _End:
    periods: set[date] = field(default_factory=set)


@dataclass
class _Failed:
    error: BaseException
    calls: list[RequestRecord]  # since the last batch: the failed attempts are what the log must show


class HelperFailed(Exception):
    """Something other than the provider went wrong in the helper; its traceback is the message."""


def read(job: ReadJob, log: list[RequestRecord]) -> Iterator[Batch]:
    """Batches from a helper process, until the stream is read; every request it made is added to `log`.
    Raises what the helper raised (provider errors keep their type). Closing the iterator early ends
    the helper."""
    receiver, sender = _context.Pipe(duplex=False)
    helper = _context.Process(target=_read_in_helper, args=(job, sender), name="ledger-reader", daemon=True)
    helper.start()
    sender.close()  # ours is the reading end only: if the helper dies, recv() says so
    periods: set[date] = set()
    try:
        while True:
            try:
                item = receiver.recv()
            except EOFError:
                raise HelperFailed(f"the ledger reader stopped unexpectedly (exit code {helper.exitcode})") from None
            if isinstance(item, Batch):
                log.extend(item.calls)
                yield item
            elif isinstance(item, _End):
                periods = item.periods
                break
            else:
                log.extend(item.calls)
                raise item.error
    finally:
        receiver.close()
        if helper.is_alive():
            helper.terminate()
        helper.join(timeout=10)
    job.mapper.encoding.periods_seen.update(periods)


def _read_in_helper(job: ReadJob, out: Any) -> None:
    from server.services import Services

    services = Services(job.settings)
    calls: list[RequestRecord] = []
    try:
        connector = services.connector(job.provider)
        pages = connector.pull("journals", token=services.vault.token_source(job.connection_id),
                               tenant_id=job.tenant_id, cursor=job.cursor, options=job.options, log=calls)
        rows: list[tuple] = []
        unknown: list[Any] = []
        count = read_lines = 0
        cursor = job.cursor
        with gc_paused():
            for page in pages:
                mapped, missing = job.mapper.rows(page.records)
                rows += mapped
                unknown += missing
                cursor, count, read_lines = page.cursor, count + 1, read_lines + len(page.records)
                if len(rows) + len(unknown) >= job.batch_rows:
                    out.send(Batch(rows, unknown, cursor, count, read_lines, calls))
                    rows, unknown, calls[:] = [], [], []
                    count = read_lines = 0
            if rows or unknown or count:
                out.send(Batch(rows, unknown, cursor, count, read_lines, calls))
        out.send(_End(job.mapper.encoding.periods_seen))
    except BrokenPipeError:
        return  # the refresh is gone: nobody to tell
    except Exception as error:  # noqa: BLE001 - every failure is handed to the refresh, which reports it
        from server.connectors import ProviderError

        if not isinstance(error, ProviderError):
            error = HelperFailed("".join(traceback.format_exception(error)))
        else:
            error.response = None  # not worth carrying across (and not always picklable)
        error.__traceback__ = None
        with contextlib.suppress(BrokenPipeError):
            out.send(_Failed(error, calls))
    finally:
        services.engine.dispose()
