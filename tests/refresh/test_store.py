"""The ledger line writer on its own: what it reports, and that a batch wrongly expected to be all new is
merged all the same (PostgreSQL tries a plain INSERT first; SQLite ignores the hint). On PostgreSQL a batch
comes either as rows or staged by a reader helper in a table of its own; both are written alike."""
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from server.connectors.framework.records import ReplacedRange
from server.db.models import LedgerLine, RefreshRun
from server.store.ledger import (
    LINE_COLUMNS,
    Encoding,
    Written,
    delete_unlisted_lines,
    drop_staged,
    stage_lines,
    staged_tables,
    write_lines,
    write_staged,
)

JAN, FEB = date(2025, 1, 1), date(2025, 2, 1)


def line(encoding: Encoding, number: int, amount: str, account: int = 1, day: date = date(2025, 1, 15)) -> tuple:
    on, period = encoding.day(day)
    values = {"workspace_id": 1, "connection_id": 1, "entity_id": 1, "source_line_id": f"line-{number}",
              "source_journal_id": f"journal-{number}", "date": on, "period": period, "account_id": account,
              "dim1_member_id": None, "dim2_member_id": None, "dim3_member_id": None, "dim4_member_id": None,
              "amount": Encoding.amount(Decimal(amount)), "currency": "NZD", "amount_base": None,
              "description": "", "source_dimensions": "", "run_id": 1,
              "source_updated_at": encoding.moment(datetime(2025, 1, 15, 9, tzinfo=UTC)), "source_fields": ""}
    return tuple(values[column] for column in LINE_COLUMNS)


def amounts(db) -> dict[str, Decimal]:
    with db.sessions() as session:
        return dict(session.execute(select(LedgerLine.source_line_id, LedgerLine.amount)).all())


def write(db, connection, rows: list[tuple], expect_new: bool, arrives: str) -> Written:
    """Write a batch as it arrives: as rows, or staged first over another session (as a reader helper does)."""
    if arrives == "rows":
        return write_lines(connection, rows, expect_new)
    if db.backend != "postgresql":
        pytest.skip("only PostgreSQL stages batches")
    with db.engine.begin() as helper:
        staged = stage_lines(helper, run_id=7, entity_id=1, number=1, rows=rows)
    assert staged.lines == len({row[LINE_COLUMNS.index("source_line_id")] for row in rows})
    return write_staged(connection, staged, expect_new)


ARRIVES = pytest.mark.parametrize("arrives", ["rows", "staged"])


@ARRIVES
@pytest.mark.parametrize("expect_new", [False, True])
def test_new_lines_are_counted_and_summed_per_account_and_period(db, expect_new, arrives):
    encoding = Encoding(db.backend)
    rows = [line(encoding, 1, "10.50"), line(encoding, 2, "-3.25"), line(encoding, 3, "7", account=2, day=FEB)]
    with db.engine.begin() as connection:
        written = write(db, connection, rows, expect_new, arrives)
    assert (written.inserted, written.updated) == (3, 0)
    assert written.added == {(1, JAN): [Decimal("7.25"), 2], (2, FEB): [Decimal("7"), 1]}
    assert amounts(db) == {"line-1": Decimal("10.5000"), "line-2": Decimal("-3.2500"), "line-3": Decimal("7.0000")}


@ARRIVES
def test_a_batch_expected_new_that_meets_lines_already_there_is_merged(db, arrives):
    encoding = Encoding(db.backend)
    with db.engine.begin() as connection:
        write_lines(connection, [line(encoding, 1, "1"), line(encoding, 2, "2")])
    # Line 1 unchanged, line 2 edited at the provider, lines 3 and 4 new, and line 4 read twice.
    again = [line(encoding, 1, "1"), line(encoding, 2, "2.50"), line(encoding, 3, "3"), line(encoding, 4, "9"),
             line(encoding, 4, "4")]
    with db.sessions.begin() as session:  # as a refresh writes: in a session's transaction
        written = write(db, session.connection(), again, True, arrives)
        # The failed attempt rolled back to its savepoint only: the transaction goes on.
        in_transaction = session.execute(select(func.count()).select_from(LedgerLine)).scalar_one()
    assert (written.inserted, written.updated) == (2, 1)
    assert written.added == {(1, JAN): [Decimal("7"), 2]}, "only the lines inserted, each once, at its last amount"
    assert in_transaction == 4
    assert amounts(db) == {"line-1": Decimal("1.0000"), "line-2": Decimal("2.5000"), "line-3": Decimal("3.0000"),
                           "line-4": Decimal("4.0000")}


def test_amounts_travel_as_whole_ten_thousandths_rounded_as_stored():
    assert [Encoding.amount(Decimal(v)) for v in ("40.10", "-3.2500", "1.23456", "1.23455", "-0.00005", "7")] == \
        [401_000, -32_500, 12_346, 12_346, 0, 70_000]
    assert Encoding.amount(None) is None
    assert Encoding.amount_of_row(12_346) == Decimal("1.2346")


def test_a_staged_batch_is_dropped_with_the_move_and_kept_if_the_move_rolls_back(db):
    if db.backend != "postgresql":
        pytest.skip("only PostgreSQL stages batches")
    encoding = Encoding(db.backend)
    with db.engine.begin() as helper:
        staged = stage_lines(helper, run_id=7, entity_id=1, number=1, rows=[line(encoding, 1, "1")])
    with pytest.raises(RuntimeError), db.engine.begin() as connection:
        write_staged(connection, staged)
        raise RuntimeError("the run stopped before its commit")
    with db.engine.begin() as connection:
        assert staged_tables(connection) == {staged.table: 7}, "still there for the next attempt, or the sweep"
        write_staged(connection, staged)
    with db.engine.begin() as connection:
        assert staged_tables(connection) == {}
    assert amounts(db) == {"line-1": Decimal("1.0000")}


def test_a_run_sweeps_away_batches_staged_for_runs_that_stopped(journey, db):
    if db.backend != "postgresql":
        pytest.skip("only PostgreSQL stages batches")
    from server.refresh.pipeline import _drop_abandoned_batches
    from server.refresh.runs import request_refresh

    connection_id = journey.connect()
    ended, _ = request_refresh(db.sessions, connection_id, trigger="manual", member_id=None)
    with db.sessions.begin() as session:
        session.get(RefreshRun, ended).status = "failed"  # killed, and found dead by the next request
    going, _ = request_refresh(db.sessions, connection_id, trigger="manual", member_id=None)
    encoding = Encoding(db.backend)
    with db.engine.begin() as helper:
        for run_id in (ended, going, 99_999):  # 99,999: a run that is not there at all
            stage_lines(helper, run_id=run_id, entity_id=1, number=1, rows=[line(encoding, run_id, "1")])
    _drop_abandoned_batches(db.sessions)
    with db.engine.begin() as connection:
        assert set(staged_tables(connection).values()) == {going}
        drop_staged(connection, staged_tables(connection))


class _OtherWriterLandsFirst:
    """A database connection whose first statement (the writer reading the highest id so far) is followed by
    another connection committing a batch of its own, as two refreshes do when their commits interleave."""

    def __init__(self, connection, other) -> None:
        self._connection, self._other, self._landed = connection, other, False

    def execute(self, *args, **kwargs):
        result = self._connection.execute(*args, **kwargs)
        if not self._landed:
            self._landed = True
            self._other()
        return result

    def __getattr__(self, name: str):
        return getattr(self._connection, name)


def test_a_batch_counts_only_its_own_new_lines_when_another_refresh_commits_meanwhile(db):
    if db.backend != "sqlite":
        pytest.skip("PostgreSQL counts what the statement inserted (RETURNING)")
    encoding = Encoding(db.backend)

    def other_refresh() -> None:
        theirs = [tuple(2 if column in ("connection_id", "entity_id") else value
                        for column, value in zip(LINE_COLUMNS, line(encoding, 100 + n, "7.00", account=99),
                                                 strict=True)) for n in range(3)]
        with db.engine.begin() as other:
            write_lines(other, theirs)

    with db.engine.begin() as connection:
        written = write_lines(_OtherWriterLandsFirst(connection, other_refresh),
                              [line(encoding, 1, "10.00"), line(encoding, 2, "-4.00")])
    assert (written.inserted, written.updated) == (2, 0)
    assert {account for account, _ in written.added} == {1}, "the other refresh's lines are not this batch's"


def test_a_batch_costs_the_same_however_much_of_the_entity_is_already_loaded(db):
    """The batch's new lines are summed over its id range, not over the entity's ledger: a first load writes
    a hundred batches into the same entity, so a cost that grows with what is already there is quadratic.
    Measured in SQLite's virtual machine steps, which do not depend on how busy the machine is."""
    if db.backend != "sqlite":
        pytest.skip("PostgreSQL counts what the statement inserted (RETURNING)")
    encoding = Encoding(db.backend)

    def steps_for_a_batch(first: int) -> int:
        batch = [line(encoding, first + n, "1.00") for n in range(200)]
        with db.engine.begin() as connection:
            steps = [0]
            driver = connection.connection.driver_connection

            def count() -> int:
                steps[0] += 1
                return 0

            driver.set_progress_handler(count, 100)
            try:
                write_lines(connection, batch)
            finally:
                driver.set_progress_handler(None, 100)
        return steps[0]

    with db.engine.begin() as connection:
        write_lines(connection, [line(encoding, n, "1.00") for n in range(1_000)])
    on_a_small_ledger = steps_for_a_batch(10_000)
    with db.engine.begin() as connection:
        write_lines(connection, [line(encoding, 20_000 + n, "1.00") for n in range(30_000)])
    on_a_large_ledger = steps_for_a_batch(90_000)
    # B-tree depth grows a little with the ledger; reading it whole would cost about 30x.
    assert on_a_large_ledger < 2 * on_a_small_ledger, (on_a_small_ledger, on_a_large_ledger)


def test_a_replaced_range_removes_only_its_entitys_unlisted_lines_dated_in_it(db):
    encoding = Encoding(db.backend)

    def of_entity(row: tuple, entity: int) -> tuple:
        return tuple(entity if column == "entity_id" else value
                     for column, value in zip(LINE_COLUMNS, row, strict=True))

    kept, gone = line(encoding, 1, "5.00"), line(encoding, 2, "-5.00")
    day_before, day_after = line(encoding, 3, "1.00", day=date(2024, 12, 31)), line(encoding, 4, "1.00", day=FEB)
    other_entity = of_entity(line(encoding, 5, "2.00"), 2)
    with db.engine.begin() as connection:
        write_lines(connection, [kept, gone, day_before, day_after, other_entity])
        written = delete_unlisted_lines(connection, 1, 1, 1, [ReplacedRange(JAN, date(2025, 1, 31),
                                                                             frozenset({"line-1", "line-9"}))])
    assert written.deleted == 1
    assert set(amounts(db)) == {"line-1", "line-3", "line-4", "line-5"}
    with pytest.raises(ValueError, match="before it starts"):
        ReplacedRange(FEB, JAN, frozenset())
