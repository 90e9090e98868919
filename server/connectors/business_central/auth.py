"""Signing in at the Microsoft identity platform through MSAL for Python (auth.AuthFlow), as Microsoft
recommends for Business Central (providers.md 3.1, wave2.md 5).

`initiate_auth_code_flow` / `acquire_token_by_auth_code_flow` (PKCE and nonce built in) with a confidential
client; the credential is MSAL's own SerializableTokenCache (MSAL keeps refresh tokens to itself), sealed by the
vault as it is; `acquire_token_silent` renews from it. There is no per-grant revocation endpoint (3.1): ending a
connection forgets the cache.
"""
from __future__ import annotations

import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

import msal
import requests

from server.connectors.framework.auth import AuthorizationRequest, Consent, Credential
from server.connectors.framework.errors import AuthRevoked, OAuthStateMismatch, ProviderUnavailable, RequestRejected
from server.connectors.framework.http import RequestRecord, redact_url

# Errors after which only a new sign-in helps (AADSTS700082 expired, 50173 revoked, 50076 needs MFA... all
# arrive as invalid_grant or interaction_required).
_REAUTH = frozenset({"invalid_grant", "interaction_required", "consent_required", "login_required",
                     "access_denied", "invalid_client", "unauthorized_client"})


class MsalFlow:
    """MSAL's authorization-code flow for one app, at one authority (`.../organizations` for a multi-tenant app).

    `http_client`: the requests.Session MSAL talks through (None: its own). `validate_authority`: False for an
    authority that is not Microsoft's (the sandbox), which MSAL then neither validates nor discovers."""

    sends_iss = False  # Microsoft's authorization responses do not name their issuer

    def __init__(self, *, client_id: str, client_secret: str, authority: str, scopes: tuple[str, ...],
                 http_client: requests.Session | None = None, validate_authority: bool = True) -> None:
        self.client_id, self.client_secret, self.authority = client_id, client_secret, authority
        self.scopes = list(scopes)
        self.http_client = http_client
        self.validate_authority = validate_authority
        self.issuer = f"{authority.rstrip('/')}/v2.0"

    def _app(self, cache: msal.SerializableTokenCache | None = None) -> msal.ConfidentialClientApplication:
        options: dict[str, Any] = {"token_cache": cache}
        if self.http_client is not None:
            options["http_client"] = self.http_client
        if not self.validate_authority:
            options.update(validate_authority=False, instance_discovery=False)
        try:
            return msal.ConfidentialClientApplication(self.client_id, client_credential=self.client_secret,
                                                      authority=self.authority, **options)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise ProviderUnavailable(f"the identity platform is unreachable: {type(exc).__name__}",
                                      endpoint=redact_url(self.authority)) from exc

    # --- auth.AuthFlow

    def authorization_url(self, redirect_uri: str, state: str | None = None) -> AuthorizationRequest:
        """The consent page. MSAL's whole flow (PKCE verifier, nonce, state) is what the callback needs, so it
        travels as the handoff's sealed verifier."""
        flow = self._app().initiate_auth_code_flow(self.scopes, redirect_uri=redirect_uri, state=state)
        return AuthorizationRequest(url=flow["auth_uri"], state=flow["state"], code_verifier=json.dumps(flow))

    def complete(self, *, redirect_uri: str, callback: Mapping[str, str], expected_state: str,
                 code_verifier: str | None, log: list[RequestRecord] | None = None) -> Consent:
        returned = callback.get("state") or ""
        if not returned or not hmac.compare_digest(returned, expected_state) or not code_verifier:
            raise OAuthStateMismatch("OAuth state does not match the one we issued",
                                     endpoint=redact_url(self.authority))
        flow = json.loads(code_verifier)
        cache = msal.SerializableTokenCache()
        app = self._app(cache)
        result = self._call("token", log, lambda: app.acquire_token_by_auth_code_flow(flow, dict(callback)))
        claims = result.get("id_token_claims") or {}
        accounts = app.get_accounts()
        if not accounts:
            raise RequestRejected("the sign-in returned no account", endpoint=redact_url(self.authority))
        return Consent(credential={"cache": cache.serialize(), "account": accounts[0]["home_account_id"]},
                       account=str(claims.get("preferred_username") or "")[:320],
                       account_id=str(claims.get("oid") or "")[:200],
                       # The user, with its tenant, is what Business Central counts requests by (rate_key).
                       setup={"aad_tenant": str(claims.get("tid") or ""), "user": str(claims.get("oid") or "")})

    def access_token(self, credential: Credential) -> tuple[str, float | None]:
        """The newest access token in the cache for our scopes, and when it expires (epoch seconds)."""
        cache = self._cache(credential)
        found = list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN,
                                  query={"home_account_id": credential["account"]}))
        if not found:
            return "", 0.0
        newest = max(found, key=lambda entry: int(entry.get("expires_on", 0)))
        return newest["secret"], float(newest.get("expires_on", 0))

    def renew(self, credential: Credential, log: list[RequestRecord] | None = None) -> Credential:
        """A fresh access token from MSAL's refresh token (acquire_token_silent); the cache it rotated is what the
        vault seals next."""
        cache = self._cache(credential)
        app = self._app(cache)
        account = next((a for a in app.get_accounts() if a["home_account_id"] == credential["account"]), None)
        if account is None:
            raise AuthRevoked("the sign-in's account is no longer in its token cache", endpoint=self.authority)
        self._call("token", log, lambda: app.acquire_token_silent(self.scopes, account, force_refresh=True)
                   or {"error": "invalid_grant", "error_description": "no refresh token in the cache"})
        # Written back only when MSAL changed it (a rotated refresh token, a new access token).
        return {**credential, "cache": cache.serialize()} if cache.has_state_changed else credential

    def end(self, credential: Credential, log: list[RequestRecord] | None = None) -> None:
        """Nothing to revoke at Microsoft per grant (providers.md 3.1): the caller erases the sealed cache."""

    # --- helpers

    @staticmethod
    def _cache(credential: Credential) -> msal.SerializableTokenCache:
        cache = msal.SerializableTokenCache()
        cache.deserialize(credential["cache"])
        return cache

    def _call(self, what: str, log: list[RequestRecord] | None, send) -> dict[str, Any]:
        """One MSAL call, recorded like any provider call; its error answers become our errors."""
        endpoint = redact_url(f"{self.authority.rstrip('/')}/oauth2/v2.0/{what}")
        started, status, error = time.monotonic(), None, ""
        try:
            result = send()
            error = str(result.get("error") or "")
            status = 400 if error else 200
        except (requests.ConnectionError, requests.Timeout) as exc:
            error = type(exc).__name__
            raise ProviderUnavailable(f"the identity platform is unreachable: {error}", endpoint=endpoint) from exc
        except ValueError as exc:  # MSAL refuses a callback that does not match its flow (state, nonce)
            error = "mismatch"
            raise OAuthStateMismatch(f"the sign-in answer does not match its request: {exc}", endpoint=endpoint) \
                from exc
        finally:
            if log is not None:
                log.append(RequestRecord("POST", endpoint, status, round((time.monotonic() - started) * 1000, 1),
                                         attempt=1, error=error))
        if error in _REAUTH:
            raise AuthRevoked(f"the identity platform refused the grant: {error}", endpoint=endpoint, status=400)
        if error:
            raise RequestRejected(f"the identity platform answered {error}", endpoint=endpoint, status=400)
        return result
