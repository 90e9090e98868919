"""Test databases: a fresh one per backend (SQLite always, PostgreSQL when TEST_DATABASE_URL is set), and a
workspace seeded in it with an admin's and a member's key."""
from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from server.access.workspaces import add_member, create_key, create_workspace
from server.db.engine import make_engine
from server.db.models import Connection, Entity, Role

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "")
BACKENDS = ["sqlite", "postgresql"] if POSTGRES_URL else ["sqlite"]
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")  # shared by the tests that need one


@dataclass
class Database:
    backend: str
    url: str
    engine: Engine
    sessions: sessionmaker[Session]


def fresh_database_url(backend: str, directory: Path) -> tuple[str, Callable[[], None]]:
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


def add_company(session: Session, workspace_id: int, company: str, currency: str = "GBP") -> Entity:
    """A live source holding one chosen company, straight into the database (no consent): the company."""
    connection = Connection(workspace_id=workspace_id, name=f"{company} books", provider="xero", status="live")
    session.add(connection)
    session.flush()
    entity = Entity(workspace_id=workspace_id, connection_id=connection.id, provider_entity_id=f"e{connection.id}",
                    name=company, selected=True, base_currency=currency)
    session.add(entity)
    session.flush()
    return entity
