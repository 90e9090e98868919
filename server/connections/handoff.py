"""The OAuth handoff from the task pane to the provider and back (DESIGN.md, "OAuth handoff").

1. `begin`: the API makes a single-use start link on our own origin for the Office dialog.
2. `start`: the dialog opens it; we pick `state` and a PKCE verifier, remember them (hashed /
   encrypted), give the dialog a cookie, and send it to the provider.
3. `claim`: the provider sends the dialog back; the `state` must be ours, unused, unexpired, for this
   provider, and come back to the same browser that started. It is spent before the code is exchanged.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.connectors.framework.auth import AuthFlow
from server.db.models import Connection, OAuthHandoff, utcnow

LIFETIME = timedelta(minutes=10)
COOKIE = "ledgerpane_handoff"


class HandoffRefused(Exception):
    """The link or state cannot be used; the message is shown to the user as is."""


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def begin(session: Session, connection: Connection, member_id: int, purpose: str) -> str:
    """A fresh start link for the dialog. Earlier unfinished links of this connection stop working."""
    for earlier in session.scalars(select(OAuthHandoff).where(
            OAuthHandoff.connection_id == connection.id, OAuthHandoff.finished_at.is_(None))):
        earlier.finished_at, earlier.outcome = utcnow(), "superseded"
    start_token = secrets.token_urlsafe(32)
    session.add(OAuthHandoff(workspace_id=connection.workspace_id, connection_id=connection.id,
                             member_id=member_id, purpose=purpose, start_hash=_digest(start_token),
                             expires_at=utcnow() + LIFETIME))
    return f"/oauth/start/{connection.id}?handoff={start_token}"


@dataclass(frozen=True)
class Started:
    provider_url: str
    browser_token: str  # set as the dialog's cookie; the callback must bring it back


def start(session: Session, connection_id: int, start_token: str, flow: AuthFlow, redirect_uri: str,
          cipher: Fernet) -> Started:
    handoff = session.scalar(select(OAuthHandoff).where(OAuthHandoff.start_hash == _digest(start_token or "-")))
    if handoff is None or handoff.connection_id != connection_id:
        raise HandoffRefused("This sign-in link is not valid. Start again from the Connections page.")
    _check_open(handoff)
    if handoff.started_at is not None:
        raise HandoffRefused("This sign-in link has already been used. Start again from the Connections page.")
    request = flow.authorization_url(redirect_uri)
    browser_token = secrets.token_urlsafe(32)
    handoff.started_at = utcnow()
    handoff.state_hash = _digest(request.state)
    handoff.browser_hash = _digest(browser_token)
    handoff.verifier_ciphertext = cipher.encrypt(request.code_verifier.encode()) if request.code_verifier else None
    return Started(request.url, browser_token)


def claim(session: Session, provider: str, state: str | None, browser_token: str | None) -> OAuthHandoff:
    """Spend the handoff that `state` belongs to, or refuse. The caller commits before going on."""
    handoff = session.scalar(select(OAuthHandoff).where(OAuthHandoff.state_hash == _digest(state or "-")))
    connection = session.get(Connection, handoff.connection_id) if handoff else None
    if handoff is None or connection is None or connection.provider != provider:
        raise HandoffRefused("We did not start this sign-in, so we ignored it. Start again from the "
                             "Connections page.")
    if handoff.finished_at is not None:
        raise HandoffRefused("This sign-in has already been completed or cancelled; it cannot be used twice.")
    _check_open(handoff)
    if not browser_token or not hmac.compare_digest(handoff.browser_hash or "", _digest(browser_token)):
        raise HandoffRefused("This sign-in was started in another window or browser. Start again from the "
                             "Connections page.")
    handoff.finished_at = utcnow()
    return handoff


def verifier(handoff: OAuthHandoff, cipher: Fernet) -> str | None:
    return cipher.decrypt(handoff.verifier_ciphertext).decode() if handoff.verifier_ciphertext else None


def _check_open(handoff: OAuthHandoff) -> None:
    if handoff.finished_at is not None:
        raise HandoffRefused("This sign-in link is no longer valid. Start again from the Connections page.")
    if utcnow() >= handoff.expires_at:
        raise HandoffRefused("This sign-in link expired (links last 10 minutes). Start again from the "
                             "Connections page.")
