"""What a running process holds for its lifetime: settings, the database, the vault, connectors, the job queue.

The service, a `ledgerpane` command and a reader helper process each build one `Runtime`. It imports no
feature that runs work (the refresh pipeline takes a runtime, not the other way round), so nothing here
can pull the pipeline into an import circle.
"""
from __future__ import annotations

from typing import Protocol

from flask import current_app

from server.config import Settings
from server.connections.vault import Vault, load_cipher
from server.connectors import Connector, connector_for
from server.connectors.framework.budgets import ProcessBudgets, SharedBudgets
from server.connectors.framework.http import default_client
from server.db.engine import make_engine, make_sessionmaker, make_snapshot_engine
from server.db.models import Connection
from server.db.snapshots import Shared


class JobQueue(Protocol):
    """Where refresh runs are carried out. `submit` hands over a queued run's id and returns at once;
    whoever executes it, the database's one-run-per-connection rule has the last word."""

    def submit(self, run_id: int) -> None: ...

    def close(self) -> None: ...


class Runtime:
    """Reached in a request as `runtime()`; elsewhere passed by whoever built it."""

    jobs: JobQueue  # set by whoever runs the process, as the settings say (server.jobs.job_queue_for)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(settings.effective_database_url)
        self.snapshot_engine = make_snapshot_engine(self.engine)  # PostgreSQL only (server/db/snapshots.py)
        # The workers share the list's and the log's kept answers through Redis, if there is one.
        self.shared_answers = (Shared(settings.redis_url, self.engine)
                               if settings.redis_url and self.snapshot_engine is not None else None)
        self.sessions = make_sessionmaker(self.engine)
        self.vault = Vault(load_cipher(settings), self.sessions, lambda connection: self.connector_for(connection).auth)
        self._budgets = shared_budgets(settings)
        # The process-wide client counts provider calls in these budgets (in Redis: with every other worker).
        default_client().share_budgets(self._budgets)

    def connector_for(self, connection: Connection) -> Connector:
        """A connector for this connection, from its provider and stored setup (cheap: it holds no state of
        its own; rate budgets live in the process-wide HTTP client)."""
        return self.connector(connection.provider, connection.setup_fields)

    def connector(self, provider: str, setup: dict[str, str] | None = None) -> Connector:
        return connector_for(self.settings, provider, setup)

    def close(self) -> None:
        jobs = getattr(self, "jobs", None)
        if jobs is not None:
            jobs.close()
        default_client().share_budgets(None)
        self._budgets.close()
        if self.snapshot_engine is not None:
            self.snapshot_engine.dispose()
        if self.shared_answers is not None:
            self.shared_answers.close()
        self.engine.dispose()


def shared_budgets(settings: Settings) -> ProcessBudgets | SharedBudgets:
    if settings.provider_budgets == "process":
        return ProcessBudgets()
    if settings.provider_budgets != "redis" or not settings.redis_url:
        raise ValueError("LEDGERPANE_PROVIDER_BUDGETS is `process`, or `redis` with REDIS_URL set")
    return SharedBudgets(settings.redis_url, f"{settings.budget_namespace}:budgets")


def runtime() -> Runtime:
    """The runtime of the app handling the current request."""
    return current_app.extensions["ledgerpane"]
