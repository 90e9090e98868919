"""The busiest reads' answers, given again while the database has not changed (PostgreSQL).

Fifty task panes polling one workspace ask the same few questions (the Connections list, the log's first page)
many times a second, and each answer costs several queries and its JSON. A PostgreSQL snapshot
(`pg_current_snapshot()`: its xmin, its xmax and the transactions then in progress) says exactly whose writes a
read sees. Any commit or abort changes every later snapshot (xmax moves up, or the transaction leaves the list in
progress; neither moves back), so two equal snapshots see the same data: an answer worked out after a snapshot
was taken is true again for a request whose snapshot is equal, and for no other. If something commits while the
answer is being worked out, no later snapshot equals its own and it is never given again. No writer has to say
that it wrote.

Some answers also depend on the clock alone. The list changes when a schedule's next run comes due (then the
scheduler starts the run, a write, unless it is off), and drifts by little as the 30-day records and the month's
calls move on: it is kept until its first next run, LIST_AGE seconds at most (from half that, at random, so that
answers worked out together are not all worked out again together). A caller is kept MAX_AGE, so a key's
last use is still noted. The log's answers depend on the database alone.

Each process keeps its own, up to SIZE of each kind (a page is some tens of KB); the key holds the workspace and
the role, so no answer crosses either. With REDIS_URL set, the list's and the log's answers are also shared by
every worker of the deployment (`Shared`): after a change, one worker works an answer out and the others take it,
on the same snapshot only. SQLite has no such snapshot: nothing is kept there (the embedded default serves one
office, not fifty panes).
"""
from __future__ import annotations

import hashlib
import math
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
import redis
from flask import current_app, g, request
from sqlalchemy import Engine

from server.db.models import utcnow
from server.redis_outage import Outage

MAX_AGE = 10.0  # seconds
LIST_AGE = 60.0
SIZE = 512
SHARED_AGE = 300.0  # an answer stays in Redis this long at most (its snapshot is usually gone far sooner)
clock = time.monotonic


@dataclass(frozen=True)
class TrueUntil:
    """An answer, and the moment (UTC) from which the clock alone makes it untrue; None: no such moment."""

    value: Any
    moment: datetime | None


class Kept:
    """Values by key, each with its snapshot and the moment the clock alone ends it; the least used go first."""

    def __init__(self, size: int = SIZE) -> None:
        self.size = size
        self._values: OrderedDict[Hashable, tuple[str, float, Any]] = OrderedDict()  # snapshot, until, value
        self._lock = threading.Lock()  # waitress serves from threads

    def get(self, key: Hashable, snapshot: str) -> Any | None:
        with self._lock:
            found = self._values.get(key)
            if found is None or found[0] != snapshot or clock() >= found[1]:
                return None
            self._values.move_to_end(key)
            return found[2]

    def put(self, key: Hashable, snapshot: str, until: float, value: Any) -> None:
        """Keep `value` for requests on `snapshot` until the clock reads `until`."""
        with self._lock:
            self._values[key] = (snapshot, until, value)
            self._values.move_to_end(key)
            while len(self._values) > self.size:
                self._values.popitem(last=False)


class Shared:
    """Answers shared by the workers of a deployment through Redis, each with its snapshot and the wall-clock moment
    it ends: given only to a request on the same snapshot, as the process's own are. Redis being away costs
    nothing but the sharing: the workers then work their answers out alone, and try Redis again a little later."""

    def __init__(self, url: str, database: Engine) -> None:
        self.redis = redis.Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25)
        self._outage = Outage((redis.RedisError,), "kept answers not shared")
        # A snapshot is the database server's, not one database's: answers about another database on the same
        # server (another deployment using this Redis) would be taken on an equal snapshot. Each database has its
        # own names.
        where = database.url.set(password=None).render_as_string()
        self.prefix = f"ledgerpane:kept:{hashlib.sha256(where.encode()).hexdigest()[:16]}:"

    def get(self, kind: str, key: Hashable, snapshot: str) -> tuple[float, str] | None:
        """(seconds it is still true for, the answer), or None."""
        found = self._ask(self.redis.get, self._name(kind, key))
        if found is None:
            return None
        taken, ends, value = found.split(b"\n", 2)
        left = float(ends) - time.time()
        if taken.decode() != snapshot or left <= 0:
            return None
        return left, value.decode()

    def put(self, kind: str, key: Hashable, snapshot: str, seconds: float, value: str) -> None:
        seconds = min(seconds, SHARED_AGE)
        if seconds > 0:
            stored = f"{snapshot}\n{time.time() + seconds}\n{value}".encode()
            self._ask(self.redis.set, self._name(kind, key), stored, px=max(1, int(seconds * 1000)))

    def close(self) -> None:
        self.redis.close()

    def _name(self, kind: str, key: Hashable) -> str:
        return self.prefix + kind + ":" + hashlib.sha256(repr(key).encode()).hexdigest()

    def _ask(self, command: Callable, *args, **options) -> Any:
        return self._outage.call(lambda: command(*args, **options), lambda: None)


def snapshot() -> str | None:
    """This read's snapshot, taken once, before anything else is read: on PostgreSQL, for GET; else None."""
    if "snapshot" not in g:
        engine = current_app.extensions["ledgerpane"].snapshot_engine  # None but on PostgreSQL
        if request.method == "GET" and engine is not None:
            g.snapshot_at = clock()
            # Outside the request's transaction, on a connection kept for it: a kept answer then costs one round
            # trip (no ping, BEGIN or ROLLBACK). Taken before the request reads anything, it is no later than what
            # the answer saw.
            g.snapshot = read_snapshot(engine)
        else:
            g.snapshot = None
    return g.snapshot


def read_snapshot(engine: Engine) -> str:
    try:
        return _read(engine)
    except psycopg.OperationalError:
        return _read(engine)  # the connection had been dropped (a database restart): once more, on a new one


def _read(engine: Engine) -> str:
    # On the driver's connection: SQLAlchemy's statement and result machinery cost more than the round trip.
    connection = engine.raw_connection()
    try:
        return connection.driver_connection.execute("SELECT pg_current_snapshot()::text").fetchone()[0]
    except psycopg.OperationalError:
        connection.invalidate()  # not back into the pool
        raise
    finally:
        connection.close()


def kept(kind: str) -> Kept:
    """This app's store of one kind of answer ("callers", "connections", "log")."""
    stores = current_app.extensions.setdefault("kept_answers", {})
    return stores.get(kind) or stores.setdefault(kind, Kept())


def remembered(kind: str, key: Hashable, work_out: Callable[[], Any], max_age: float | None = MAX_AGE,
               shared: bool = False) -> Any:
    """The answer kept for `key` if the database is as it was when it was worked out and, unless `max_age` is
    None, it is no older than that; else `work_out()`, kept. `work_out` may return a TrueUntil: then the answer
    is kept until that moment at the latest. `shared` answers (text) are shared with the other workers too."""
    taken = snapshot()
    store = kept(kind) if taken is not None else None
    if store is not None and (value := store.get(key, taken)) is not None:
        return value
    others = current_app.extensions["ledgerpane"].shared_answers if shared and store is not None else None
    if others is not None and (found := others.get(kind, key, taken)) is not None:
        left, value = found
        store.put(key, taken, clock() + left, value)
        return value
    answer = work_out()
    value, moment = (answer.value, answer.moment) if isinstance(answer, TrueUntil) else (answer, None)
    if store is not None and value is not None:  # nothing to keep: an unknown key, say
        # Answers worked out together (after a change, or as the panes open) would reach their age together and be
        # worked out again in one burst: each is kept between half its age and its age.
        until = g.snapshot_at + max_age * (1 - random.random() / 2) if max_age is not None else math.inf
        if moment is not None:
            until = min(until, g.snapshot_at + (moment - utcnow()).total_seconds())
        store.put(key, taken, until, value)
        if others is not None:
            others.put(kind, key, taken, until - clock(), value)
    return value
