"""What went wrong, in plain words, and what fixes it: the one place provider errors become sentences."""
from __future__ import annotations

from server.connectors.framework.errors import (
    AuthRevoked,
    BadResponse,
    CompanyDisconnected,
    NotEntitled,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    RequestRejected,
)


def plain_reason(error: BaseException | None) -> str:
    if isinstance(error, NotEntitled | CompanyDisconnected):  # the connector said it in plain words already
        return error.message
    if isinstance(error, ProviderError):
        return f"The provider call failed after retries: {error.message}" + (
            f" (HTTP {error.status})" if error.status else "")
    return "Ledgerpane hit an internal error; the details are in the service log." if error else ""


def fixing_action(error: BaseException) -> str:
    """The action that fixes it, as the person reading the log would take it."""
    if isinstance(error, NotEntitled):
        return error.action
    if isinstance(error, CompanyDisconnected):
        return "Reconnect the source and tick this company again on the provider's consent page."
    if isinstance(error, AuthRevoked) or (isinstance(error, RequestRejected) and error.status in (401, 403)):
        return "Reconnect the source and give it access to this company."
    if isinstance(error, RateLimited):
        return "Refresh again later: the provider's limit for this company was reached."
    if isinstance(error, ProviderUnavailable):
        return "Refresh again later: the provider did not answer."
    if isinstance(error, BadResponse):
        return "Refresh again; if it keeps failing, tell us: the provider answered something unexpected."
    return "Refresh again; if it keeps failing, contact support."
