"""Rate budgets: counted in this process (`ProcessBudgets`) or shared by every process of a deployment in Redis
(`SharedBudgets`); LEDGERPANE_PROVIDER_BUDGETS chooses (server/runtime.py).

Without Redis the install is one process (`ledgerpane serve` with its thread pool; `ledgerpane worker` processes
refuse to start without shared budgets, as each counting alone would let them together go over). Its budgets are
the in-process `TenantLimiter` per rate key and, above them, one window per application: every rate key of one
provider key (our one app registration there) takes from it, so raising LEDGERPANE_REFRESH_WORKERS cannot take
the process past an app-wide limit either.

Several workers each keeping under the limits would together go over. `SharedBudgets` hands out limiters with the
same interface whose counts live in Redis: per rate key (a tenant) a sliding window of sends, a day's count, the
requests in flight and a pause after a 429; per application a sliding window too. One Lua script checks and
takes all of them at once, on the Redis server's clock, so processes on machines whose clocks differ still agree. A
request in flight holds a lease, so a killed worker's slots come back by themselves.
"""
from __future__ import annotations

import threading
import uuid
from collections import deque
from typing import Any

import redis

from server.connectors.framework.errors import RateLimited
from server.connectors.framework.http import TenantLimiter

# Returns {"ok"} when a send may go now; {"wait", seconds} when it must wait; {"day", seconds left} when the
# day's budget is spent. Keys: tenant window, tenant in flight, tenant day, tenant pause, app window.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window, per_window, concurrent = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local per_day, day_seconds = tonumber(ARGV[4]), tonumber(ARGV[5])
local app_window, app_per_window = tonumber(ARGV[6]), tonumber(ARGV[7])
local slot, lease = ARGV[8], tonumber(ARGV[9])
local paused = tonumber(redis.call('GET', KEYS[4]) or '0')
if paused > now then return {'wait', tostring(paused - now)} end
if per_day > 0 then
  local used = tonumber(redis.call('GET', KEYS[3]) or '0')
  if used >= per_day then
    return {'day', tostring(math.max(redis.call('PTTL', KEYS[3]), 0) / 1000)}
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= concurrent then return {'wait', '0.01'} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= per_window then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {'wait', tostring(tonumber(oldest[2]) + window - now)}
end
if app_per_window > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - app_window)
  if redis.call('ZCARD', KEYS[5]) >= app_per_window then
    local oldest = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
    return {'wait', tostring(tonumber(oldest[2]) + app_window - now)}
  end
  redis.call('ZADD', KEYS[5], now, slot)
  redis.call('PEXPIRE', KEYS[5], math.ceil(app_window * 1000))
end
redis.call('ZADD', KEYS[1], now, slot)
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
redis.call('ZADD', KEYS[2], now + lease, slot)
redis.call('PEXPIRE', KEYS[2], math.ceil(lease * 1000))
if per_day > 0 then
  if redis.call('INCR', KEYS[3]) == 1 then redis.call('PEXPIRE', KEYS[3], math.ceil(day_seconds * 1000)) end
end
return {'ok', '0'}
"""

# Pause a rate key until now + seconds, unless it is paused longer already.
_PAUSE = """
local t = redis.call('TIME')
local until_ = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1])
if until_ > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], tostring(until_), 'PX', math.ceil(tonumber(ARGV[1]) * 1000) + 1000)
end
return 1
"""


def app_of(rate_key: str) -> str:
    """The application a rate key counts against: its provider key (rate keys are `<provider>:<tenant>`)."""
    return rate_key.partition(":")[0]


class ProcessBudgets:
    """Budgets counted in this process alone: a TenantLimiter per rate key, and one window per application that
    every rate key of it shares."""

    def __init__(self) -> None:
        self._apps: dict[tuple[str, float, int], AppWindow] = {}
        self._lock = threading.Lock()

    def limiter(self, rate_key: str, limits: Any, clock: Any) -> Any:
        tenant = TenantLimiter(limits, clock)
        if not limits.app_per_window:
            return tenant
        key = (app_of(rate_key), limits.window_seconds, limits.app_per_window)
        with self._lock:
            window = self._apps.get(key)
            if window is None:
                window = self._apps[key] = AppWindow(limits.app_per_window, limits.window_seconds, clock)
        return AppLimitedLimiter(tenant, window)

    def close(self) -> None:
        pass


class AppWindow:
    """A sliding window of the sends of one application in this process."""

    def __init__(self, per_window: int, window_seconds: float, clock: Any) -> None:
        self.per_window, self.window_seconds, self._clock = per_window, window_seconds, clock
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def take(self) -> None:
        while True:
            with self._lock:
                now = self._clock.monotonic()
                while self._sent and self._sent[0] <= now - self.window_seconds:
                    self._sent.popleft()
                if len(self._sent) < self.per_window:
                    self._sent.append(now)
                    return
                wait = self._sent[0] + self.window_seconds - now
            self._clock.sleep(wait)

    def sent_in_window(self) -> int:
        with self._lock:
            now = self._clock.monotonic()
            return sum(1 for sent in self._sent if sent > now - self.window_seconds)


class AppLimitedLimiter:
    """A TenantLimiter that also takes a send from its application's window (acquire, release, pause as it)."""

    def __init__(self, tenant: TenantLimiter, app: AppWindow) -> None:
        self._tenant, self.app, self.limits = tenant, app, tenant.limits

    def acquire(self, endpoint: str = "") -> Any:
        slot = self._tenant.acquire(endpoint)
        try:
            self.app.take()
        except BaseException:
            self._tenant.release(slot)
            raise
        return slot

    def release(self, slot: Any = None) -> None:
        self._tenant.release(slot)

    def pause(self, seconds: float) -> None:
        self._tenant.pause(seconds)


class SharedBudgets:
    """Budgets in Redis under `namespace` (one per deployment: every process sharing a database shares them).
    `lease_seconds`: how long a request in flight may hold its slot before it counts as gone (longer than the
    HTTP client's read timeout)."""

    def __init__(self, redis_url: str, namespace: str, lease_seconds: float = 120.0) -> None:
        self._redis = redis.Redis.from_url(redis_url)
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._pause = self._redis.register_script(_PAUSE)
        self.namespace = namespace
        self.lease_seconds = lease_seconds

    def limiter(self, rate_key: str, limits: Any, clock: Any) -> SharedLimiter:
        return SharedLimiter(self, rate_key, limits, clock)

    def keys(self, rate_key: str) -> list[str]:
        app = app_of(rate_key)
        base = f"{self.namespace}:{rate_key}"
        return [f"{base}:window", f"{base}:flight", f"{base}:day", f"{base}:pause", f"{self.namespace}:{app}:app"]

    def note_wait(self, seconds: float) -> None:
        """Count time spent waiting for a budget (all processes together): how much the limits held runs back."""
        self._redis.incrbyfloat(f"{self.namespace}:waited", seconds)

    def waited_seconds(self) -> float:
        return float(self._redis.get(f"{self.namespace}:waited") or 0)

    def close(self) -> None:
        self._redis.close()


class SharedLimiter:
    """A TenantLimiter whose counts every process shares (acquire, release, pause, as TenantLimiter)."""

    def __init__(self, budgets: SharedBudgets, rate_key: str, limits: Any, clock: Any) -> None:
        self._budgets, self._keys, self.limits, self._clock = budgets, budgets.keys(rate_key), limits, clock

    def acquire(self, endpoint: str = "") -> str:
        limits, slot = self.limits, uuid.uuid4().hex
        while True:
            verdict, seconds = self._budgets._acquire(keys=self._keys, args=[
                limits.window_seconds, limits.per_window, limits.concurrent, limits.per_day or 0, limits.day_seconds,
                limits.window_seconds, limits.app_per_window or 0, slot, self._budgets.lease_seconds])
            if verdict == b"ok":
                return slot
            if verdict == b"day":  # waiting hours inside a pull helps nobody: the run parks the connection
                raise RateLimited("daily call budget spent", retry_after=float(seconds), problem="day",
                                  endpoint=endpoint)
            self._budgets.note_wait(float(seconds))
            self._clock.sleep(float(seconds))

    def release(self, slot: str) -> None:
        self._budgets._redis.zrem(self._keys[1], slot)

    def pause(self, seconds: float) -> None:
        self._budgets._pause(keys=[self._keys[3]], args=[seconds])
