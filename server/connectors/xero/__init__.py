"""Xero: the connector (connector.py) and what it offers the catalog."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from server.config import Settings
from server.connectors.framework.catalog import ProviderOption, sandbox_credentials, sandbox_root
from server.connectors.xero.connector import LEGACY_SCOPES, SCOPES, XERO_LIMITS, XeroConnector, XeroEndpoints

SANDBOX_KEY = "xero-sandbox"


def scopes_for(settings: Settings, key: str) -> tuple[str, ...]:
    """The granular scopes, which apps created on or after 2 March 2026 must ask for; the legacy set for an
    older app that has not migrated (LEDGERPANE_LEGACY_SCOPES names its key). Asking for the wrong set ends the
    consent with invalid_scope (providers.md §1.1, §8.8)."""
    return LEGACY_SCOPES if key in settings.legacy_scopes else SCOPES


def options(settings: Settings) -> list[ProviderOption]:
    """The demo company when the sandbox is on; real Xero once its client id and secret are configured
    (XERO_CLIENT_ID, XERO_CLIENT_SECRET)."""
    offered = []
    if settings.sandbox or settings.sandbox_url:
        def make_sandbox(setup: Mapping[str, str]) -> XeroConnector:
            client_id, client_secret = sandbox_credentials()
            # The sandbox's windows are scaled by sandbox_rate_scale: keep under the same, scaled limits.
            scale = settings.sandbox_rate_scale
            limits = replace(XERO_LIMITS, window_seconds=XERO_LIMITS.window_seconds * scale,
                             day_seconds=XERO_LIMITS.day_seconds * scale)
            return XeroConnector(client_id=client_id, client_secret=client_secret, setup=setup,
                                 endpoints=XeroEndpoints.sandbox(sandbox_root(settings)), rate_limits=limits,
                                 scopes=scopes_for(settings, SANDBOX_KEY))

        offered.append(_option(SANDBOX_KEY, "Demo company (Xero sandbox)", make_sandbox, is_demo=True))
    client_id, client_secret = settings.app_credentials.get("xero", ("", ""))
    if client_id and client_secret:
        def make_xero(setup: Mapping[str, str]) -> XeroConnector:
            return XeroConnector(client_id=client_id, client_secret=client_secret, setup=setup,
                                 scopes=scopes_for(settings, "xero"))

        offered.append(_option("xero", "Xero", make_xero))
    return offered


def _option(key: str, name: str, make, is_demo: bool = False) -> ProviderOption:
    return ProviderOption(key=key, display_name=name, auth_kind=XeroConnector.auth_kind,
                          data_types=XeroConnector.data_types(), dimension_kinds=XeroConnector.dimension_kinds,
                          setup_fields=(), factory=make, is_demo=is_demo)
