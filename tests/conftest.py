"""Fixtures: every database test runs on SQLite, and on PostgreSQL too when TEST_DATABASE_URL is set.

The backend is a parameter of the session-scoped `database` fixture, so a test that touches the
database (directly or through `app`/`client`) is collected once per backend: `test_x[sqlite]`,
`test_x[postgresql]`. Each backend is migrated once; every test starts from empty tables.
The helpers behind these fixtures, and every other helper tests share, live in tests/support/.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import text

from server.app import create_app
from server.db.engine import make_engine, make_sessionmaker, upgrade
from server.db.models import Base
from tests.support.database import BACKENDS, REDIS_URL, Database, SeededWorkspace, fresh_database_url, seed_workspace
from tests.support.live import LiveServer, serving

# The provider emulator on a real port (sandbox_server, sandbox) and a user's way through it (journey).
pytest_plugins = ["tests.support.sandbox", "tests.support.journey"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The few long tests (marked slow: the soak, the fuzzing) go first, so that under `make test`'s several
    processes they run beside the many short ones instead of alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def figures(record_property):
    """What a long test measured (the soak's runs and kills, the fuzzer's requests), shown in the run's summary:
    kept on the test's report, so it reaches the summary from whichever test process ran it."""
    return lambda text: record_property("figures", text)


def pytest_terminal_summary(terminalreporter) -> None:
    reports = [r for kind in ("passed", "failed") for r in terminalreporter.stats.get(kind, []) if r.when == "call"]
    texts = [f"{r.nodeid}\n{value}" for r in reports for name, value in r.user_properties if name == "figures"]
    if texts:
        terminalreporter.write_sep("=", "figures")
        terminalreporter.write_line("\n\n".join(texts))


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


@pytest.fixture
def workspace(db: Database) -> SeededWorkspace:
    """A workspace with an admin and a member, each with a key."""
    return seed_workspace(db.sessions)


@pytest.fixture
def other_workspace(db: Database, workspace: SeededWorkspace) -> SeededWorkspace:
    return seed_workspace(db.sessions, "Globex Group")


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    with serving(tmp_path) as server:
        yield server


@pytest.fixture
def redis_url() -> str:
    """The Redis the tests share (REDIS_URL, else 127.0.0.1:6379); the test is skipped where there is none."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    return REDIS_URL
