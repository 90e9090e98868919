"""The Microsoft identity platform's v2.0 endpoints for the multi-tenant authority `organizations`
(login.microsoftonline.com/organizations/...), in the shapes MSAL for Python reads: the OpenID discovery
document, authorize, and a token endpoint whose answers carry `id_token` and `client_info` (providers.md 3.1,
wave2.md 5). MSAL only talks to an https authority, so this dialect is served over TLS wherever MSAL uses it."""
from __future__ import annotations

import base64
import uuid

import orjson
from flask import Blueprint, current_app, request, url_for

from server.sandbox.oauth import authorize, issue_token

AUTHORITY = "/business_central/organizations"
ISSUER_PATH = f"{AUTHORITY}/v2.0"
# The demo user's Entra tenant: one for the sandbox, as one company's directory.
TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"

microsoft_identity = Blueprint("microsoft_identity", __name__, url_prefix=AUTHORITY)
microsoft_identity.add_url_rule("/oauth2/v2.0/authorize", view_func=authorize, methods=["GET", "POST"])
microsoft_identity.add_url_rule("/oauth2/v2.0/token", view_func=issue_token, methods=["POST"])


def user_object_id(user_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_OID, user_id))


def user_claims(user_id: str) -> dict:
    """What Microsoft's id_token says of the user: its object id, its tenant, its sign-in name."""
    return {"oid": user_object_id(user_id), "tid": TENANT_ID, "preferred_username": "demo@ledgerpane.test",
            "name": "Demo User", "ver": "2.0"}


def client_info(grant) -> dict:
    """`client_info`: base64url JSON of the user's object id and tenant, which MSAL keys its cache by."""
    user_id = str(uuid.uuid5(uuid.NAMESPACE_URL, grant.user))
    raw = orjson.dumps({"uid": user_object_id(user_id), "utid": TENANT_ID})
    return {"client_info": base64.urlsafe_b64encode(raw).decode().rstrip("=")}


@microsoft_identity.get("/v2.0/.well-known/openid-configuration")
def discovery():
    root = request.url_root.rstrip("/")
    return current_app.extensions["sandbox"].json_response({
        "issuer": root + ISSUER_PATH,
        "authorization_endpoint": root + url_for("microsoft_identity.authorize"),
        "token_endpoint": root + url_for("microsoft_identity.issue_token"),
        "jwks_uri": root + f"{AUTHORITY}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "response_types_supported": ["code"], "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "tenant_region_scope": None, "cloud_instance_name": "microsoftonline.com",
    })
