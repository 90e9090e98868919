"""The database: one engine per app, one session per request, migrations with Alembic."""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event, inspect, update
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               json_deserializer=_json_loads)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return create_engine(url, pool_pre_ping=True, json_deserializer=_json_loads)


def make_snapshot_engine(engine: Engine) -> Engine | None:
    """PostgreSQL: a few autocommit connections to read a request's snapshot (server/db/snapshots.py) in one round
    trip, without the main pool's ping before each use. A dropped connection (a database restart) fails that read
    as surely as a ping would, and the read is tried once more (`read_snapshot`)."""
    if engine.dialect.name != "postgresql":
        return None
    return create_engine(engine.url, isolation_level="AUTOCOMMIT", pool_size=2, max_overflow=8)


def _json_loads(text: str | bytes) -> Any:
    """JSON columns read with orjson (a page of the Connections list reads three hundred of them); what orjson
    refuses and the standard library wrote (NaN, integers past 64 bits) is still read."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets the task pane read while a refresh writes; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # A refresh writes batches of lines into large indexes at random keys. With SQLite's default 2 MiB
    # page cache most of a batch's index pages were read again, and with its default checkpoint every
    # 4 MiB of log each batch's commit copied them back into the database file: together 3 s of a 15 s
    # load of 1M lines (benchmarks/refresh_full.py). 32 MiB of cache and 64 MiB of log before a checkpoint.
    cursor.execute("PRAGMA cache_size=-32768")
    cursor.execute("PRAGMA wal_autocheckpoint=16384")
    cursor.close()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """The one way to do work outside a request: commit on success, roll back on error."""
    with sessions() as session, session.begin():
        yield session


def lock_row(session: Session, model, row_id: int) -> None:
    """Take the row's write lock for this transaction (PostgreSQL locks the row, SQLite the database) with
    a no-op update, so a second worker waits here and then sees what the first one committed."""
    session.execute(update(model).where(model.id == row_id).values(id=model.id))


def alembic_config(engine: Engine) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)


def is_initialised(engine: Engine) -> bool:
    return inspect(engine).has_table("alembic_version")


def request_session() -> Session:
    """The session of the current request, opened on first use and closed when the request ends."""
    from flask import current_app, g

    if "db_session" not in g:
        g.db_session = current_app.extensions["ledgerpane"].sessions()
    return g.db_session


def close_request_session(_error: BaseException | None = None) -> None:
    from flask import g

    session = g.pop("db_session", None)
    if session is not None:
        session.close()
