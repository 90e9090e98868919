"""The QuickBooks Online dialect: Intuit's OAuth service (with the realmId on the callback), its discovery
document and the Accounting API v3 over the sandbox's ground truth, with Fault error bodies."""
from __future__ import annotations

from flask import current_app, url_for

from server.sandbox.dialects import Dialect
from server.sandbox.quickbooks.api import account_json, quickbooks_api
from server.sandbox.quickbooks.format import fault, realm_of
from server.sandbox.quickbooks.identity import ISSUER_PATH, quickbooks_identity


def _links() -> dict:
    return {"authorize": url_for("quickbooks_identity.authorize"),
            "token": url_for("quickbooks_identity.issue_token"),
            "revocation": url_for("quickbooks_identity.revoke_token"),
            "discovery": url_for("quickbooks_identity.discovery"),
            "api": "/quickbooks/v3/company/{realmId}"}


def _fault(status: int, title: str, detail: str) -> dict:
    return fault(status, title, detail, current_app.extensions["sandbox"].now_ms())


DIALECT = Dialect(
    name="quickbooks",
    title="QuickBooks",
    blueprints=(quickbooks_identity, quickbooks_api),
    issuer_path=ISSUER_PATH,
    user_claims=lambda user_id: {},
    render_journal=lambda journal: b"",  # JournalEntry objects are written per request: ids are per company
    account_json=account_json,
    links=_links,
    tenant_missing="The realm is missing",
    unavailable="The QuickBooks Online service is temporarily unavailable",
    server_error="An application error has occurred while processing your request",
    requires_pkce=False,
    refresh_needs_offline_access=False,  # Intuit does not document PKCE (providers.md 2.1)
    # One consent connects one company, named on the callback (providers.md 2.1).
    authorization_params=lambda grant: {"realmId": realm_of(grant.tenant_ids[0])},
    problem_body=_fault,
    deletes_journals=True,
)
