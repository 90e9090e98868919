"""The Xero dialect: Xero's identity service, /connections and Accounting API (api.xro/2.0) over the
sandbox's ground truth, in Xero's shapes."""
import uuid

from flask import url_for

from server.sandbox.dialects import Dialect
from server.sandbox.xero.api import account_json, render_journal, xero_api
from server.sandbox.xero.identity import ISSUER_PATH, xero_identity


def _links() -> dict:
    return {"authorize": url_for("xero_identity.authorize"), "token": url_for("xero_identity.issue_token"),
            "revocation": url_for("xero_identity.revoke_token"),
            "connections": url_for("xero_identity.list_connections"),
            "api": url_for("xero_api.journals").rsplit("/", 1)[0]}


DIALECT = Dialect(
    name="xero",
    title="Xero",
    blueprints=(xero_identity, xero_api),
    issuer_path=ISSUER_PATH,
    user_claims=lambda user_id: {"xero_userid": user_id},
    render_journal=render_journal,
    account_json=account_json,
    links=_links,
    tenant_missing="xero-tenant-id header is missing",
    unavailable="The Xero API is temporarily unavailable",
    server_error="An error occurred in Xero",
    case_insensitive_paths=True,
    default=True,
    # Xero's access tokens are JWTs; `authentication_event_id` is what /connections?authEventId= filters on.
    access_token_claims=lambda grant: {"authentication_event_id": grant.auth_event_id,
                                       "xero_userid": str(uuid.uuid5(uuid.NAMESPACE_URL, grant.user))},
)
