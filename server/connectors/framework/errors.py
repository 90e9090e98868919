"""The one exception hierarchy for provider failures.

The refresh pipeline maps these onto connection statuses in one place:
AuthExpired -> refresh the token and retry once; AuthRevoked -> reauth_required;
RateLimited / ProviderUnavailable / BadResponse / RequestRejected -> error (details in the log).
"""
from __future__ import annotations

from typing import Any


class ProviderError(Exception):
    """A provider call failed. `endpoint` is already redacted; `response` may be None (no answer)."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str = "",
        status: int | None = None,
        response: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.endpoint = endpoint
        self.status = status
        self.response = response

    def __str__(self) -> str:
        where = f" ({self.status} {self.endpoint})" if self.endpoint else ""
        return f"{self.message}{where}"


class AuthExpired(ProviderError):
    """The access token was refused (401) even after fetching a fresh one; a refresh may still work."""


class AuthRevoked(ProviderError):
    """The grant is gone (invalid_grant, revoked, disconnected): the user must reconnect."""


class RateLimited(ProviderError):
    """The provider's limit is spent; `retry_after` seconds until it may be tried again."""

    def __init__(self, message: str, *, retry_after: float | None = None, problem: str = "", **kw: Any):
        super().__init__(message, **kw)
        self.retry_after = retry_after
        self.problem = problem  # the provider's own word (a problem header): "minute", "day", "concurrent", ...


class ProviderUnavailable(ProviderError):
    """5xx, connection resets or timeouts that outlasted every retry."""


class BadResponse(ProviderError):
    """The answer could not be parsed, or did not have the shape the connector declares."""


class RequestRejected(ProviderError):
    """Any other 4xx (400, 403, 404...): retrying the same request will not help."""


class NotEntitled(RequestRejected):
    """The provider refuses this data for this company although the grant reaches it (the company's plan, an
    approval the app lacks, a scope the consent did not give). `message` says so in plain words and `action`
    what fixes it; the company's other data and the other companies are not affected."""

    def __init__(self, message: str, *, action: str, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.action = action


class CompanyDisconnected(RequestRejected):
    """The grant no longer reaches this company: it was disconnected at the provider. Only a new consent that
    includes it helps; the grant's other companies go on."""


class OAuthStateMismatch(ProviderError):
    """The `state` returned to the callback is not the one we sent: possible CSRF, never exchange the code."""
