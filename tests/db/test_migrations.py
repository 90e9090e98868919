"""The migrations build, from nothing, exactly the schema the models describe, and unwind cleanly."""
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from server.db.engine import downgrade, is_initialised, make_engine, upgrade
from server.db.models import Base
from tests.support.database import BACKENDS, fresh_database_url


@pytest.fixture(params=BACKENDS)
def empty_engine(request, tmp_path):
    url, drop = fresh_database_url(request.param, tmp_path)
    engine = make_engine(url)
    yield engine
    engine.dispose()
    drop()


def schema_differences(engine) -> list:
    def declared_here(obj, name, type_, reflected, compare_to) -> bool:
        # An index declared with .ddl_if(dialect=...) exists on that dialect only; alembic does not look.
        condition = getattr(obj, "_ddl_if", None)
        return condition is None or condition.dialect in (None, engine.dialect.name)

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": declared_here})
        return compare_metadata(context, Base.metadata)


def test_upgrade_from_empty_matches_the_models(empty_engine):
    assert not is_initialised(empty_engine)
    upgrade(empty_engine)
    assert is_initialised(empty_engine)
    assert set(Base.metadata.tables) <= set(inspect(empty_engine).get_table_names())
    assert schema_differences(empty_engine) == []


def test_downgrade_to_empty_and_up_again(empty_engine):
    upgrade(empty_engine)
    downgrade(empty_engine, "base")
    assert set(inspect(empty_engine).get_table_names()) <= {"alembic_version"}
    upgrade(empty_engine)
    assert schema_differences(empty_engine) == []


def test_upgrade_twice_is_harmless(empty_engine):
    upgrade(empty_engine)
    upgrade(empty_engine)
    assert schema_differences(empty_engine) == []
