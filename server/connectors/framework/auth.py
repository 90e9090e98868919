"""How a connection signs in at its provider: one small protocol, whatever library speaks it.

A flow turns a consent into a credential, hands out access tokens from it and renews it. The vault
seals the credential whole without reading it (an OAuth token set for Authlib, a token cache for
MSAL), so a new kind of sign-in is a new flow, not a change to the vault or the handoff.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from server.connectors.framework.http import RequestRecord

Credential = dict[str, Any]  # JSON-serialisable; sealed by the vault, never logged, never sent to a browser


@dataclass(frozen=True)
class AuthorizationRequest:
    """Where to send the user, and what the callback must be checked against (kept server-side)."""

    url: str
    state: str
    code_verifier: str | None


@dataclass(frozen=True)
class Consent:
    """What a completed consent gives: the credential to seal, who consented (for display only), and
    what the provider told the callback about the grant (a realm id...), kept in the connection's setup."""

    credential: Credential
    account: str = ""  # the login or email that consented
    account_id: str = ""
    setup: dict[str, str] = field(default_factory=dict)


class AuthFlow(Protocol):
    issuer: str | None  # who answers authorization requests (RFC 9207); None: unknown, not checked
    sends_iss: bool  # every authorization response names the issuer in `iss`

    def authorization_url(self, redirect_uri: str, state: str | None = None) -> AuthorizationRequest:
        """The provider's consent page, with `state` and, where the flow uses it, a PKCE challenge."""

    def complete(self, *, redirect_uri: str, callback: Mapping[str, str], expected_state: str,
                 code_verifier: str | None, log: list[RequestRecord] | None = None) -> Consent:
        """Check the callback's state, then exchange its code. Raises OAuthStateMismatch, AuthRevoked..."""

    def access_token(self, credential: Credential) -> tuple[str, float | None]:
        """The access token the credential holds now and when it expires (epoch seconds; None: unknown)."""

    def renew(self, credential: Credential, log: list[RequestRecord] | None = None) -> Credential:
        """A credential with a fresh access token. The caller seals it before using the token (rotated
        refresh tokens). Raises AuthRevoked when only a new consent helps."""

    def end(self, credential: Credential, log: list[RequestRecord] | None = None) -> None:
        """Revoke the grant at the provider."""
