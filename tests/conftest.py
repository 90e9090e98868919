"""Fixtures: every database test runs on SQLite, and on PostgreSQL too when TEST_DATABASE_URL is set.

The backend is a parameter of the session-scoped `database` fixture, so a test that touches the
database (directly or through `app`/`client`) is collected once per backend: `test_x[sqlite]`,
`test_x[postgresql]`. Each backend is migrated once; every test starts from empty tables.
"""
from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from server.access.workspaces import add_member, create_key, create_workspace
from server.app import create_app
from server.db.engine import make_engine, make_sessionmaker, upgrade
from server.db.models import Base, Role

# The provider emulator on a real port (sandbox_server, sandbox) and a user's way through it (journey).
pytest_plugins = ["tests.support.sandbox", "tests.support.journey"]

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "")
BACKENDS = ["sqlite", "postgresql"] if POSTGRES_URL else ["sqlite"]


@dataclass
class Database:
    backend: str
    url: str
    engine: Engine
    sessions: sessionmaker[Session]


def fresh_database_url(backend: str, directory: Path) -> tuple[str, callable]:
    """A URL to an empty database of that backend, and how to throw it away afterwards."""
    if backend == "sqlite":
        return f"sqlite:///{directory / f'{uuid.uuid4().hex}.db'}", lambda: None
    # A schema of our own in the test database: cheap to create, and invisible to other runs.
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"

    def drop() -> None:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}", drop


@pytest.fixture(scope="session", params=BACKENDS)
def database(request, tmp_path_factory) -> Iterator[Database]:
    url, drop = fresh_database_url(request.param, tmp_path_factory.mktemp(request.param))
    engine = make_engine(url)
    upgrade(engine)
    yield Database(request.param, url, engine, make_sessionmaker(engine))
    engine.dispose()
    drop()


@pytest.fixture
def db(database: Database) -> Database:
    """The backend's database with every table emptied."""
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    with database.engine.begin() as connection:
        if database.backend == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))
    return database


@pytest.fixture
def app(db: Database, tmp_path: Path):
    app = create_app({"database_url": db.url, "var_dir": tmp_path, "sandbox": False,
                      "public_url": "http://ledgerpane.test"})
    yield app
    app.extensions["ledgerpane"].close()  # PostgreSQL has a connection limit to respect


@pytest.fixture
def client(app):
    return app.test_client()


@dataclass
class SeededWorkspace:
    id: int
    name: str
    admin_key: str
    member_key: str

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}

    def member(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.member_key}"}


def seed_workspace(sessions: sessionmaker[Session], name: str = "Acme Holdings") -> SeededWorkspace:
    with sessions.begin() as session:
        workspace, admin = create_workspace(session, name, "controller@acme.test", "Europe/London", "GBP")
        member = add_member(session, workspace, "analyst@acme.test", Role.member)
        return SeededWorkspace(workspace.id, name, create_key(session, admin), create_key(session, member))


@pytest.fixture
def workspace(db: Database) -> SeededWorkspace:
    """A workspace with an admin and a member, each with a key."""
    return seed_workspace(db.sessions)


@pytest.fixture
def other_workspace(db: Database, workspace: SeededWorkspace) -> SeededWorkspace:
    return seed_workspace(db.sessions, "Globex Group")


@dataclass
class LiveServer:
    url: str
    key: str
    workspace_name: str
    sessions: sessionmaker[Session]


@contextmanager
def serving(directory: Path, **config: Any) -> Iterator[LiveServer]:
    """The whole service on a real HTTP port of 127.0.0.1, on a fresh SQLite database with one workspace."""
    url, _ = fresh_database_url("sqlite", directory)
    engine = make_engine(url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    seeded = seed_workspace(sessions)
    server = make_server("127.0.0.1", 0, None, threaded=True)
    origin = f"http://127.0.0.1:{server.server_port}"
    app = create_app({"database_url": url, "var_dir": directory, "sandbox": False, "public_url": origin, **config})
    server.app = app
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(origin, seeded.admin_key, seeded.name, sessions)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        app.extensions["ledgerpane"].close()
        engine.dispose()


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    with serving(tmp_path) as server:
        yield server
