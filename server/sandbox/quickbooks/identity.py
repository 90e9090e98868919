"""Intuit's OAuth 2.0 service at its own paths (appcenter.intuit.com/connect/oauth2,
oauth.platform.intuit.com/oauth2/v1/tokens/bearer, developer.api.intuit.com/v2/oauth2/tokens/revoke) and its
discovery document, as intuit-oauth reads it (providers.md 2.1)."""
from __future__ import annotations

import base64
import binascii

from flask import Blueprint, current_app, request, url_for

from server.sandbox.oauth import authorize, issue_token

ISSUER_PATH = "/quickbooks/op/v1"

quickbooks_identity = Blueprint("quickbooks_identity", __name__, url_prefix="/quickbooks")
quickbooks_identity.add_url_rule("/connect/oauth2", view_func=authorize, methods=["GET", "POST"])
quickbooks_identity.add_url_rule("/oauth2/v1/tokens/bearer", view_func=issue_token, methods=["POST"])


@quickbooks_identity.post("/oauth2/v2/tokens/revoke")
def revoke_token():
    """Intuit's revocation: a JSON body `{"token": <refresh or access token>}` with the app's Basic credentials
    (as intuit-oauth sends it); the whole grant ends and its company is disconnected."""
    sandbox = current_app.extensions["sandbox"]

    def answer():
        client_id, secret = _basic(request.headers.get("Authorization", ""))
        client = sandbox.oauth.clients.get(client_id)
        if client is None or not client.check_client_secret(secret):
            return sandbox.problem(401, "Unauthorized", "invalid_client")
        body = request.get_json(silent=True) or {}
        value = str(body.get("token") or "")
        with sandbox.oauth.lock:
            token = sandbox.oauth.refresh_tokens.get(value) or sandbox.oauth.access_tokens.get(value)
        if not value:
            return sandbox.problem(400, "Bad Request", "token is required")
        if token is not None and token.client_id == client_id:
            sandbox.oauth.revoke(token.grant)
        return "", 200  # an unknown or spent token is revoked already, as RFC 7009 says

    return sandbox.guard_identity("revocation", answer)


def _basic(header: str) -> tuple[str, str]:
    if not header.lower().startswith("basic "):
        return "", ""
    try:
        client_id, _, secret = base64.b64decode(header[6:].strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    return client_id, secret


@quickbooks_identity.get("/.well-known/openid_sandbox_configuration")
def discovery():
    """The endpoints, as Intuit's discovery document lists them (intuitlib reads it at start)."""
    root = request.url_root.rstrip("/")
    return current_app.extensions["sandbox"].json_response({
        "issuer": root + ISSUER_PATH,
        "authorization_endpoint": root + url_for("quickbooks_identity.authorize"),
        "token_endpoint": root + url_for("quickbooks_identity.issue_token"),
        "revocation_endpoint": root + url_for("quickbooks_identity.revoke_token"),
        "userinfo_endpoint": root + url_for("quickbooks_identity.discovery"),
        "jwks_uri": root + url_for("quickbooks_identity.discovery"),
        "response_types_supported": ["code"],
        "scopes_supported": ["openid", "email", "profile", "address", "phone", "com.intuit.quickbooks.accounting"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
    })
