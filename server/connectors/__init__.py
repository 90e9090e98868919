"""The provider catalog: which sources a user can connect, and how to build each connector."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from server.config import Settings
from server.connectors.framework.connector import Company, Connector
from server.connectors.framework.errors import (
    AuthExpired,
    AuthRevoked,
    BadResponse,
    OAuthStateMismatch,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    RequestRejected,
)
from server.connectors.framework.http import HttpClient, RateLimits, RequestRecord
from server.connectors.framework.streams import DataType, Page
from server.connectors.xero.connector import XERO_LIMITS, XeroConnector, XeroEndpoints

__all__ = [
    "AuthExpired", "AuthRevoked", "BadResponse", "Company", "Connector", "HttpClient", "OAuthStateMismatch",
    "Page", "ProviderError", "ProviderOption", "ProviderUnavailable", "RateLimited", "RateLimits",
    "RequestRecord", "RequestRejected", "SetupField", "UnknownProvider", "catalog", "get_provider",
    "sandbox_credentials", "sandbox_root",
]

SANDBOX_KEY = "xero-sandbox"
SANDBOX_NAME = "Demo company (Xero sandbox)"


@dataclass(frozen=True)
class SetupField:
    """Something the user types before connecting (a tenant domain, an environment...)."""

    name: str
    label: str
    required: bool = True


@dataclass(frozen=True)
class ProviderOption:
    key: str
    display_name: str
    auth_kind: str
    data_types: tuple[DataType, ...]
    dimension_kinds: tuple[str, ...]
    setup_fields: tuple[SetupField, ...]
    factory: Callable[[], Connector]


class UnknownProvider(KeyError):
    pass


def sandbox_root(settings: Settings) -> str:
    return (settings.sandbox_url or f"{settings.public_url.rstrip('/')}/sandbox").rstrip("/")


def sandbox_credentials() -> tuple[str, str]:
    """The demo app registered with the built-in sandbox (defined once, in server.sandbox.config)."""
    from server.sandbox.config import DEMO_CLIENT

    return DEMO_CLIENT.client_id, DEMO_CLIENT.client_secret


def _xero_option(key: str, name: str, make: Callable[[], Connector]) -> ProviderOption:
    return ProviderOption(
        key=key,
        display_name=name,
        auth_kind=XeroConnector.auth_kind,
        data_types=XeroConnector.data_types(),
        dimension_kinds=XeroConnector.dimension_kinds,
        setup_fields=(),
        factory=make,
    )


def catalog(settings: Settings) -> list[ProviderOption]:
    """The sandbox when it is enabled; real Xero once its client id and secret are configured."""
    options = []
    if settings.sandbox or settings.sandbox_url:
        def make_sandbox() -> Connector:
            client_id, client_secret = sandbox_credentials()
            # The sandbox's windows are scaled by sandbox_rate_scale: keep under the same, scaled limits.
            scale = settings.sandbox_rate_scale
            limits = replace(XERO_LIMITS, window_seconds=XERO_LIMITS.window_seconds * scale,
                             day_seconds=XERO_LIMITS.day_seconds * scale)
            return XeroConnector(client_id=client_id, client_secret=client_secret,
                                 endpoints=XeroEndpoints.sandbox(sandbox_root(settings)), rate_limits=limits)

        options.append(_xero_option(SANDBOX_KEY, SANDBOX_NAME, make_sandbox))
    if settings.xero_client_id and settings.xero_client_secret:
        def make_xero() -> Connector:
            return XeroConnector(client_id=settings.xero_client_id, client_secret=settings.xero_client_secret)

        options.append(_xero_option("xero", "Xero", make_xero))
    return options


def get_provider(settings: Settings, key: str) -> ProviderOption:
    for option in catalog(settings):
        if option.key == key:
            return option
    raise UnknownProvider(key)
