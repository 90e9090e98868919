"""Reads a ledger (a connector's ledger-lines stream) in a helper process, while the refresh writes what it has read.

Why a process: pulling a page (HTTP, JSON with exact decimals, records, rows) and writing it are both
Python work, so in two threads of one interpreter they take turns and their costs add up; in two
processes they run side by side on two cores. benchmarks/refresh_full.py measures the difference.

The helper builds its own connector and token source from the same settings (the vault serialises token
refreshes across processes with the connection row's lock), maps pages with the mapper it was handed,
and sends batches of rows, each with the cursor that follows it, through a pipe. On PostgreSQL it copies
each batch into a table of its own first (store.stage_lines) and sends the table's name instead: the COPY
then runs on a second database session, beside the run's merge of the batch before, and no rows cross
the pipe. The refresh commits a batch and its cursor together, exactly as before, so a crash of either
process loses nothing that was committed. If the refresh stops, it ends the helper; if the refresh's
process dies, the helper's next send fails and it exits.
"""
from __future__ import annotations

import contextlib
import pickle
import queue
import threading
import traceback
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from server.config import Settings
from server.connectors.framework.connector import Connector
from server.connectors.framework.errors import ProviderError
from server.connectors.framework.http import RequestRecord, TokenSource
from server.connectors.framework.parsing import gc_paused
from server.connectors.framework.records import Deletion, ReplacedRange
from server.mapping.fields import FieldsSeen
from server.mapping.ledger import LineMapper
from server.refresh.helpers import context, note_peak, own_peak_rss_kib
from server.store.ledger import SOURCE_JOURNAL, SOURCE_LINE, StagedLines, drop_staged, stage_lines

AHEAD = 2  # batches taken off the pipe before the refresh asks for them


@dataclass
class ReadJob:
    settings: Settings
    provider: str
    setup: dict[str, str]  # the connection's stored setup: the helper builds the same connector
    stream: str  # the name of the connector's ledger-lines stream
    connection_id: int
    tenant_id: str
    cursor: str | None
    options: dict[str, Any]
    mapper: LineMapper
    batch_rows: int
    stage: bool = False  # a helper stages its batches in the database (PostgreSQL)


@dataclass
class Batch:
    rows: list[tuple]
    unknown: list[Any]  # lines whose account the chart does not have yet
    cursor: str | None  # where the stream stands once these rows are committed
    pages: int
    rows_read: int
    calls: list[RequestRecord]  # the requests made for these rows, as the integration log shows them
    deleted: list[Deletion] = field(default_factory=list)  # removed at the provider: removed before `rows` land
    replaced: list[ReplacedRange] = field(default_factory=list)  # ranges read whole: what else they held goes
    staged: StagedLines | None = None  # the rows, already in a table of their own (then `rows` is empty)

    @property
    def lines(self) -> int:
        return len(self.rows) + len(self.unknown) + (self.staged.lines if self.staged else 0)


@dataclass
class _End:
    periods: set[date] = field(default_factory=set)
    peak_rss_kib: int = 0
    fields_seen: FieldsSeen | None = None  # what the helper saw of the stream's fields, the run's part included


@dataclass
class _Failed:
    error: BaseException
    calls: list[RequestRecord]  # since the last batch: the failed attempts are what the log must show


class HelperFailed(Exception):
    """Something other than the provider went wrong in the helper; its traceback is the message."""


def read(job: ReadJob, log: list[RequestRecord], connector: Connector, token: TokenSource,
         pages_here: int) -> Iterator[Batch]:
    """The ledger lines of one entity in batches, until the stream is read; every request made is added to
    `log`. The first `pages_here` pages are read here, with the refresh's own connector and token: most
    refreshes are incremental and end within them, and starting a helper would cost more than it saves. A pull
    that goes on is handed to a helper from the cursor reached, so a page's cursor must say where the pull stands
    (a read of every month names the next month to read) or the helper reads again, and the provider meters
    again, what was read here. Raises what the pull raised (provider errors keep their type). Closing the
    iterator early ends the helper."""
    calls: list[RequestRecord] = []
    pages = connector.pull(job.stream, token=token, tenant_id=job.tenant_id, cursor=job.cursor,
                           options=job.options, log=calls)
    try:
        batches = _batches(pages, job, calls, max_pages=pages_here)
        while True:
            try:
                batch = next(batches)
            except StopIteration as stop:
                ended = stop.value
                break
            log.extend(batch.calls)
            job = replace(job, cursor=batch.cursor)
            yield batch
    finally:
        log.extend(calls)  # the attempts of a failed request
        pages.close()
    if not ended:
        yield from _read_in_a_helper(job, log)


def _read_in_a_helper(job: ReadJob, log: list[RequestRecord]) -> Iterator[Batch]:
    receiver, sender = context.Pipe(duplex=False)
    helper = context.Process(target=_read_in_helper, args=(job, sender), name="ledger-reader", daemon=True)
    helper.start()
    sender.close()  # ours is the reading end only: if the helper dies, recv() says so
    # A thread takes batches off the pipe as soon as they are ready, so the helper reads on while a
    # slow batch is written (up to AHEAD batches). They wait as the pickled bytes that came through the
    # pipe, far smaller than the rows they hold, and are unpickled when their turn comes: memory stays
    # nearly flat when the writing falls behind (a 1M-line load peaked at 144 MiB before, 117-122 after).
    arrived: queue.Queue = queue.Queue(maxsize=AHEAD)
    taker = threading.Thread(target=_take, args=(receiver, arrived), name="ledger-reader-pipe", daemon=True)
    taker.start()
    periods: set[date] = set()
    try:
        while True:
            item = arrived.get()
            if item is _CLOSED:
                helper.join(timeout=5)
                raise HelperFailed(f"the ledger reader stopped unexpectedly (exit code {helper.exitcode})")
            item = pickle.loads(item)
            if isinstance(item, Batch):
                log.extend(item.calls)
                yield item
                del item  # before the next batch is unpickled: one batch of rows at a time
            elif isinstance(item, _End):
                periods = item.periods
                note_peak(item.peak_rss_kib)
                if item.fields_seen is not None:
                    job.mapper.fields.seen = item.fields_seen
                break
            else:
                log.extend(item.calls)
                raise item.error
    finally:
        if helper.is_alive():
            helper.terminate()
        helper.join(timeout=10)
        receiver.close()
        while taker.is_alive():  # let a taker blocked on a full queue see the end
            with contextlib.suppress(queue.Empty):
                arrived.get(timeout=0.05)
        taker.join()
    job.mapper.encoding.periods_seen.update(periods)


_CLOSED = object()  # the pipe ended: the helper exited (after its last message, or not)


def _take(receiver: Any, arrived: queue.Queue) -> None:
    while True:
        try:
            arrived.put(receiver.recv_bytes())
        except (EOFError, OSError):  # the helper exited or died, or we closed the pipe
            arrived.put(_CLOSED)
            return


def _batches(pages: Iterator[Any], job: ReadJob, calls: list[RequestRecord],
             max_pages: int | None = None) -> Generator[Batch, None, bool]:
    """Pages mapped into batches of about `job.batch_rows` lines, each with the cursor after it and the
    requests made for it (taken from `calls`, which the pull appends to). Returns whether the pull
    ended (rather than `max_pages` being reached).

    The first batch is an eighth of the size and each next one twice the last, up to `job.batch_rows`:
    the writer, idle until a batch arrives, starts sooner (0.7 s sooner on a helper's first batch)."""
    rows: list[tuple] = []
    unknown: list[Any] = []
    deleted: list[Deletion] = []
    replaced: list[ReplacedRange] = []
    count = read_lines = 0
    cursor = job.cursor
    ended = True
    size = max(1, job.batch_rows // 8)
    for number, page in enumerate(pages, 1):
        if page.deletions:
            _take_in_order(page.records, job.mapper, rows, unknown, deleted, replaced)
        else:
            mapped, missing = job.mapper.rows(page.records)
            rows += mapped
            unknown += missing
        cursor, count, read_lines = page.cursor, count + 1, read_lines + len(page.records) - page.deletions
        if len(rows) + len(unknown) + len(deleted) >= size:
            yield Batch(rows, unknown, cursor, count, read_lines, calls[:], deleted, replaced)
            rows, unknown, deleted, replaced, calls[:] = [], [], [], [], []
            count = read_lines = 0
            size = min(size * 2, job.batch_rows)
        if number == max_pages:
            ended = False
            break
    if rows or unknown or deleted or replaced or count:
        yield Batch(rows, unknown, cursor, count, read_lines, calls[:], deleted, replaced)
        calls.clear()
    return ended


def _take_in_order(records: list[Any], mapper: LineMapper, rows: list[tuple], unknown: list[Any],
                   deleted: list[Deletion], replaced: list[ReplacedRange]) -> None:
    """A page of a change feed, in the provider's order. A deletion supersedes the lines it covers that
    were read before it in this batch (they are dropped here) and, applied before the batch's lines, the
    ones loaded by earlier batches; lines after it (a journal's new version) stay. A replaced range lists
    the lines it keeps, so where it stands among them does not matter."""
    segment: list[Any] = []
    for record in [*records, None]:
        if type(record) is ReplacedRange:
            replaced.append(record)
            continue
        if record is not None and type(record) is not Deletion:
            segment.append(record)
            continue
        mapped, missing = mapper.rows(segment)
        rows += mapped
        unknown += missing
        segment = []
        if record is not None:
            rows[:] = [row for row in rows if not record.covers(row[SOURCE_LINE], row[SOURCE_JOURNAL])]
            unknown[:] = [line for line in unknown if not record.covers(line.source_line_id, line.source_journal_id)]
            deleted.append(record)


def _read_in_helper(job: ReadJob, out: Any) -> None:
    from server.runtime import Runtime

    runtime = Runtime(job.settings)
    calls: list[RequestRecord] = []
    database = runtime.engine.connect() if job.stage else None
    try:
        connector = runtime.connector(job.provider, job.setup)
        pages = connector.pull(job.stream, token=runtime.vault.token_source(job.connection_id),
                               tenant_id=job.tenant_id, cursor=job.cursor, options=job.options, log=calls)
        with gc_paused():
            for number, batch in enumerate(_batches(pages, job, calls), 1):
                if database is not None and batch.rows and not batch.unknown and not batch.deleted:
                    # (unknown accounts: the run adds them first; deletions: the run applies them first)
                    batch.staged = stage_lines(database, job.mapper.run_id, job.mapper.entity_id, number, batch.rows)
                    database.commit()
                    batch.rows = []
                try:
                    out.send(batch)
                except BrokenPipeError:
                    if batch.staged:  # nobody will move it: the refresh is gone
                        drop_staged(database, [batch.staged.table])
                        database.commit()
                    raise
        out.send(_End(job.mapper.encoding.periods_seen, own_peak_rss_kib(),
                      job.mapper.fields.seen if job.mapper.fields is not None else None))
    except BrokenPipeError:
        return  # the refresh is gone: nobody to tell
    except Exception as error:  # noqa: BLE001 - every failure is handed to the refresh, which reports it
        if not isinstance(error, ProviderError):
            error = HelperFailed("".join(traceback.format_exception(error)))
        else:
            error.response = None  # not worth carrying across (and not always picklable)
        error.__traceback__ = None
        with contextlib.suppress(BrokenPipeError):
            out.send(_Failed(error, calls))
    finally:
        if database is not None:
            database.close()
        runtime.engine.dispose()
