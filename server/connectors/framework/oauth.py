"""The OAuth 2.0 authorization-code flow through Authlib, for the providers that use it (auth.AuthFlow).

The credential is the token set (access token, refresh token, expiry); it is never logged. Token-endpoint
failures become the typed errors of `errors.py`.
"""
from __future__ import annotations

import base64
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session

from server.connectors.framework.auth import AuthorizationRequest, Consent, Credential
from server.connectors.framework.errors import (
    AuthRevoked,
    BadResponse,
    OAuthStateMismatch,
    ProviderUnavailable,
    RateLimited,
    RequestRejected,
)
from server.connectors.framework.http import RequestRecord, redact_url, retry_after_seconds

T = TypeVar("T")

# Token-endpoint error codes after which only a new consent helps.
_REAUTH_ERRORS = frozenset({"invalid_grant", "unauthorized_client", "invalid_client", "access_denied"})


@dataclass(frozen=True)
class OAuthEndpoints:
    authorize_url: str
    token_url: str
    revocation_url: str


class OAuthClient:
    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        endpoints: OAuthEndpoints,
        scopes: tuple[str, ...],
        pkce: bool,
        account_id_claim: str = "sub",
        issuer: str | None = None,
        sends_iss: bool = False,
        timeout: float = 30.0,
    ) -> None:
        """`account_id_claim`: the id_token claim that names the consenting user's account. `issuer`: who
        answers authorization requests (RFC 9207); `sends_iss`: every answer names it in `iss`."""
        self.client_id = client_id
        self.issuer = issuer
        self.sends_iss = sends_iss
        self.account_id_claim = account_id_claim
        self.client_secret = client_secret
        self.endpoints = endpoints
        self.scopes = scopes
        self.pkce = pkce
        self.timeout = timeout

    def session(self, redirect_uri: str | None = None, token: dict[str, Any] | None = None) -> OAuth2Session:
        """An Authlib session for this provider: HTTP Basic client auth when we have a secret
        (what most token endpoints want), client id in the body for a PKCE-only public app."""
        auth_method = "client_secret_basic" if self.client_secret else "none"
        return OAuth2Session(
            client_id=self.client_id,
            client_secret=self.client_secret or None,
            scope=" ".join(self.scopes),
            redirect_uri=redirect_uri,
            token=token,
            token_endpoint_auth_method=auth_method,
            revocation_endpoint_auth_method=auth_method,
            code_challenge_method="S256" if self.pkce else None,
            default_timeout=self.timeout,
        )

    def authorization_url(self, redirect_uri: str, state: str | None = None) -> AuthorizationRequest:
        verifier = generate_token(64) if self.pkce else None  # 64 chars: inside PKCE's 43-128
        url, state = self.session(redirect_uri).create_authorization_url(
            self.endpoints.authorize_url, state=state or generate_token(32), code_verifier=verifier
        )
        return AuthorizationRequest(url=url, state=state, code_verifier=verifier)

    def exchange_code(
        self,
        *,
        redirect_uri: str,
        code: str,
        returned_state: str | None,
        expected_state: str,
        code_verifier: str | None,
        log: list[RequestRecord] | None = None,
    ) -> dict[str, Any]:
        """Check `state` first (never exchange a code that came back with someone else's state)."""
        if not returned_state or not hmac.compare_digest(returned_state, expected_state):
            raise OAuthStateMismatch("OAuth state does not match the one we issued",
                                     endpoint=redact_url(self.endpoints.authorize_url))
        extra = {"code_verifier": code_verifier} if code_verifier else {}
        session = self.session(redirect_uri)
        return self._call(
            "POST", self.endpoints.token_url, log,
            lambda: session.fetch_token(self.endpoints.token_url, code=code, grant_type="authorization_code",
                                        **extra),
        )

    def refresh(self, refresh_token: str, log: list[RequestRecord] | None = None) -> dict[str, Any]:
        """A new token set. Providers that rotate the refresh token: the caller must persist the returned one
        before using the access token (the old one only survives a 30-minute grace)."""
        session = self.session()
        return self._call(
            "POST", self.endpoints.token_url, log,
            lambda: session.refresh_token(self.endpoints.token_url, refresh_token=refresh_token),
        )

    def revoke(self, refresh_token: str, log: list[RequestRecord] | None = None) -> None:
        session = self.session()

        def send() -> None:
            response = session.revoke_token(
                self.endpoints.revocation_url, token=refresh_token, token_type_hint="refresh_token"
            )
            if response.status_code >= 500:
                raise ProviderUnavailable("revocation failed", endpoint=redact_url(self.endpoints.revocation_url),
                                          status=response.status_code)
            if response.status_code >= 400:
                raise RequestRejected("revocation refused", endpoint=redact_url(self.endpoints.revocation_url),
                                      status=response.status_code)

        self._call("POST", self.endpoints.revocation_url, log, send)

    # --- auth.AuthFlow

    def complete(self, *, redirect_uri: str, callback: Mapping[str, str], expected_state: str,
                 code_verifier: str | None, log: list[RequestRecord] | None = None) -> Consent:
        token = self.exchange_code(redirect_uri=redirect_uri, code=callback.get("code", ""),
                                   returned_state=callback.get("state"), expected_state=expected_state,
                                   code_verifier=code_verifier, log=log)
        account, account_id = self._who_consented(token)
        return Consent(credential=_kept(token), account=account, account_id=account_id)

    def access_token(self, credential: Credential) -> tuple[str, float | None]:
        return credential["access_token"], credential.get("expires_at")

    def renew(self, credential: Credential, log: list[RequestRecord] | None = None) -> Credential:
        fresh = self.refresh(credential["refresh_token"], log)
        # A provider that does not rotate refresh tokens sends none back: the one we had stays valid.
        return _kept({**fresh, "refresh_token": fresh.get("refresh_token") or credential["refresh_token"]})

    def end(self, credential: Credential, log: list[RequestRecord] | None = None) -> None:
        self.revoke(credential["refresh_token"], log)

    def _who_consented(self, token: dict[str, Any]) -> tuple[str, str]:
        """Who consented (login and id), from the OpenID id_token when the provider sends one. Read for
        display only, never to decide access, so its signature is not checked here."""
        id_token = token.get("id_token")
        if not id_token or id_token.count(".") != 2:
            return "", ""
        try:
            claims = orjson.loads(base64.urlsafe_b64decode(id_token.split(".")[1] + "=="))
        except ValueError:
            return "", ""
        login = claims.get("email") or claims.get("preferred_username") or ""
        return str(login)[:320], str(claims.get(self.account_id_claim) or claims.get("sub") or "")[:200]

    def _call(self, method: str, url: str, log: list[RequestRecord] | None, send: Callable[[], T]) -> T:
        endpoint = redact_url(url)
        started = time.monotonic()
        status: int | None = None
        error = ""
        try:
            result = send()
            status = 200
            return result
        except OAuthError as exc:
            status, error = 400, exc.error or "oauth_error"
            if exc.error in _REAUTH_ERRORS:
                raise AuthRevoked(f"token endpoint refused the grant: {exc.error}", endpoint=endpoint,
                                  status=400) from exc
            raise RequestRejected(f"token endpoint error: {exc.error}", endpoint=endpoint, status=400) from exc
        except (requests.ConnectionError, requests.Timeout) as exc:
            error = type(exc).__name__
            raise ProviderUnavailable(f"token endpoint unreachable: {error}", endpoint=endpoint) from exc
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            error = "HTTPError"
            if status == 429:
                raise RateLimited("token endpoint rate limited", endpoint=endpoint, status=status,
                                  retry_after=retry_after_seconds(exc.response)) from exc
            raise ProviderUnavailable("token endpoint failed", endpoint=endpoint, status=status) from exc
        except ValueError as exc:  # a non-JSON body, typically a 5xx page
            error = "unparseable"
            raise BadResponse("token endpoint answered something that is not a token", endpoint=endpoint) from exc
        except (ProviderUnavailable, RequestRejected) as exc:
            status, error = exc.status, exc.message
            raise
        finally:
            if log is not None:
                log.append(RequestRecord(method, endpoint, status, round((time.monotonic() - started) * 1000, 1),
                                         attempt=1, error=error))


def _kept(token: dict[str, Any]) -> Credential:
    """The parts of a token response worth sealing: no id_token, an absolute expiry."""
    kept = {k: token[k] for k in ("access_token", "refresh_token", "expires_at", "token_type", "scope")
            if token.get(k) is not None}
    if "expires_at" not in kept and token.get("expires_in"):
        kept["expires_at"] = int(time.time()) + int(token["expires_in"])
    return kept
