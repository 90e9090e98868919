"""What the running service holds for its lifetime: settings, database, vault, connectors."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from flask import current_app

from server.config import Settings
from server.connections.vault import Vault, load_cipher
from server.connectors import Connector, get_provider
from server.db.engine import make_engine, make_sessionmaker
from server.refresh.reader import warm_up


class Services:
    """What the app holds for its lifetime, reached as `current_app.extensions["ledgerpane"]`."""

    def __init__(self, settings: Settings, *, in_helper: bool = False) -> None:
        """`in_helper`: for a ledger reader's helper process, which only pulls and starts no helpers."""
        self.settings = settings
        self.engine = make_engine(settings.effective_database_url)
        self.sessions = make_sessionmaker(self.engine)
        self.vault = Vault(load_cipher(settings), self.sessions, lambda c: self.connector(c.provider).oauth)
        self._connectors: dict[str, Connector] = {}
        self._connectors_guard = threading.Lock()
        # Refresh runs execute here, off the request threads; a distributed worker can replace this later.
        self._runs = ThreadPoolExecutor(max_workers=settings.refresh_workers, thread_name_prefix="refresh")
        if not in_helper:
            warm_up()  # the ledger reader's process helpers (server/refresh/reader.py)

    def start_refresh(self, run_id: int) -> None:
        from server.refresh.pipeline import execute

        self._runs.submit(execute, self, run_id)

    def close(self) -> None:
        self._runs.shutdown(wait=True, cancel_futures=False)
        self.engine.dispose()

    def connector(self, provider: str) -> Connector:
        """One connector per provider per process: its rate limiter must see every call to a tenant."""
        with self._connectors_guard:
            if provider not in self._connectors:
                self._connectors[provider] = get_provider(self.settings, provider).factory()
            return self._connectors[provider]


def services() -> Services:
    """The services of the app handling the current request."""
    return current_app.extensions["ledgerpane"]
