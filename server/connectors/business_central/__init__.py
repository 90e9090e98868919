"""Business Central: the connector (connector.py), its MSAL sign-in (auth.py) and what it offers the catalog."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from server.config import Settings
from server.connectors.business_central.connector import (
    BUSINESS_CENTRAL_LIMITS,
    BusinessCentralConnector,
    BusinessCentralEndpoints,
)
from server.connectors.framework.catalog import ProviderOption, sandbox_credentials, sandbox_root

SANDBOX_KEY = "business-central-sandbox"
# Its only delegated scope is read-write (connector.py, SCOPE): people should not meet that unwarned at Microsoft.
NO_READ_ONLY_SCOPE = ("Microsoft offers no read-only permission for Business Central, so its sign-in page asks to "
                      "read and write your financial data. Ledgerpane only reads: it never changes anything in "
                      "Business Central.")


def options(settings: Settings) -> list[ProviderOption]:
    """Business Central once our Entra app's credentials are configured (BUSINESS_CENTRAL_CLIENT_ID,
    BUSINESS_CENTRAL_CLIENT_SECRET); the demo company where the sandbox answers over https, the only kind of
    authority MSAL talks to (wave2.md 5)."""
    offered = []
    root = sandbox_root(settings)
    if (settings.sandbox or settings.sandbox_url) and root.startswith("https://"):
        def make_sandbox(setup: Mapping[str, str]) -> BusinessCentralConnector:
            client_id, client_secret = sandbox_credentials()
            limits = replace(BUSINESS_CENTRAL_LIMITS, window_seconds=BUSINESS_CENTRAL_LIMITS.window_seconds
                             * settings.sandbox_rate_scale)
            return BusinessCentralConnector(client_id=client_id, client_secret=client_secret, setup=setup,
                                            endpoints=BusinessCentralEndpoints.sandbox(root), rate_limits=limits)

        offered.append(_option(SANDBOX_KEY, "Demo company (Business Central sandbox)", make_sandbox, is_demo=True))
    client_id, client_secret = settings.app_credentials.get("business-central", ("", ""))
    if client_id and client_secret:
        def make(setup: Mapping[str, str]) -> BusinessCentralConnector:
            return BusinessCentralConnector(client_id=client_id, client_secret=client_secret, setup=setup)

        offered.append(_option("business-central", "Business Central", make))
    return offered


def _option(key: str, name: str, make, is_demo: bool = False) -> ProviderOption:
    return ProviderOption(key=key, display_name=name, auth_kind="oauth2",
                          data_types=BusinessCentralConnector.data_types(),
                          dimension_kinds=BusinessCentralConnector.dimension_kinds, setup_fields=(), factory=make,
                          is_demo=is_demo, consent_note=NO_READ_ONLY_SCOPE)
