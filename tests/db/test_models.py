"""The model keeps money exact, holds at most four dimensions, and keys ledger lines by their source."""
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from server.db.models import Connection, Dimension, Entity, LedgerLine
from server.mapping.dimensions import TooManyDimensions, add_dimension, unmapped_member


@pytest.fixture
def entity(db, workspace):
    with db.sessions.begin() as session:
        connection = Connection(workspace_id=workspace.id, provider="xero", name="Acme UK")
        entity = Entity(workspace_id=workspace.id, connection=connection, provider_entity_id="t-1", name="Acme Ltd")
        session.add(entity)
    return entity


def line(entity, source_line_id: str, amount: str) -> LedgerLine:
    return LedgerLine(workspace_id=entity.workspace_id, connection_id=entity.connection_id, entity_id=entity.id,
                      source_line_id=source_line_id, date=date(2026, 3, 31), period=date(2026, 3, 1),
                      amount=Decimal(amount), currency="GBP")


def test_amounts_are_exact_decimals(db, entity):
    amounts = ["0.1", "0.2", "-0.3", "12345678901234.5678", "-0.0001"]
    with db.sessions.begin() as session:
        session.add_all(line(entity, f"l{i}", a) for i, a in enumerate(amounts))
    with db.sessions() as session:
        stored = session.scalars(select(LedgerLine.amount).order_by(LedgerLine.source_line_id)).all()
        total = session.scalar(select(func.sum(LedgerLine.amount)))
    assert stored == [Decimal(a) for a in amounts]
    assert all(isinstance(value, Decimal) for value in stored)
    # The database adds them exactly too (a float sum of 0.1 + 0.2 - 0.3 is not zero), typed as Decimal.
    expected = sum(Decimal(a) for a in amounts)
    assert total == expected


def test_a_source_line_is_stored_once(db, entity):
    with db.sessions.begin() as session:
        session.add(line(entity, "JL-1", "10"))
    with pytest.raises(IntegrityError), db.sessions.begin() as session:
        session.add(line(entity, "JL-1", "10"))


def test_each_dimension_has_an_unmapped_member_and_there_are_at_most_four(db, workspace):
    with db.sessions.begin() as session:
        dimensions = [add_dimension(session, workspace.id, name) for name in ("Region", "Department", "Project",
                                                                               "Product")]
        assert [d.position for d in dimensions] == [1, 2, 3, 4]
        with pytest.raises(TooManyDimensions):
            add_dimension(session, workspace.id, "Channel")
        assert unmapped_member(session, dimensions[0].id).name == "Unmapped"


def test_the_database_itself_refuses_a_fifth_dimension_slot(db, workspace):
    with pytest.raises(IntegrityError), db.sessions.begin() as session:
        session.add(Dimension(workspace_id=workspace.id, position=5, name="Fifth"))
