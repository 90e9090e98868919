"""Settings of the sandbox provider, and the clock it reads time from."""
from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date


@dataclass
class SandboxClient:
    """An OAuth app registered with the sandbox, like an app on a provider's developer portal."""

    client_id: str
    client_secret: str
    redirect_uris: list[str]
    name: str = "Ledgerpane"
    # Scopes this app may not ask for: the consent answers invalid_scope (a provider's broad scopes, for apps
    # created on or after 2 March 2026).
    refused_scopes: list[str] = field(default_factory=list)


@dataclass
class RateLimits:
    """Published per-tenant limits (these numbers are common ones); the windows shrink so tests need not wait a
    real minute."""

    enabled: bool = True
    per_minute: int = 60
    concurrent: int = 5
    per_day: int = 5000
    app_per_minute: int = 10_000
    minute_seconds: float = 60.0
    day_seconds: float = 86_400.0

    @classmethod
    def scaled(cls, scale: float, **overrides) -> RateLimits:
        """Same counts, windows `scale` times as long (0.05 turns a minute into 3 seconds)."""
        return cls(minute_seconds=60.0 * scale, day_seconds=86_400.0 * scale, **overrides)


DEMO_CLIENT = SandboxClient(
    client_id="ledgerpane-demo",
    client_secret="ledgerpane-demo-secret",
    redirect_uris=[
        "http://127.0.0.1:8000/oauth/callback/sandbox",
        "http://localhost:8000/oauth/callback/sandbox",
    ],
    name="Ledgerpane (demo)",
)


@dataclass
class SandboxConfig:
    clients: list[SandboxClient] = field(default_factory=lambda: [DEMO_CLIENT])
    # Approve every authorization request without showing the consent page (all organisations).
    auto_approve: bool = False
    access_token_ttl: int = 1800
    # How long a rotated refresh token can still be replayed (30 minutes is common).
    refresh_grace: int = 1800
    # An unused refresh token dies after this long (60 days is common).
    refresh_token_ttl: int = 60 * 86_400
    # Journal lines to generate, in total, split evenly over the organisations.
    lines: int = 20_000
    seed: int = 1
    tenants: int = 3
    # Last day of the generated history (three years long); None means today by the clock.
    end_date: date | None = None
    rate_limits: RateLimits = field(default_factory=RateLimits)
    # The dialect journals are rendered in and the admin API answers in; None: the first one registered.
    dialect: str | None = None
    # Guards /admin; None generates a random key at startup (read it back from config.admin_key).
    admin_key: str | None = None
    # Seconds since the epoch; tests pass an AdjustableClock to expire tokens without sleeping.
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        if self.admin_key is None:
            self.admin_key = secrets.token_urlsafe(24)
        self.clients = [c if isinstance(c, SandboxClient) else SandboxClient(**c) for c in self.clients]


class AdjustableClock:
    """Real time plus an offset that tests move forward (token expiry, refresh grace, If-Modified-Since)."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0
