"""Bulk, idempotent writes into the workspace tables.

Ledger lines are the hot path (research/perf.md): no ORM objects per row. PostgreSQL gets COPY into a
staging table and one guarded merge per batch; SQLite a batched `INSERT ... ON CONFLICT DO UPDATE` in
the caller's transaction. Either way a line that did not change is not rewritten, so re-reading an
overlap costs a read, not a write. Small reference tables (accounts, dimensions, trial balance) go
through one dialect-aware upsert.

While a stream meets only new lines (a first load, a long catch-up), PostgreSQL moves a batch from
staging with a plain INSERT instead: the conflict handling is a third of the merge's cost. A line that
is there after all makes that INSERT fail on the unique key; it is rolled back to a savepoint and the
guarded merge runs, so the result is the same either way.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection as DbConnection
from sqlalchemy import Table, TextClause, bindparam, delete, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from server.connectors.framework.records import Deletion, ReplacedRange
from server.db.models import AMOUNT_SCALE, LedgerLine

# The columns a ledger line is written with, in order. Changing any of the CHANGED ones rewrites it.
LINE_COLUMNS = ("workspace_id", "connection_id", "entity_id", "source_line_id", "source_journal_id", "date",
                "period", "account_id", "dim1_member_id", "dim2_member_id", "dim3_member_id", "dim4_member_id",
                "amount", "currency", "amount_base", "description", "source_dimensions", "run_id",
                "source_updated_at", "source_fields")
KEY = ("connection_id", "entity_id", "source_line_id")
CHANGED = ("source_journal_id", "date", "period", "account_id", "dim1_member_id", "dim2_member_id",
           "dim3_member_id", "dim4_member_id", "amount", "currency", "amount_base", "description",
           "source_dimensions", "source_updated_at", "source_fields")
SOURCE_LINE, SOURCE_JOURNAL = LINE_COLUMNS.index("source_line_id"), LINE_COLUMNS.index("source_journal_id")
_SCALE = 10 ** AMOUNT_SCALE


@dataclass
class Written:
    inserted: int = 0
    updated: int = 0
    # Of the ledger lines inserted, per (account id, period): [net amount, lines]. The run's change summary
    # in finance terms, counted by the statement that wrote them, so it costs the change, not the history.
    added: dict[tuple[int | None, date], list] = field(default_factory=dict)
    deleted: int = 0

    def __iadd__(self, other: Written) -> Written:
        self.inserted += other.inserted
        self.updated += other.updated
        self.deleted += other.deleted
        for key, (net, lines) in other.added.items():
            found = self.added.setdefault(key, [Decimal(0), 0])
            found[0] += net
            found[1] += lines
        return self


def write_lines(connection: DbConnection, rows: Sequence[tuple], expect_new: bool = False) -> Written:
    """Upsert ledger lines inside the caller's transaction: tuples in LINE_COLUMNS order, encoded for the
    backend by `Encoding` (the mapper does it as it builds them). `expect_new`: the stream's last batch
    was all new lines, so this one probably is too (a hint; the result does not depend on it)."""
    rows = _in_key_order(rows)
    if not rows:
        return Written()
    if connection.dialect.name == "postgresql":
        return _write_lines_postgresql(connection, rows, expect_new)
    return _write_lines_sqlite(connection, rows)


def _in_key_order(rows: Sequence[tuple]) -> list[tuple]:
    """A batch as it is written: each line once, in source line id order.

    One statement may not touch a row twice, so a line read twice in one batch keeps its last version.
    In key order because provider line ids are random, and inserting a batch's keys in order keeps the
    unique index's pages at hand. Sorted here rather than by the database: a staged batch is then read
    back in the order it was copied, and the insert has no sort to do (14% less server time, on the
    run's critical path; 3.5 ms of Python for 20,000 lines). Python orders strings by code point, which
    is UTF-8's byte order, the index's order for ids in ASCII."""
    if len({row[SOURCE_LINE] for row in rows}) != len(rows):
        rows = list({row[SOURCE_LINE]: row for row in rows}.values())
    return sorted(rows, key=itemgetter(SOURCE_LINE))


def _guard(table: str, new: str) -> str:
    return " OR ".join(f"{table}.{c} IS DISTINCT FROM {new}.{c}" for c in CHANGED)


# Staged amounts are whole 1/10,000ths (Encoding): the move into ledger_line divides.
_STAGED = ", ".join(f"{c}::numeric / {_SCALE}" if c in ("amount", "amount_base") else c for c in LINE_COLUMNS)
# A staging table has the columns a batch carries, nothing else: no id, so no sequence call per staged row.
_STAGE_COLUMNS = ", ".join(f"{c}::bigint AS {c}" if c in ("amount", "amount_base") else c for c in LINE_COLUMNS)
# The staged rows come back in the order they were copied: key order (_in_key_order).
_INSERT = f"INSERT INTO ledger_line ({', '.join(LINE_COLUMNS)}) SELECT {_STAGED} FROM {{stage}}"
_STAGED_SUMS = "SELECT account_id, period, sum(amount), count(*) FROM {stage} GROUP BY account_id, period"
_MERGE = f"""
WITH merged AS (
    INSERT INTO ledger_line ({", ".join(LINE_COLUMNS)})
    SELECT {_STAGED} FROM {{stage}}
    ON CONFLICT ({", ".join(KEY)}) DO UPDATE SET
        {", ".join(f"{c} = excluded.{c}" for c in (*CHANGED, "run_id"))}
    WHERE {_guard("ledger_line", "excluded")}
    RETURNING (xmax = 0) AS inserted, account_id, period, amount
)
SELECT inserted, account_id, period, sum(amount), count(*) FROM merged GROUP BY inserted, account_id, period
"""


def copy_types(table: str) -> TextClause:
    """A query for `table`'s column types in LINE_COLUMNS order, as a binary COPY needs them (NULL while
    there is no such table)."""
    return text("SELECT array_agg(atttypid::int ORDER BY array_position(:columns, attname::text)) "
                "FROM pg_attribute WHERE attrelid = to_regclass(:table) AND attname = ANY(:columns)"
                ).bindparams(columns=list(LINE_COLUMNS), table=table)


def _copy_rows(connection: DbConnection, table: str, types: list[int], rows: Iterable[tuple]) -> None:
    # Binary: the server parses no text, and psycopg formats none (research/perf.md).
    cursor = connection.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {table} ({', '.join(LINE_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def _write_lines_postgresql(connection: DbConnection, rows: list[tuple], expect_new: bool) -> Written:
    types = connection.execute(copy_types("pg_temp.ledger_line_stage")).scalar()
    if types is None:  # the staging table lives as long as the database session
        connection.execute(text(f"CREATE TEMP TABLE ledger_line_stage ON COMMIT DELETE ROWS AS "
                                f"SELECT {_STAGE_COLUMNS} FROM ledger_line WITH NO DATA"))
        types = connection.execute(copy_types("pg_temp.ledger_line_stage")).scalar()
    _copy_rows(connection, "ledger_line_stage", types, rows)
    written = _move_staged(connection, "ledger_line_stage", expect_new)
    connection.execute(text("TRUNCATE ledger_line_stage"))  # a second batch in the same transaction starts clean
    return written


def _move_staged(connection: DbConnection, stage: str, expect_new: bool) -> Written:
    # A batch commits with its cursor, so if the server lost the last batches in a crash the cursor
    # would go back with them and the next run would read those pages again: waiting for each commit's
    # WAL flush buys nothing here.
    connection.execute(text("SET LOCAL synchronous_commit = off"))
    written = _insert_new_lines(connection, stage) if expect_new else None
    return written if written is not None else _merge_staged(connection, stage)


def _merge_staged(connection: DbConnection, stage: str) -> Written:
    written = Written()
    for inserted, account_id, period, net, lines in connection.execute(text(_MERGE.format(stage=stage))):
        if inserted:
            written.inserted += lines
            written.added[(account_id, period)] = [net, lines]
        else:
            written.updated += lines
    return written


def _insert_new_lines(connection: DbConnection, stage: str) -> Written | None:
    """The staged batch as new lines, or None (nothing written) if one of them was there already."""
    try:
        with connection.begin_nested():
            connection.execute(text(_INSERT.format(stage=stage)))
    except IntegrityError as error:
        if getattr(getattr(error.orig, "diag", None), "constraint_name", None) != "ledger_line_source_key":
            raise
        return None
    written = Written()
    for account_id, period, net, lines in connection.execute(text(_STAGED_SUMS.format(stage=stage))):
        written.inserted += lines
        written.added[(account_id, period)] = [Encoding.amount_of_row(net), lines]
    return written


# --- batches a reader helper stages itself (PostgreSQL)

@dataclass(frozen=True)
class StagedLines:
    """A batch of ledger lines that a reader helper copied into a table of its own, over its own database
    session, while the run was writing the batch before (server/refresh/reader.py). The run moves them into
    ledger_line and drops the table in the transaction that saves the batch's cursor."""

    table: str
    lines: int


_STAGED_PREFIX = "ledger_line_staged_"


def stage_lines(connection: DbConnection, run_id: int, entity_id: int, number: int,
                rows: Sequence[tuple]) -> StagedLines:
    """Copy a batch into a new unlogged table (it only lives until the run moves it), in the caller's
    transaction: commit before handing it over."""
    rows = _in_key_order(rows)
    table = f"{_STAGED_PREFIX}{int(run_id)}_{int(entity_id)}_{int(number)}"
    connection.execute(text("SET LOCAL synchronous_commit = off"))
    connection.execute(text(f"CREATE UNLOGGED TABLE {table} AS SELECT {_STAGE_COLUMNS} FROM ledger_line WITH NO DATA"))
    _copy_rows(connection, table, connection.execute(copy_types(table)).scalar(), rows)
    return StagedLines(table, len(rows))


def write_staged(connection: DbConnection, staged: StagedLines, expect_new: bool = False) -> Written:
    """Move a staged batch into ledger_line and drop its table, inside the caller's transaction."""
    written = _move_staged(connection, staged.table, expect_new)
    connection.execute(text(f"DROP TABLE {staged.table}"))
    return written


def staged_tables(connection: DbConnection) -> dict[str, int]:
    """Staged batches waiting in the database: table -> the run it belongs to. PostgreSQL only."""
    found = connection.execute(text(
        "SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = current_schema()::regnamespace "
        "AND relname LIKE :pattern"), {"pattern": _STAGED_PREFIX.replace("_", r"\_") + "%"}).scalars()
    return {table: int(table.removeprefix(_STAGED_PREFIX).split("_")[0]) for table in found}


def drop_staged(connection: DbConnection, tables: Iterable[str]) -> None:
    """Drop staged batches nobody will move: their run stopped before it could."""
    for table in tables:
        if not table.startswith(_STAGED_PREFIX):
            raise ValueError(f"not a staged batch: {table}")
        connection.execute(text(f"DROP TABLE IF EXISTS {table}"))


_SQLITE_UPSERT = f"""
INSERT INTO ledger_line ({", ".join(LINE_COLUMNS)}) VALUES ({", ".join("?" * len(LINE_COLUMNS))})
ON CONFLICT ({", ".join(KEY)}) DO UPDATE SET {", ".join(f"{c} = excluded.{c}" for c in (*CHANGED, "run_id"))}
WHERE {" OR ".join(f"ledger_line.{c} IS NOT excluded.{c}" for c in CHANGED)}
"""


_SQLITE_ADDED = """
SELECT account_id, period, sum(amount) AS net, count(*) AS lines FROM ledger_line
WHERE id > :before AND +connection_id = :connection_id AND +entity_id = :entity_id GROUP BY account_id, period
"""
_SQLITE_ADDED = text(_SQLITE_ADDED).columns(account_id=LedgerLine.account_id.type, period=LedgerLine.period.type,
                                            net=LedgerLine.amount.type, lines=LedgerLine.id.type)


def _write_lines_sqlite(connection: DbConnection, rows: list[tuple]) -> Written:
    before = connection.execute(select(func.coalesce(func.max(LedgerLine.id), 0))).scalar_one()
    cursor = connection.connection.driver_connection.cursor()
    cursor.executemany(_SQLITE_UPSERT, rows)
    changed = cursor.rowcount  # inserted + updated; rows the guard left alone count 0
    # New lines get ids above the old maximum (rowid tables): summing them is a range scan of the batch.
    # `before` was read before this transaction took the write lock, so another connection's batch may have
    # landed in between: only this batch's connection and entity count (one run writes them at a time).
    # The unary `+` keeps those two terms off the unique key's index: given `connection_id = ?`, SQLite
    # would search the index instead of the id range, reading the entity's whole ledger for every batch.
    added = {(account_id, period): [net, lines] for account_id, period, net, lines in connection.execute(
        _SQLITE_ADDED, {"before": before, "connection_id": rows[0][1], "entity_id": rows[0][2]})}
    inserted = sum(lines for _, lines in added.values())
    return Written(inserted, changed - inserted, added)


def delete_lines(connection: DbConnection, connection_id: int, entity_id: int,
                 deletions: Sequence[Deletion]) -> Written:
    """Remove the lines the provider deleted, inside the caller's transaction (the one that moves the
    cursor past them). A journal's deletion removes all its lines. Journal ids are not indexed (an index
    would cost every load), so deleting by journal reads the entity's lines once per statement: one
    statement per batch of deletions, which change feeds send few of."""
    journals = sorted({d.source_journal_id for d in deletions if d.source_journal_id})
    lines = sorted({d.source_line_id for d in deletions if d.source_line_id})
    deleted = 0
    scope = (LedgerLine.connection_id == connection_id, LedgerLine.entity_id == entity_id)
    for column, ids in ((LedgerLine.source_journal_id, journals), (LedgerLine.source_line_id, lines)):
        for start in range(0, len(ids), 1000):  # bound the parameters of one statement
            deleted += connection.execute(
                delete(LedgerLine).where(*scope, column.in_(ids[start:start + 1000]))).rowcount
    return Written(deleted=deleted)


def delete_unlisted_lines(connection: DbConnection, workspace_id: int, connection_id: int, entity_id: int,
                          ranges: Sequence[ReplacedRange]) -> Written:
    """Remove the entity's lines dated in each range that the range does not list, inside the caller's
    transaction (the one that moves the cursor). The workspace and period narrow the read to the
    workspace's period index; the lines gone are then deleted by id."""
    gone: list[int] = []
    for replaced in ranges:
        held = connection.execute(select(LedgerLine.id, LedgerLine.source_line_id).where(
            LedgerLine.workspace_id == workspace_id,
            LedgerLine.period.between(period_of(replaced.start), period_of(replaced.end)),
            LedgerLine.connection_id == connection_id, LedgerLine.entity_id == entity_id,
            LedgerLine.date.between(replaced.start, replaced.end)))
        gone += [line_id for line_id, source_line_id in held if source_line_id not in replaced.source_line_ids]
    deleted = 0
    for start in range(0, len(gone), 1000):  # bound the parameters of one statement
        deleted += connection.execute(delete(LedgerLine).where(LedgerLine.id.in_(gone[start:start + 1000]))).rowcount
    return Written(deleted=deleted)


class Encoding:
    """How a ledger row travels to the database, cheap to hand between processes and to bind. Amounts
    are whole 1/10,000ths (SQLite stores them so; PostgreSQL's staging table takes them so and the move
    into ledger_line divides). SQLite gets dates as ISO text and times as UTC text, as SQLAlchemy stores
    them there; PostgreSQL gets date and UTC datetime objects, for a binary COPY. Dates and times repeat
    a lot within a batch, so their encodings are remembered (and pickled once per batch)."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"
        self._days: dict[date, tuple[date | str, date | str]] = {}
        self._moments: dict[datetime, datetime | str] = {}
        self.periods_seen: set[date] = set()

    def day(self, day: date) -> tuple[date | str, date | str]:
        """(date, period) of a line."""
        found = self._days.get(day)
        if found is None:
            period = period_of(day)
            self.periods_seen.add(period)
            found = self._days[day] = (day.isoformat(), period.isoformat()) if self.sqlite else (day, period)
        return found

    @staticmethod
    def amount(value: Decimal | None) -> int | None:
        """Whole 1/10,000ths, rounded as `to_amount` rounds (half to even)."""
        return None if value is None else int(value.scaleb(AMOUNT_SCALE).to_integral_value())

    @staticmethod
    def amount_of_row(stored: int | Decimal) -> Decimal:
        """An amount (or a sum of them) as written back to a Decimal."""
        return to_amount(Decimal(stored).scaleb(-AMOUNT_SCALE))

    def moment(self, value: datetime | None) -> datetime | str | None:
        if value is None:
            return value
        found = self._moments.get(value)
        if found is None:
            if len(self._moments) >= 10_000:  # a journal's lines share one time; keep memory flat over a ledger
                self._moments.clear()
            found = self._moments[value] = sqlite_datetime(value) if self.sqlite else value.astimezone(UTC)
        return found


def sqlite_datetime(moment: datetime) -> str:
    """UTC as SQLAlchemy's SQLite DateTime stores it: 'YYYY-MM-DD HH:MM:SS.ffffff', no offset."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def upsert(connection: DbConnection, table: Table, rows: Iterable[dict[str, Any]], key: Sequence[str],
           scope: dict[str, Any], among: Sequence[Any] = ()) -> Written:
    """Insert new rows and update changed ones of a small reference table, matched on `key` within
    `scope` (e.g. one entity). Rows that did not change are not written (and keep their run id). `among`:
    conditions that narrow the existing rows read to those the given rows can match (e.g. their periods)."""
    rows = list({tuple(r[k] for k in key): r for r in rows}.values())
    if not rows:
        return Written()
    compared = [c for c in rows[0] if c not in key and c != "run_id" and c not in scope]
    where = [table.c[name] == value for name, value in scope.items()]
    existing = {tuple(r._mapping[k] for k in key): r._mapping
                for r in connection.execute(select(*(table.c[c] for c in (*key, *compared))).where(*where, *among))}
    new = [r for r in rows if tuple(r[k] for k in key) not in existing]
    changed = [r for r in rows if (old := existing.get(tuple(r[k] for k in key))) is not None
               and any(old[c] != r[c] for c in compared)]
    if new:
        connection.execute(insert(table), new)
    if changed:
        match = [table.c[k] == bindparam(f"key_{k}") for k in key]
        connection.execute(update(table).where(*where, *match).values(
            {c: bindparam(f"new_{c}") for c in rows[0] if c not in key}),
            [{**{f"key_{k}": r[k] for k in key}, **{f"new_{c}": r[c] for c in r if c not in key}} for r in changed])
    return Written(len(new), len(changed))


def period_of(day: date) -> date:
    return day.replace(day=1)


def to_amount(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(Decimal(1).scaleb(-AMOUNT_SCALE))
