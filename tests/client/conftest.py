"""A workspace with two sandbox organisations connected, selected and refreshed once, served on a real HTTP port
of 127.0.0.1 for the Python client, once per backend for the whole folder (its tests only read)."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from werkzeug.serving import make_server

from server.db.engine import make_engine, make_sessionmaker, upgrade
from server.sandbox.config import DEMO_CLIENT
from tests.support.database import BACKENDS, Database, SeededWorkspace, fresh_database_url, seed_workspace
from tests.support.journey import CALLBACK, Journey, provider_app
from tests.support.refresh import run_refresh


@dataclass
class ServedBooks:
    url: str
    workspace: SeededWorkspace
    provider: object
    entities: list[dict]  # the selected ones, as the API lists them: id, name, provider_entity_id...


@pytest.fixture(scope="package", params=BACKENDS)
def served_books(request, sandbox_server, tmp_path_factory) -> Iterator[ServedBooks]:
    directory = tmp_path_factory.mktemp(f"client-{request.param}")
    url, drop = fresh_database_url(request.param, directory)
    engine = make_engine(url)
    upgrade(engine)
    database = Database(request.param, url, engine, make_sessionmaker(engine))
    provider = sandbox_server
    provider.admin("POST", "/admin/reset", {"grants": True}, expect=200)
    provider.admin("POST", "/admin/clients", {"clientId": DEMO_CLIENT.client_id,
                                              "clientSecret": DEMO_CLIENT.client_secret,
                                              "redirectUris": [CALLBACK]}, expect=201)
    workspace = seed_workspace(database.sessions)
    with provider_app(database, directory, provider) as app:
        journey = Journey(app.test_client(), provider, workspace.admin())
        connection_id = journey.connect()
        journey.select(connection_id, 2)  # two entities: enough for the entity filter, and quicker
        assert run_refresh(journey, connection_id)["status"] == "succeeded"
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield ServedBooks(f"http://127.0.0.1:{server.server_port}", workspace, provider,
                              [e for e in journey.entities(connection_id) if e["selected"]])
        finally:
            server.shutdown()
            thread.join(timeout=10)
    engine.dispose()
    drop()
