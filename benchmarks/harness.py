"""What the refresh benchmarks share: a sandbox in a child process, a workspace connected to it, a run.

The sandbox runs without rate limits (the figures are ours, not Xero's 60 calls a minute) in its own
process, so its page serving does not compete with our parsing for the interpreter.
"""
from __future__ import annotations

import multiprocessing
import os
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from sqlalchemy import text

from server.access.workspaces import create_workspace
from server.config import load_settings
from server.connections.entities import sync_entities
from server.connections.status import Event, apply
from server.db.engine import make_engine, transaction, upgrade
from server.db.models import Connection
from server.refresh.helpers import warm_up
from server.refresh.pipeline import execute
from server.refresh.runs import request_refresh
from server.runtime import Runtime
from server.sandbox.config import DEMO_CLIENT

ORIGIN = "http://bench.local"
ADMIN_KEY = "bench-admin"
POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _serve_sandbox(lines: int, ready: Any) -> None:
    import waitress

    from server.sandbox import RateLimits, SandboxClient, SandboxConfig, create_sandbox_app

    started = time.perf_counter()
    client = SandboxClient(DEMO_CLIENT.client_id, DEMO_CLIENT.client_secret,
                           [f"{ORIGIN}/oauth/callback/xero-sandbox"])
    app = create_sandbox_app(SandboxConfig(clients=[client], lines=lines, tenants=1, auto_approve=True,
                                           admin_key=ADMIN_KEY, rate_limits=RateLimits(enabled=False)))
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4)
    ready.put((f"http://127.0.0.1:{server.effective_port}", time.perf_counter() - started))
    server.run()


@contextmanager
def sandbox(lines: int):
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    process = context.Process(target=_serve_sandbox, args=(lines, ready), daemon=True)
    process.start()
    try:
        url, seconds = ready.get(timeout=900)
        print(f"sandbox: {lines:,} lines generated in {seconds:.1f} s")
        yield url
    finally:
        process.terminate()
        process.join(timeout=10)


def admin(sandbox_url: str, method: str, path: str, body: Any = None) -> Any:
    response = requests.request(method, sandbox_url + path, json=body, headers={"X-Sandbox-Admin": ADMIN_KEY},
                                timeout=120)
    response.raise_for_status()
    return response.json()


@contextmanager
def database(backend: str, directory: Path):
    """An empty, migrated database of that backend (a schema of its own on PostgreSQL)."""
    if backend == "sqlite":
        url = f"sqlite:///{directory / f'bench-{uuid.uuid4().hex[:8]}.db'}"
        drop = None
    else:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin_engine = make_engine(POSTGRES_URL)
        with admin_engine.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}options=-csearch_path%3D{schema}"

        def drop() -> None:
            with admin_engine.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin_engine.dispose()
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        if drop:
            drop()


def settle(database_url: str) -> None:
    """Write out what earlier steps left behind, so that a measured step does not pay for the previous one's: on
    PostgreSQL its dirty pages (CHECKPOINT; needs a superuser or pg_checkpoint, skipped without), on SQLite its
    write-ahead log (copied into the database and emptied), which otherwise a later step's commit would copy."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            if database_url.startswith("sqlite"):
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            else:
                connection.execute(text("CHECKPOINT"))
    except Exception as error:  # noqa: BLE001 - a benchmark without the privilege still runs
        print(f"(no CHECKPOINT before the measurement: {str(error).splitlines()[0]})")
    finally:
        engine.dispose()


@dataclass
class Bench:
    services: Runtime
    connection_id: int
    sandbox_url: str

    def refresh(self, mode: str = "incremental") -> tuple[float, dict]:
        run_id, _ = request_refresh(self.services.sessions, self.connection_id, trigger="manual", member_id=None,
                                    mode=mode)
        started = time.perf_counter()
        status = execute(self.services, run_id)
        seconds = time.perf_counter() - started
        with self.services.sessions() as session:
            from server.db.models import RefreshRun

            run = session.get(RefreshRun, run_id)
            assert status == "succeeded", run.error
            return seconds, {"counters": run.counters, "needs_attention": run.needs_attention}


def connect(database_url: str, sandbox_url: str, var_dir: Path, **settings: Any) -> Bench:
    """A workspace with the sandbox's organisation connected and selected, as after the consent dialog."""
    services = Runtime(load_settings({"database_url": database_url, "var_dir": var_dir, "sandbox": False,
                                       "sandbox_url": sandbox_url, "public_url": ORIGIN,
                                       "sandbox_rate_scale": 1e-6, **settings}))
    warm_up(wait=True)  # a service that has been running: its reader helpers fork without waiting for imports
    connector = services.connector("xero-sandbox")
    redirect = f"{ORIGIN}/oauth/callback/xero-sandbox"
    consent = connector.auth.authorization_url(redirect)
    back = parse_qs(urlsplit(requests.get(consent.url, allow_redirects=False, timeout=30).headers["Location"]).query)
    token = connector.auth.exchange_code(redirect_uri=redirect, code=back["code"][0], returned_state=back["state"][0],
                                          expected_state=consent.state, code_verifier=consent.code_verifier)
    with transaction(services.sessions) as session:
        workspace, _ = create_workspace(session, "Benchmark", "bench@localhost")
        connection = Connection(workspace_id=workspace.id, provider="xero-sandbox", name="Benchmark books")
        session.add(connection)
        session.flush()
        services.vault.store(connection, token)
        sync_entities(session, connection, connector.list_companies(lambda rejected=None: token["access_token"]))
        for entity in connection.entities:
            entity.selected = True
        apply(connection, Event.authorized)
        connection_id = connection.id
    return Bench(services, connection_id, sandbox_url)


def peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
