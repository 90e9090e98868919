"""Rate limits per client (Flask-Limiter): failed workspace keys, and the OAuth handoff's pages.

Only *failed* key attempts count against a client, so a busy task pane never trips the limit; once a client
has spent its failures, every API call from it answers 429 until the window moves on. The OAuth pages count
every request: they are few per sign-in. Counters live in memory in the embedded default (one process) and
in Redis when `REDIS_URL` is set, so that every worker of a deployment sees the same ones.
"""
from __future__ import annotations

import time

from flask import Blueprint, Flask, Response
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from server.config import Settings
from server.errors import error_response

EXTENSION = "ledgerpane_limiter"


def _refused_key(response: Response) -> bool:
    return response.status_code == 401


def install_rate_limits(app: Flask, settings: Settings, api: list[Blueprint], oauth: Blueprint) -> Limiter:
    """Call before the app registers its own before_request hooks: the limit is checked before a key is."""
    limiter = Limiter(get_remote_address, app=app, storage_uri=settings.redis_url or "memory://",
                      key_prefix="ledgerpane", strategy="fixed-window", headers_enabled=False)
    failed_keys = limiter.shared_limit(settings.rate_limit_failed_keys, scope="failed-keys",
                                       deduct_when=_refused_key,
                                       error_message="Too many requests with a wrong workspace key.")
    for blueprint in api:
        failed_keys(blueprint)
    limiter.shared_limit(settings.rate_limit_oauth, scope="oauth",
                         error_message="Too many sign-in attempts.")(oauth)
    app.extensions[EXTENSION] = limiter

    @app.errorhandler(RateLimitExceeded)
    def _too_many(error: RateLimitExceeded):
        current = limiter.current_limit
        wait = max(1, round(current.reset_at - time.time())) if current else 60
        response, status = error_response(
            429, "too_many_requests", f"{error.description} Try again in {wait} seconds.")
        response.status_code = status
        response.headers["Retry-After"] = str(wait)
        return response

    return limiter
