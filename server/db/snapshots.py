"""The busiest reads' answers, given again while the database has not changed (PostgreSQL).

Fifty task panes polling one workspace ask the same few questions (the Connections list, the log's first page)
many times a second, and each answer costs several queries and its JSON. A PostgreSQL snapshot
(`pg_current_snapshot()`: its xmin, its xmax and the transactions then in progress) says exactly whose writes a
read sees. Any commit or abort changes every later snapshot (xmax moves up, or the transaction leaves the list in
progress; neither moves back), so two equal snapshots see the same data: an answer worked out after a snapshot
was taken is true again for a request whose snapshot is equal, and for no other. If something commits while the
answer is being worked out, no later snapshot equals its own and it is never given again. No writer has to say
that it wrote.

Some answers also depend on the clock alone (the list: a schedule's next run, the records of the last 30 days):
those are given for MAX_AGE seconds at most. The log's depend on the database alone. Each process keeps its own,
up to SIZE of each kind (a page is some tens of KB); the key holds the workspace and the role, so no answer
crosses either. SQLite has no
such snapshot: nothing is kept there (the embedded default serves one office, not fifty panes).
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from flask import current_app, g, request
from sqlalchemy import text

from server.db.engine import request_session

MAX_AGE = 10.0  # seconds
SIZE = 512
clock = time.monotonic


class Kept:
    """Values by key, each with the snapshot and the moment it was worked out at; the least used go first."""

    def __init__(self, size: int = SIZE, max_age: float | None = MAX_AGE) -> None:
        self.size, self.max_age = size, max_age
        self._values: OrderedDict[Hashable, tuple[str, float, Any]] = OrderedDict()
        self._lock = threading.Lock()  # waitress serves from threads

    def get(self, key: Hashable, snapshot: str) -> Any | None:
        with self._lock:
            kept = self._values.get(key)
            too_old = self.max_age is not None and kept is not None and clock() - kept[1] > self.max_age
            if kept is None or kept[0] != snapshot or too_old:
                return None
            self._values.move_to_end(key)
            return kept[2]

    def put(self, key: Hashable, snapshot: str, taken: float, value: Any) -> None:
        with self._lock:
            self._values[key] = (snapshot, taken, value)
            self._values.move_to_end(key)
            while len(self._values) > self.size:
                self._values.popitem(last=False)


def snapshot() -> str | None:
    """This read's snapshot, taken once, before anything else is read: on PostgreSQL, for GET; else None."""
    if "snapshot" not in g:
        session = request_session()
        if request.method == "GET" and session.get_bind().dialect.name == "postgresql":
            g.snapshot_at = clock()
            g.snapshot = session.execute(text("SELECT pg_current_snapshot()::text")).scalar_one()
        else:
            g.snapshot = None
    return g.snapshot


def kept(kind: str, max_age: float | None) -> Kept:
    """This app's store of one kind of answer ("callers", "connections", "log")."""
    stores = current_app.extensions.setdefault("kept_answers", {})
    return stores.get(kind) or stores.setdefault(kind, Kept(max_age=max_age))


def remembered(kind: str, key: Hashable, work_out: Callable[[], Any], max_age: float | None = MAX_AGE) -> Any:
    """The answer kept for `key` if the database is as it was when it was worked out (and, unless `max_age` is
    None, it is no older than that); else `work_out()`, kept."""
    taken = snapshot()
    if taken is None:
        return work_out()
    store = kept(kind, max_age)
    value = store.get(key, taken)
    if value is None:
        value = work_out()
        store.put(key, taken, g.snapshot_at, value)
    return value
