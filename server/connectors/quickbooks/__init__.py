"""QuickBooks Online: the connector (connector.py) and what it offers the catalog."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from server.config import Settings
from server.connectors.framework.catalog import ProviderOption, sandbox_credentials, sandbox_root
from server.connectors.quickbooks.connector import QUICKBOOKS_LIMITS, QuickBooksConnector, QuickBooksEndpoints

SANDBOX_KEY = "quickbooks-sandbox"
# Intuit's one permission for the Accounting API lets an app read and update the books; it has no read-only
# variant (developer.intuit.com, "Learn about scopes"; research/providers.md).
NO_READ_ONLY_SCOPE = ("Intuit has no read-only permission for QuickBooks accounting data, so its sign-in page asks "
                      "to let Ledgerpane read and change your books. Ledgerpane only reads: it never changes "
                      "anything in QuickBooks.")


def options(settings: Settings) -> list[ProviderOption]:
    """The demo company when the sandbox is on; QuickBooks Online once our Intuit app's keys are configured
    (QUICKBOOKS_CLIENT_ID, QUICKBOOKS_CLIENT_SECRET; the development keys with QUICKBOOKS_SANDBOX_COMPANY_*
    reach a developer's sandbox companies)."""
    offered = []
    if settings.sandbox or settings.sandbox_url:
        def make_sandbox(setup: Mapping[str, str]) -> QuickBooksConnector:
            client_id, client_secret = sandbox_credentials()
            limits = replace(QUICKBOOKS_LIMITS, window_seconds=QUICKBOOKS_LIMITS.window_seconds
                             * settings.sandbox_rate_scale)
            return QuickBooksConnector(client_id=client_id, client_secret=client_secret, setup=setup,
                                       endpoints=QuickBooksEndpoints.sandbox(sandbox_root(settings)),
                                       rate_limits=limits)

        offered.append(_option(SANDBOX_KEY, "Demo company (QuickBooks sandbox)", make_sandbox, is_demo=True))
    for key, name, sandbox_company in (("quickbooks", "QuickBooks Online", False),
                                       ("quickbooks-sandbox-company", "QuickBooks Online (developer sandbox)", True)):
        client_id, client_secret = settings.app_credentials.get(key, ("", ""))
        if client_id and client_secret:
            def make(setup: Mapping[str, str], client_id=client_id, client_secret=client_secret,
                     sandbox_company=sandbox_company) -> QuickBooksConnector:
                return QuickBooksConnector(client_id=client_id, client_secret=client_secret, setup=setup,
                                           endpoints=QuickBooksEndpoints.real(sandbox_company))

            offered.append(_option(key, name, make))
    return offered


def _option(key: str, name: str, make, is_demo: bool = False) -> ProviderOption:
    return ProviderOption(key=key, display_name=name, auth_kind=QuickBooksConnector.auth_kind,
                          data_types=QuickBooksConnector.data_types(),
                          dimension_kinds=QuickBooksConnector.dimension_kinds, setup_fields=(), factory=make,
                          is_demo=is_demo, consent_note=NO_READ_ONLY_SCOPE)
