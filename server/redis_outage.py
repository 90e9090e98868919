"""Redis, where a deployment has one, lets its workers share counters and kept answers; none of that is worth a
failed request. Once Redis fails, `Outage` has its caller go on without it for a while rather than wait on it
again at every request (server/access/limits.py, server/db/snapshots.py)."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class Outage:
    """Calls through Redis, or `without` while Redis was found away in the last `seconds`."""

    def __init__(self, errors: tuple[type[Exception], ...], meanwhile: str, seconds: float = 30.0) -> None:
        self.errors, self.meanwhile, self.seconds = errors, meanwhile, seconds  # meanwhile: what happens instead
        self._away_until = 0.0

    def call(self, through_redis: Callable[[], T], without: Callable[[], T]) -> T:
        if time.monotonic() >= self._away_until:
            try:
                return through_redis()
            except self.errors as error:
                cause = getattr(error, "storage_error", error)  # `limits` wraps the Redis client's error
                log.warning("%s for %.0f s: Redis unreachable (%s)", self.meanwhile, self.seconds,
                            type(cause).__name__)
                self._away_until = time.monotonic() + self.seconds
        return without()
