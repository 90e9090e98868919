"""Who is calling, and what they may do.

Every `/api/v1/` request passes through `authenticate()` once (registered in the app factory). It
asks each authenticator in turn to recognise the bearer token; today that is the workspace key.
Office SSO / OIDC bearer tokens are another authenticator in `AUTHENTICATORS`: blueprints only ever
see a `Caller` and never need to change.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import g, request
from sqlalchemy.orm import Session

from server.access.limits import failed_keys
from server.access.workspaces import hash_key, member_for_key
from server.db.engine import request_session
from server.db.models import Role
from server.db.snapshots import remembered
from server.errors import ApiError


@dataclass(frozen=True)
class Caller:
    workspace_id: int
    member_id: int
    user: str
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role is Role.admin


def workspace_key(session: Session, token: str) -> Caller | None:
    member = member_for_key(session, token)
    if member is None:
        return None
    return Caller(member.workspace_id, member.id, member.user, Role(member.role))


AUTHENTICATORS: list[Callable[[Session, str], Caller | None]] = [workspace_key]


def authenticate() -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise failed_keys().refusal(
            ApiError(401, "unauthenticated", "Send your workspace key as `Authorization: Bearer <key>`."))
    session, token = request_session(), token.strip()
    # While the database is unchanged the key means the same caller (server/db/snapshots.py); kept at most
    # MAX_AGE, so a key's last use is still noted.
    caller = remembered("callers", hash_key(token), lambda: _recognised(session, token))
    if caller is None:
        raise failed_keys().refusal(
            ApiError(401, "invalid_key", "That workspace key is not valid (it may have been revoked)."))
    if session.dirty:
        session.commit()  # a key's last use, moved on every few minutes
    g.caller = caller


def _recognised(session: Session, token: str) -> Caller | None:
    for recognise in AUTHENTICATORS:
        caller = recognise(session, token)
        if caller is not None:
            return caller
    return None


def current_caller() -> Caller:
    return g.caller


def require_admin() -> Caller:
    caller = current_caller()
    if not caller.is_admin:
        raise ApiError(403, "admin_only", "Only a workspace admin may do this.")
    return caller
