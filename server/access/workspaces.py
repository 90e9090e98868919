"""Workspaces, their members and workspace keys: creating them and finding who a key belongs to."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from functools import cache
from zoneinfo import available_timezones

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from server.db.models import Member, Role, Workspace, WorkspaceKey, utcnow

KEY_PREFIX = "lp_"
LAST_USED_PRECISION = timedelta(minutes=5)


def hash_key(key: str) -> str:
    # Keys are 256 random bits, so a plain SHA-256 is enough (no password-style stretching needed).
    return hashlib.sha256(key.encode()).hexdigest()


def check_timezone(name: str) -> str:
    """An IANA zone name. A file the zone database happens to hold is not enough: "localtime" is whatever zone
    the server is set to, and "posixrules" or "right/UTC" are the database's own workings."""
    if name not in _iana_zones():
        raise ValueError(f"unknown timezone {name!r}")
    return name


@cache
def _iana_zones() -> frozenset[str]:
    return frozenset(available_timezones() - {"localtime"})


def create_workspace(
    session: Session, name: str, admin_user: str, timezone: str = "UTC", base_currency: str = "USD"
) -> tuple[Workspace, Member]:
    workspace = Workspace(name=name, timezone=check_timezone(timezone), base_currency=base_currency.upper())
    admin = Member(workspace=workspace, user=admin_user, role=Role.admin.value)
    session.add_all([workspace, admin])
    session.flush()
    return workspace, admin


def add_member(session: Session, workspace: Workspace, user: str, role: Role) -> Member:
    member = Member(workspace=workspace, user=user, role=role.value)
    session.add(member)
    session.flush()
    return member


def create_key(session: Session, member: Member, label: str = "") -> str:
    """Make a new key for a member and return it. Only its hash is kept: it cannot be shown again."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(WorkspaceKey(member_id=member.id, key_hash=hash_key(key), prefix=key[:10], label=label))
    session.flush()
    return key


def member_for_key(session: Session, key: str) -> Member | None:
    if not key.startswith(KEY_PREFIX):
        return None
    digest = hash_key(key)
    # The key and its member in one query: every API request pays for this lookup.
    found = session.scalar(select(WorkspaceKey).options(joinedload(WorkspaceKey.member))
                           .where(WorkspaceKey.key_hash == digest))
    if found is None or found.revoked_at is not None or not hmac.compare_digest(found.key_hash, digest):
        return None
    now = utcnow()
    # Kept to the nearest few minutes: writing on every request would make each read a write.
    if found.last_used_at is None or now - found.last_used_at > LAST_USED_PRECISION:
        found.last_used_at = now
    return found.member
