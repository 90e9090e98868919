"""What can go wrong on purpose: injected faults, a provider's rate limits, and the counters tests read."""
from __future__ import annotations

import math
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field

from server.sandbox.config import RateLimits

FAULT_KINDS = ("429", "500", "503", "slow", "drop")


@dataclass
class Fault:
    """The next `count` matching calls fail this way (or, for "slow", are delayed by `delay` seconds)."""

    kind: str
    count: int = 1
    delay: float = 0.0
    retry_after: int = 1
    endpoint: str | None = None  # e.g. "Journals"; None matches every call

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        if self.count < 1:
            raise ValueError("count must be at least 1")
        if not 0 <= self.delay <= 60:
            raise ValueError("delay must be between 0 and 60 seconds")
        if self.retry_after < 0:
            raise ValueError("retry_after must not be negative")

    def as_json(self) -> dict:
        return {"kind": self.kind, "count": self.count, "delay": self.delay,
                "retryAfter": self.retry_after, "endpoint": self.endpoint}


class FaultBook:
    """Pending faults per target: a tenant id, or "identity" for the token and connections endpoints."""

    def __init__(self) -> None:
        self._faults: dict[str, list[Fault]] = {}
        self._lock = threading.Lock()

    def add(self, target: str, fault: Fault) -> None:
        with self._lock:
            self._faults.setdefault(target, []).append(fault)

    def take(self, target: str, endpoint: str) -> Fault | None:
        """Consume one use of the first fault that matches this call."""
        with self._lock:
            pending = self._faults.get(target, [])
            for fault in pending:
                if fault.endpoint in (None, endpoint):
                    fault.count -= 1
                    if fault.count == 0:
                        pending.remove(fault)
                    return Fault(fault.kind, 1, fault.delay, fault.retry_after, fault.endpoint)
            return None

    def pending(self, target: str) -> list[Fault]:
        with self._lock:
            return list(self._faults.get(target, []))

    def clear(self, target: str | None = None) -> None:
        with self._lock:
            if target is None:
                self._faults.clear()
            else:
                self._faults.pop(target, None)


@dataclass
class Decision:
    allowed: bool
    headers: dict[str, str]
    problem: str | None = None
    retry_after: int = 0


@dataclass
class _Window:
    index: int = -1
    used: int = 0

    def count(self, now: float, seconds: float) -> None:
        """Move to the current fixed window (providers' windows are fixed, not sliding)."""
        index = int(now // seconds)
        if index != self.index:
            self.index, self.used = index, 0

    def seconds_left(self, now: float, seconds: float) -> int:
        return max(1, math.ceil((self.index + 1) * seconds - now))


@dataclass
class _TenantUsage:
    minute: _Window = field(default_factory=_Window)
    day: _Window = field(default_factory=_Window)
    in_flight: int = 0


class RateLimiter:
    """Per-tenant minute, day and concurrency limits plus the per-app minute limit, as providers publish them."""

    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        self._tenants: dict[str, _TenantUsage] = {}
        self._apps: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def configure(self, limits: RateLimits) -> None:
        with self._lock:
            self.limits = limits
            self._tenants.clear()
            self._apps.clear()

    def acquire(self, tenant_id: str, client_id: str, now: float) -> Decision:
        """Count a call; on success the caller must release() the tenant when the response is done."""
        limits = self.limits
        with self._lock:
            usage = self._tenants.setdefault(tenant_id, _TenantUsage())
            app = self._apps.setdefault(client_id, _Window())
            if not limits.enabled:
                usage.in_flight += 1
                return Decision(True, self._headers(limits, limits.per_day, limits.per_minute,
                                                    limits.app_per_minute))
            usage.minute.count(now, limits.minute_seconds)
            usage.day.count(now, limits.day_seconds)
            app.count(now, limits.minute_seconds)
            problem, retry_after = None, 0
            if usage.day.used >= limits.per_day:
                problem, retry_after = "day", usage.day.seconds_left(now, limits.day_seconds)
            elif app.used >= limits.app_per_minute:
                problem, retry_after = "appminute", app.seconds_left(now, limits.minute_seconds)
            elif usage.minute.used >= limits.per_minute:
                problem, retry_after = "minute", usage.minute.seconds_left(now, limits.minute_seconds)
            elif usage.in_flight >= limits.concurrent:
                problem, retry_after = "concurrent", 1
            else:
                usage.minute.used += 1
                usage.day.used += 1
                app.used += 1
                usage.in_flight += 1
            headers = self._headers(limits, limits.per_day - usage.day.used,
                                    limits.per_minute - usage.minute.used,
                                    limits.app_per_minute - app.used)
            return Decision(problem is None, headers, problem, retry_after)

    def release(self, tenant_id: str) -> None:
        with self._lock:
            usage = self._tenants.get(tenant_id)
            if usage is not None:  # a reset (new limits) between acquire and release forgot the tenant
                usage.in_flight -= 1

    def in_flight(self, tenant_id: str) -> int:
        with self._lock:
            usage = self._tenants.get(tenant_id)
            return usage.in_flight if usage else 0

    def reset(self) -> None:
        with self._lock:
            for usage in self._tenants.values():
                usage.minute, usage.day = _Window(), _Window()
            self._apps.clear()

    @staticmethod
    def _headers(limits: RateLimits, day: int, minute: int, app_minute: int) -> dict[str, str]:
        return {"X-DayLimit-Remaining": str(max(day, 0)), "X-MinLimit-Remaining": str(max(minute, 0)),
                "X-AppMinLimit-Remaining": str(max(app_minute, 0))}

    def describe(self) -> dict:
        return {camel_case(key): value for key, value in asdict(self.limits).items()}


@dataclass
class TenantStats:
    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    endpoints: Counter = field(default_factory=Counter)
    rate_limited: Counter = field(default_factory=Counter)  # 429s we decided, by X-Rate-Limit-Problem
    injected: Counter = field(default_factory=Counter)  # faults served, by kind
    max_in_flight: int = 0


class StatsBook:
    def __init__(self) -> None:
        self._tenants: dict[str, TenantStats] = {}
        self._lock = threading.Lock()

    def record(self, tenant_id: str, endpoint: str, status: int | str, in_flight: int = 0,
               rate_limited: str | None = None, injected: str | None = None) -> None:
        with self._lock:
            stats = self._tenants.setdefault(tenant_id, TenantStats())
            stats.requests += 1
            stats.statuses[str(status)] += 1
            stats.endpoints[endpoint] += 1
            stats.max_in_flight = max(stats.max_in_flight, in_flight)
            if rate_limited:
                stats.rate_limited[rate_limited] += 1
            if injected:
                stats.injected[injected] += 1

    def as_json(self, tenant_id: str) -> dict:
        with self._lock:
            stats = self._tenants.get(tenant_id, TenantStats())
            return {"tenantId": tenant_id, "requests": stats.requests, "statuses": dict(stats.statuses),
                    "endpoints": dict(stats.endpoints), "rateLimited": dict(stats.rate_limited),
                    "served429": stats.statuses.get("429", 0), "injected": dict(stats.injected),
                    "maxConcurrent": stats.max_in_flight}

    def reset(self) -> None:
        with self._lock:
            self._tenants.clear()


def camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
