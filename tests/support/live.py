"""The whole service on a real HTTP port of 127.0.0.1 (werkzeug, in a thread), on a fresh SQLite database
with one workspace: what the browser tests and the consent dialog talk to."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from server.app import create_app
from server.db.engine import make_engine, make_sessionmaker, upgrade
from tests.support.database import fresh_database_url, seed_workspace


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
