"""The pages of the OAuth handoff that run in the Office dialog: start and callback.

These are browser pages, not API calls: they carry no workspace key. The start link is single-use
and made by an authenticated API call; the callback trusts nothing but the state it can find.
"""
from __future__ import annotations

import logging

from flask import Blueprint, make_response, redirect, render_template, request

from server.connections.entities import sync_entities
from server.connections.handoff import COOKIE, LIFETIME, HandoffRefused, claim, start, verifier
from server.connections.issuer import issuer_refusal
from server.connections.status import Event, apply
from server.connectors import ProviderError
from server.db.engine import request_session
from server.db.models import Connection
from server.runtime import runtime

log = logging.getLogger(__name__)
bp = Blueprint("oauth", __name__, url_prefix="/oauth")


# What a provider's consent error means, in the words of the person who met it (RFC 6749 §4.1.2.1 codes).
CONSENT_ERRORS = {
    "invalid_scope": "The provider refused the permissions Ledgerpane asked for, so nothing was connected. Apps "
                     "registered after the provider's move to granular permissions may not ask for the older, "
                     "broader ones (and older apps the reverse): your administrator sets which Ledgerpane asks "
                     "for (LEDGERPANE_LEGACY_SCOPES). Then try again from the Connections page.",
    "unauthorized_client": "The provider does not allow Ledgerpane's app to sign in this way, so nothing was "
                           "connected. Your administrator should check the app's registration at the provider.",
}


def public_url() -> str:
    return (runtime().settings.public_url or request.host_url).rstrip("/")


def redirect_uri(provider: str) -> str:
    return f"{public_url()}/oauth/callback/{provider}"


@bp.get("/start/<int:connection_id>")
def start_consent(connection_id: int):
    session = request_session()
    connection = session.get(Connection, connection_id)
    if connection is None or connection.deleted_at is not None:
        return _page("refused", "This sign-in link is not valid", "Start again from the Connections page.",
                     status=404)
    flow = runtime().connector_for(connection).auth
    try:
        started = start(session, connection_id, request.args.get("handoff", ""), flow,
                        redirect_uri(connection.provider), runtime().vault.cipher)
    except HandoffRefused as refused:
        return _page("refused", "This sign-in link cannot be used", str(refused), status=400)
    session.commit()
    response = redirect(started.provider_url)
    response.set_cookie(COOKIE, started.browser_token, max_age=int(LIFETIME.total_seconds()), httponly=True,
                        secure=public_url().startswith("https://"), samesite="Lax", path="/oauth/callback")
    return response


@bp.get("/callback/<provider>")
def callback(provider: str):
    session = request_session()
    try:
        handoff = claim(session, provider, request.args.get("state"), request.cookies.get(COOKIE))
    except HandoffRefused as refused:
        return _page("refused", "This sign-in was refused", str(refused), status=400)
    session.commit()  # the state is spent before anything else happens: a replay finds it used
    connection = session.get(Connection, handoff.connection_id)
    mixed_up = issuer_refusal(runtime().connector_for(connection).auth, request.args.get("iss"))
    if mixed_up:  # another provider's answer (RFC 9207): the handoff is spent, nothing is exchanged
        handoff.outcome = "failed"
        session.commit()
        log.warning("oauth callback for %s refused: unexpected issuer", provider)
        return _page("refused", "This sign-in was refused", mixed_up, status=400)
    if request.args.get("error"):
        handoff.outcome = "denied"
        session.commit()
        denied = request.args["error"] == "access_denied"
        message = ("You declined access, so nothing was connected. You can try again from the Connections page."
                   if denied else CONSENT_ERRORS.get(request.args["error"], "The provider could not complete the "
                                                     "sign-in. Try again from the Connections page."))
        return _page("refused", "Access was not granted" if denied else "Sign-in failed", message,
                     connection_id=connection.id, status=200 if denied else 400)
    try:
        _connect(session, connection, handoff)
    except ProviderError as error:
        session.rollback()
        handoff.outcome = "failed"
        session.commit()
        log.warning("connection %s: sign-in failed at the provider: %s", connection.id, error)
        return _page("failed", "Sign-in failed", f"{connection.name}: the provider did not complete the sign-in "
                     f"({error.message}). Try again from the Connections page.", connection_id=connection.id,
                     status=502)
    handoff.outcome = "connected"
    session.commit()
    count = sum(1 for entity in connection.entities if entity.available)
    return _page("connected", f"{connection.name} is connected",
                 f"We found {count} {'company' if count == 1 else 'companies'}. Choose which to bring in.",
                 connection_id=connection.id)


def _connect(session, connection: Connection, handoff) -> None:
    """Complete the consent, seal the credential in the vault, and list the companies the grant covers."""
    vault = runtime().vault
    flow = runtime().connector_for(connection).auth
    consent = flow.complete(redirect_uri=redirect_uri(connection.provider), callback=request.args.to_dict(),
                            expected_state=request.args.get("state", ""), code_verifier=verifier(handoff, vault.cipher))
    vault.store(connection, consent.credential)
    if consent.setup:  # what the callback said about the grant (a realm...): the connector is built with it
        connection.setup_fields = {**(connection.setup_fields or {}), **consent.setup}
    access_token = flow.access_token(consent.credential)[0]
    companies = runtime().connector_for(connection).companies_of_consent(lambda rejected=None: access_token, consent)
    sync_entities(session, connection, companies)
    connection.business_account, connection.business_account_id = consent.account, consent.account_id
    apply(connection, Event.authorized)


def _page(outcome: str, title: str, message: str, connection_id: int | None = None, status: int = 200):
    payload = {"source": "ledgerpane", "kind": "oauth-result", "outcome": outcome, "connection_id": connection_id,
               "message": message}
    body = render_template("oauth_result.html", outcome=outcome, title=title, message=message, payload=payload,
                           origin=public_url())
    response = make_response(body, status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the callback URL holds a code: never pass it on
    return response
