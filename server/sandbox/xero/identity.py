"""Xero's identity service at its own paths (identity.xero.com/connect/...), and its /connections API:
which organisations an app's grants reach, in Xero's shape."""
from __future__ import annotations

from flask import Blueprint, current_app, request

from server.sandbox.oauth import Connection, authorize, issue_token, revoke_token
from server.sandbox.state import Sandbox
from server.sandbox.xero.format import identity_timestamp

ISSUER_PATH = "/xero/identity"

xero_identity = Blueprint("xero_identity", __name__)
xero_identity.add_url_rule(f"{ISSUER_PATH}/connect/authorize", view_func=authorize, methods=["GET", "POST"])
xero_identity.add_url_rule(f"{ISSUER_PATH}/connect/token", view_func=issue_token, methods=["POST"])
xero_identity.add_url_rule(f"{ISSUER_PATH}/connect/revocation", view_func=revoke_token, methods=["POST"])


def _sandbox() -> Sandbox:
    return current_app.extensions["sandbox"]


def connection_json(connection: Connection) -> dict:
    return {"id": connection.connection_id, "authEventId": connection.auth_event_id,
            "tenantId": connection.tenant_id, "tenantType": "ORGANISATION", "tenantName": connection.tenant_name,
            "createdDateUtc": identity_timestamp(connection.created_ms),
            "updatedDateUtc": identity_timestamp(connection.updated_ms)}


@xero_identity.get("/xero/connections")
def list_connections():
    sandbox = _sandbox()

    def answer():
        token = sandbox.oauth.authenticate(request.headers.get("Authorization"))
        wanted = request.args.get("authEventId")
        found = [connection_json(c) for c in sandbox.oauth.connections_of(token.client_id)
                 if wanted in (None, c.auth_event_id)]
        return sandbox.json_response(found)

    return sandbox.guard_identity("connections", answer)


@xero_identity.delete("/xero/connections/<connection_id>")
def delete_connection(connection_id: str):
    sandbox = _sandbox()

    def answer():
        token = sandbox.oauth.authenticate(request.headers.get("Authorization"))
        if not sandbox.oauth.disconnect(token.client_id, connection_id):
            return sandbox.problem(404, "Not Found", f"No connection {connection_id}")
        return "", 204

    return sandbox.guard_identity("connections", answer)
