"""The identity service: an Authlib authorization server (code + PKCE S256, rotating refresh tokens,
revocation), the consent page, and the store of which organisations each app may reach. All storage is in
memory. The views here answer at the URLs each dialect gives them.

Refresh tokens rotate on every use. Re-presenting a rotated token within `refresh_grace` seconds
replays the answer of its first use: the same new refresh token, with the same access token while
that is still valid (a fresh one once it has expired). That is what a client needs after losing a
refresh response, and keeps a single live token chain. After the grace, or once the grant is
revoked, the token answers 400 {"error": "invalid_grant"}.
"""
from __future__ import annotations

import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from authlib.common.security import generate_token
from authlib.common.urls import add_params_to_uri
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import ClientMixin, InvalidRequestError, grants
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc9207 import IssuerParameter
from flask import current_app, make_response, render_template, request, url_for
from joserfc import jwt
from joserfc.jwk import OctKey

from server.sandbox.config import SandboxClient
from server.sandbox.dialects import current_dialect

DEMO_USER = "demo@ledgerpane.test"
CODE_LIFETIME = 300
CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


class Client(ClientMixin):
    def __init__(self, registration: SandboxClient) -> None:
        self.registration = registration
        self.client_id = registration.client_id
        self.name = registration.name

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        uris = self.registration.redirect_uris
        return uris[0] if len(uris) == 1 else None

    def get_allowed_scope(self, scope: str) -> str | None:
        """What was asked, unless it names a scope this app may not ask for (None: invalid_scope)."""
        if set(scope_to_list(scope or "")) & set(self.registration.refused_scopes):
            return None
        return scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.registration.redirect_uris  # exact match, as providers require

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.registration.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in CLIENT_AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


@dataclass
class Grant:
    """One consent (an auth event): the organisations it connected and every token it led to."""

    auth_event_id: str
    client_id: str
    user: str
    tenant_ids: list[str]
    created_ms: int
    revoked: bool = False


@dataclass
class Connection:
    connection_id: str
    tenant_id: str
    tenant_name: str
    auth_event_id: str
    created_ms: int
    updated_ms: int


@dataclass
class AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None
    grant: Grant
    issued_at: float
    nonce: str | None = None  # OpenID: the id_token answering this code echoes it

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass
class AccessToken:
    value: str
    grant: Grant
    client_id: str
    scope: str
    issued_at: float
    expires_in: int

    @property
    def expires_at(self) -> float:
        return self.issued_at + self.expires_in

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope


@dataclass
class RefreshToken:
    value: str
    grant: Grant
    client_id: str
    scope: str
    issued_at: float
    access: AccessToken
    successor: RefreshToken | None = None
    rotated_at: float | None = None

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope


class TokenInvalid(Exception):
    """A bearer token the API refuses; `detail` is what the provider puts in the 401 body."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass
class OAuthStore:
    """Clients, codes, tokens, grants and connections of the one demo user, behind one lock."""

    clock: object
    access_token_ttl: int
    refresh_grace: int
    refresh_token_ttl: int
    clients: dict[str, Client] = field(default_factory=dict)
    codes: dict[str, AuthorizationCode] = field(default_factory=dict)
    access_tokens: dict[str, AccessToken] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    # client_id -> tenant_id -> Connection: connections are kept per user and app.
    connections: dict[str, dict[str, Connection]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def now(self) -> float:
        return self.clock()

    def register(self, registration: SandboxClient) -> Client:
        with self.lock:
            client = self.clients[registration.client_id] = Client(registration)
            return client

    def consent(self, client: Client, tenants: list[tuple[str, str]]) -> Grant:
        """The user approved: a new auth event, and a connection per organisation ticked."""
        now_ms = int(self.now() * 1000)
        with self.lock:
            grant = Grant(str(uuid.uuid4()), client.client_id, DEMO_USER, [t for t, _ in tenants], now_ms)
            self.grants[grant.auth_event_id] = grant
            connected = self.connections.setdefault(client.client_id, {})
            for tenant_id, tenant_name in tenants:
                existing = connected.get(tenant_id)
                if existing:
                    existing.auth_event_id, existing.updated_ms = grant.auth_event_id, now_ms
                else:
                    connected[tenant_id] = Connection(str(uuid.uuid4()), tenant_id, tenant_name,
                                                      grant.auth_event_id, now_ms, now_ms)
            return grant

    def save_token(self, token: dict, request) -> None:
        now = self.now()
        with self.lock:
            grant: Grant = request.user
            access = AccessToken(token["access_token"], grant, request.client.client_id,
                                 token.get("scope", ""), now, token["expires_in"])
            self.access_tokens[access.value] = access
            if "refresh_token" in token:
                fresh = RefreshToken(token["refresh_token"], grant, access.client_id, access.scope, now, access)
                self.refresh_tokens[fresh.value] = fresh
                old = request.refresh_token
                if isinstance(old, RefreshToken):
                    old.successor, old.rotated_at = fresh, now

    def usable_refresh_token(self, value: str) -> RefreshToken | None:
        now = self.now()
        with self.lock:
            token = self.refresh_tokens.get(value)
            if token is None or token.grant.revoked:
                return None
            if token.successor is None:
                return token if now < token.issued_at + self.refresh_token_ttl else None
            return token if now < token.rotated_at + self.refresh_grace else None

    def replay(self, old: RefreshToken) -> dict:
        """The answer to a rotated token re-presented within the grace: its successor pair."""
        now = self.now()
        with self.lock:
            fresh = old.successor
            if now >= fresh.access.expires_at:
                fresh.access = AccessToken(generate_token(42), fresh.grant, fresh.client_id, fresh.scope,
                                           now, self.access_token_ttl)
                self.access_tokens[fresh.access.value] = fresh.access
            return {"token_type": "Bearer", "access_token": fresh.access.value,
                    "expires_in": int(fresh.access.expires_at - now), "refresh_token": fresh.value,
                    "scope": fresh.scope}

    def revoke(self, grant: Grant) -> None:
        """Every token of the grant dies and the connections it made are removed."""
        with self.lock:
            grant.revoked = True
            connected = self.connections.get(grant.client_id, {})
            for tenant_id in [t for t, c in connected.items() if c.auth_event_id == grant.auth_event_id]:
                del connected[tenant_id]

    def authenticate(self, authorization: str | None) -> AccessToken:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise TokenInvalid("AuthenticationUnsuccessful")
        now = self.now()
        with self.lock:
            token = self.access_tokens.get(authorization[7:].strip())
        if token is None or token.grant.revoked:
            raise TokenInvalid("AuthenticationUnsuccessful")
        if now >= token.expires_at:
            expired = datetime.fromtimestamp(token.expires_at, UTC).strftime("%m/%d/%Y %H:%M:%S")
            raise TokenInvalid(f"TokenExpired: token expired at {expired}")
        return token

    def connections_of(self, client_id: str) -> list[Connection]:
        with self.lock:
            return list(self.connections.get(client_id, {}).values())

    def is_connected(self, client_id: str, tenant_id: str) -> bool:
        with self.lock:
            return tenant_id in self.connections.get(client_id, {})

    def disconnect(self, client_id: str, connection_id: str) -> bool:
        with self.lock:
            connected = self.connections.get(client_id, {})
            for tenant_id, connection in list(connected.items()):
                if connection.connection_id == connection_id:
                    del connected[tenant_id]
                    return True
            return False


class S256CodeChallenge(CodeChallenge):
    """PKCE is required and only S256 is accepted (plain would defeat the point)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge") and not data.get("code_challenge_method") \
                and not current_dialect().requires_pkce:
            return  # a provider that does not document PKCE: the plain code flow
        super().validate_code_challenge(grant, redirect_uri)
        if grant.request.payload.data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method=S256 is required")


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def save_authorization_code(self, code: str, request) -> None:
        store: OAuthStore = self.server.store
        data = request.payload.data
        with store.lock:
            store.codes[code] = AuthorizationCode(
                code, request.client.client_id, request.payload.redirect_uri, request.payload.scope or "",
                data.get("code_challenge"), data.get("code_challenge_method"), request.user, store.now(),
                data.get("nonce"))

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        store: OAuthStore = self.server.store
        with store.lock:
            found = store.codes.get(code)
        if found and found.client_id == client.client_id and store.now() < found.issued_at + CODE_LIFETIME:
            return found
        return None

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        store: OAuthStore = self.server.store
        with store.lock:
            store.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: AuthorizationCode) -> Grant:
        return authorization_code.grant

    def generate_token(self, user=None, scope=None, grant_type=None, expires_in=None,
                       include_refresh_token=True):
        # A refresh token is only issued when offline_access was consented (where the provider asks for it).
        offline = "offline_access" in scope_to_list(scope or "") or not current_dialect().refresh_needs_offline_access
        token = super().generate_token(user, scope, grant_type, expires_in, include_refresh_token and offline)
        if "openid" in scope_to_list(scope or ""):
            code = getattr(self.request, "authorization_code", None)
            token["id_token"] = id_token(self.request.client, user, self.server.store.now(),
                                         code.nonce if code else None)
        return _with_dialect_fields(token, user)


def _with_dialect_fields(token: dict, grant: Grant) -> dict:
    """The dialect's own fields of a token response (e.g. Microsoft's client_info)."""
    fields = current_dialect().token_fields
    return {**token, **fields(grant)} if fields is not None else token


def issuer() -> str:
    """The identity service's address, as the dialect being answered names it."""
    return request.url_root.rstrip("/") + current_dialect().issuer_path


class SandboxIssuer(IssuerParameter):
    """RFC 9207: every authorization response names its issuer (`iss`), approved or denied, so that a client
    talking to several providers can tell whose answer it holds (the mix-up defence, RFC 9700 4.4)."""

    def get_issuer(self) -> str:
        return issuer()


def id_token(client, grant: Grant, now: float, nonce: str | None = None) -> str:
    """Who consented, as an OpenID id_token says it, with the dialect's own claims (providers sign with RS256;
    the sandbox uses HS256 with the client secret, which OpenID allows for confidential clients)."""
    user_id = str(uuid.uuid5(uuid.NAMESPACE_URL, grant.user))
    claims = {"iss": issuer(), "aud": client.client_id, "sub": user_id, **current_dialect().user_claims(user_id),
              "email": grant.user, "given_name": "Demo", "family_name": "User",
              "iat": int(now), "auth_time": int(now), "exp": int(now) + 300, **({"nonce": nonce} if nonce else {})}
    return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(client.registration.client_secret))


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshToken | None:
        return self.server.store.usable_refresh_token(refresh_token)

    def authenticate_user(self, refresh_token: RefreshToken) -> Grant:
        return refresh_token.grant

    def generate_token(self, user=None, scope=None, grant_type=None, expires_in=None,
                       include_refresh_token=True):
        return _with_dialect_fields(super().generate_token(user, scope, grant_type, expires_in,
                                                           include_refresh_token), user)

    def revoke_old_credential(self, refresh_token: RefreshToken) -> None:
        """Nothing to do: save_token links the old token to its successor, which starts its grace."""

    def create_token_response(self):
        store: OAuthStore = self.server.store
        with store.lock:  # two concurrent refreshes of one token: the second one replays the first
            old: RefreshToken = self.request.refresh_token
            if old.successor is not None:
                return 200, store.replay(old), self.TOKEN_RESPONSE_HEADER
            return super().create_token_response()


class GrantRevocationEndpoint(RevocationEndpoint):
    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None):
        store: OAuthStore = self.server.store
        with store.lock:
            return store.refresh_tokens.get(token_string) or store.access_tokens.get(token_string)

    def revoke_token(self, token, request) -> None:
        self.server.store.revoke(token.grant)


def access_token_value(client: Client, grant_type: str, user: Grant | None, scope: str) -> str:
    """An opaque token, or, where the dialect's provider issues JWT access tokens, one carrying its claims
    (HS256 with the client secret: the sandbox's tokens are only read, never verified, by clients)."""
    dialect = current_dialect()
    if dialect is None or dialect.access_token_claims is None or user is None:
        return generate_token(42)
    claims = {"jti": generate_token(16), "client_id": client.client_id, "scope": scope_to_list(scope or ""),
              **dialect.access_token_claims(user)}
    return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(client.registration.client_secret))


def create_authorization_server(app, store: OAuthStore) -> AuthorizationServer:
    app.config["OAUTH2_ACCESS_TOKEN_GENERATOR"] = access_token_value
    app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = True
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {"authorization_code": store.access_token_ttl,
                                             "refresh_token": store.access_token_ttl}
    server = AuthorizationServer(app, query_client=store.clients.get, save_token=store.save_token)
    server.store = store
    server.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True)])
    server.register_grant(RefreshTokenGrant)
    server.register_endpoint(GrantRevocationEndpoint)
    server.register_extension(SandboxIssuer())
    return server


def _sandbox():
    return current_app.extensions["sandbox"]


# The consent page asks the user to grant access: it must never be framed (clickjacking), cached or passed on in a
# Referer, and it runs no script. Its form posts to itself and is then redirected to the client, so no form-action.
CONSENT_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def authorize():
    response = make_response(_authorize())
    response.headers.update(CONSENT_HEADERS)
    return response


def _authorize():
    sandbox = _sandbox()
    server: AuthorizationServer = sandbox.authorization_server
    try:
        grant = server.get_consent_grant(end_user=DEMO_USER)
    except OAuth2Error as error:
        if error.redirect_uri:  # an error sent back to the client names the issuer too (RFC 9207 §2)
            response = server.handle_error_response(None, error)
            response.headers["Location"] = add_params_to_uri(response.headers["Location"], [("iss", issuer())])
            return response
        return render_template("error.html", error=error), error.status_code
    organisations = sandbox.organisations
    provider = current_dialect().title
    if request.method == "GET" and not sandbox.config.auto_approve:
        return render_template(
            "consent.html", client=grant.client, user=DEMO_USER, organisations=organisations.values(),
            scopes=scope_to_list(grant.request.payload.scope or ""), provider=provider,
            action=url_for(request.endpoint, **request.args.to_dict()))
    if request.method == "POST" and request.form.get("decision") != "approve":
        return server.create_authorization_response(grant_user=None, grant=grant)
    if request.method == "POST":
        chosen = [organisations[t] for t in request.form.getlist("tenant") if t in organisations]
        if not chosen:
            return render_template(
                "consent.html", client=grant.client, user=DEMO_USER, organisations=organisations.values(),
                scopes=scope_to_list(grant.request.payload.scope or ""), problem="Tick at least one organisation.",
                provider=provider, action=url_for(request.endpoint, **request.args.to_dict())), 400
    else:
        chosen = list(organisations.values())
    consent = sandbox.oauth.consent(grant.client, [(o.tenant_id, o.name) for o in chosen])
    response = server.create_authorization_response(grant_user=consent, grant=grant)
    extra = current_dialect().authorization_params
    if extra is not None and response.status_code == 302:  # what the provider tells the callback besides the code
        response.headers["Location"] = add_params_to_uri(response.headers["Location"], list(extra(consent).items()))
    return response


def issue_token():
    return _sandbox().guard_identity("token", lambda: _sandbox().authorization_server.create_token_response())


def revoke_token():
    server = _sandbox().authorization_server
    return _sandbox().guard_identity(
        "revocation", lambda: server.create_endpoint_response(GrantRevocationEndpoint.ENDPOINT_NAME))
