"""The provider catalog: which sources a user can connect, and how to build a connector for a connection.

This module is the registry: each provider package offers its options (`options(settings)`), and
adding a provider is one package under `server/connectors/` plus its line in `PROVIDERS`.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

from server.config import Settings
from server.connectors import business_central, quickbooks, xero
from server.connectors.framework.catalog import ProviderOption, SetupField, sandbox_credentials, sandbox_root
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

__all__ = [
    "AuthExpired", "AuthRevoked", "BadResponse", "Company", "Connector", "DataType", "HttpClient",
    "OAuthStateMismatch", "Page", "ProviderError", "ProviderOption", "ProviderUnavailable", "RateLimited",
    "RateLimits", "RequestRecord", "RequestRejected", "SetupField", "UnknownProvider", "catalog", "connector_for",
    "get_provider", "sandbox_credentials", "sandbox_root",
]

# Each provider package: `options(settings) -> list[ProviderOption]` (its demo company when the sandbox is
# on, the real provider once its app credentials are configured).
PROVIDERS: tuple[Callable[[Settings], list[ProviderOption]], ...] = (xero.options, quickbooks.options,
                                                                    business_central.options)


class UnknownProvider(KeyError):
    pass


def catalog(settings: Settings) -> list[ProviderOption]:
    return [option for offer in PROVIDERS for option in offer(settings)]


def get_provider(settings: Settings, key: str) -> ProviderOption:
    for option in catalog(settings):
        if option.key == key:
            return option
    raise UnknownProvider(key)


def connector_for(settings: Settings, provider: str, setup: Mapping[str, str] | None = None) -> Connector:
    """A connector for one connection of `provider`, built from that connection's stored setup."""
    return get_provider(settings, provider).factory(dict(setup or {}))
