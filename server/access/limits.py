"""Rate limits per client (Flask-Limiter and its `limits`): failed workspace keys, and the OAuth handoff's pages.

Only *failed* key attempts count against a client, and only they are refused: once a client has spent its
failures, a missing or wrong key answers 429 instead of 401 until the window moves on, while a key the service
knows is still served. An office reaches us from one address, so refusing it all would let one misconfigured
pane (or one colleague) lock everyone out; and a key is 32 random bytes, so refusing a right guess would protect
nothing. It also keeps the counters off the path of every good request (two Redis round trips each, a fifth of
a kept answer's time under load; benchmarks/api_load.py). The OAuth pages count every request: they are few per
sign-in. Counters live in memory in the embedded default (one process) and in Redis when `REDIS_URL` is set, so
that every worker of a deployment sees the same ones.

The failed-key limit is applied by `authenticate()` itself, with the limiter's own strategy and storage
(Flask-Limiter's per-request resolution of which limits apply would run on every API request). The sign-in
pages keep Flask-Limiter's decorator.
"""
from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Flask, current_app, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter

from server.config import Settings
from server.errors import ApiError
from server.redis_outage import Outage

EXTENSION = "ledgerpane_limiter"
FAILED_KEYS = "ledgerpane_failed_keys"


class FailedKeys:
    """The failed-key limits ("10 per minute; 50 per hour"), counted in the limiter's storage. While that storage
    (Redis) is unreachable they are counted in this process's memory instead, as Flask-Limiter's own fallback
    does for the sign-in pages: still limited, per worker, and never a 500."""

    def __init__(self, limiter: Limiter, spec: str) -> None:
        self.limiter = limiter
        self.limits = parse_many(spec)
        self._fallback = FixedWindowRateLimiter(MemoryStorage())
        self._outage = Outage((StorageError,), "failed keys counted in memory")

    def refusal(self, error: ApiError) -> ApiError:
        """What to raise for a missing or wrong key: `error` (a 401), counted against this client; or a 429 once it
        has spent a window's failures (not counted: the window moves on as it would)."""
        client = self._client()
        for limit in self.limits:
            if not self._count("test", limit, client):
                reset = self._count("get_window_stats", limit, client).reset_time
                return too_many("Too many requests with a wrong workspace key.", reset)
        for limit in self.limits:
            self._count("hit", limit, client)
        return error

    def _count(self, how: str, limit: RateLimitItem, client: tuple[str, ...]) -> Any:
        return self._outage.call(lambda: getattr(self.limiter.limiter, how)(limit, *client),
                                 lambda: getattr(self._fallback, how)(limit, *client))

    def _client(self) -> tuple[str, ...]:
        return "ledgerpane", "failed-keys", get_remote_address()


def too_many(message: str, reset_at: float) -> ApiError:
    """A JSON 429 that says, and sends as Retry-After, the whole seconds until the window moves on."""
    wait = max(1, round(reset_at - time.time()))
    return ApiError(429, "too_many_requests", f"{message} Try again in {wait} seconds.",
                    headers={"Retry-After": str(wait)})


def failed_keys() -> FailedKeys:
    return current_app.extensions[FAILED_KEYS]


def install_rate_limits(app: Flask, settings: Settings, oauth: Blueprint) -> Limiter:
    limiter = Limiter(get_remote_address, app=app, storage_uri=settings.redis_url or "memory://",
                      storage_options={"wrap_exceptions": True}, in_memory_fallback_enabled=True,
                      key_prefix="ledgerpane", strategy="fixed-window", headers_enabled=False)
    limiter.shared_limit(settings.rate_limit_oauth, scope="oauth",
                         error_message="Too many sign-in attempts.")(oauth)
    # Flask-Limiter looks at the sign-in pages alone; the API's failed keys are counted by `authenticate()`.
    limiter.request_filter(lambda: request.blueprint != oauth.name)
    app.extensions[EXTENSION] = limiter
    app.extensions[FAILED_KEYS] = FailedKeys(limiter, settings.rate_limit_failed_keys)

    @app.errorhandler(RateLimitExceeded)
    def _too_many(error: RateLimitExceeded):
        current = limiter.current_limit
        return too_many(error.description, current.reset_at if current else time.time() + 60).response()

    return limiter
