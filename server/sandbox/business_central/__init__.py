"""The Business Central dialect: the Microsoft identity platform (v2.0, authority `organizations`) as MSAL
reads it, the environments API, and Business Central's API v2.0 over the sandbox's ground truth."""
from __future__ import annotations

from flask import url_for

from server.sandbox.business_central.api import account_json, bc_api
from server.sandbox.business_central.identity import ISSUER_PATH, client_info, microsoft_identity, user_claims
from server.sandbox.dialects import Dialect

# OData's error envelope with Business Central's code families (providers.md 3.5).
CODES = {400: "BadRequest", 401: "Authentication_InvalidCredentials", 403: "Authorization_Forbidden",
         404: "BadRequest_ResourceNotFound", 429: "Application_TooManyRequests", 503: "Internal_ServiceUnavailable"}


def _links() -> dict:
    return {"authorize": url_for("microsoft_identity.authorize"), "token": url_for("microsoft_identity.issue_token"),
            "discovery": url_for("microsoft_identity.discovery"), "environments": url_for("bc_api.environments")}


DIALECT = Dialect(
    name="business_central",
    title="Microsoft",
    blueprints=(microsoft_identity, bc_api),
    issuer_path=ISSUER_PATH,
    user_claims=user_claims,
    render_journal=lambda journal: b"",  # G/L entries are written per request: they are numbered per company
    account_json=account_json,
    links=_links,
    tenant_missing="The company is missing",
    unavailable="The service is temporarily unavailable",
    server_error="An internal error occurred",
    token_fields=client_info,
    retry_after_when_unavailable=True,  # a request queued too long answers 503 (providers.md 3.5)
    problem_body=lambda status, title, detail: {"error": {"code": CODES.get(status, "Internal_ServerError"),
                                                          "message": detail or title}},
)
