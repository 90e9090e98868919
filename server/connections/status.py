"""The connection status machine (DESIGN.md, "Connection status"): the only place a status changes.

Everything that moves a connection calls `apply(connection, event)`; a move the table does not allow
raises `TransitionRefused` with a sentence the API returns as a 409.
"""
from __future__ import annotations

import enum

from server.db.models import Connection, ConnectionStatus, utcnow

S = ConnectionStatus


class Event(enum.StrEnum):
    authorized = "authorized"  # OAuth callback succeeded (first consent or reconnect)
    refresh_succeeded = "refresh_succeeded"
    refresh_partly_succeeded = "refresh_partly_succeeded"  # some entities failed: live, with why beside it
    refresh_failed = "refresh_failed"  # after retries, for a reason other than auth
    auth_failed = "auth_failed"  # the provider refused our refresh token (invalid_grant, revoked)
    disconnected = "disconnected"  # the user stopped it; data stays


# event -> (statuses it may happen in, status it leads to)
TRANSITIONS: dict[Event, tuple[frozenset[S], S]] = {
    Event.authorized: (frozenset(S), S.authenticated),
    Event.refresh_succeeded: (frozenset({S.authenticated, S.live, S.error}), S.live),
    Event.refresh_partly_succeeded: (frozenset({S.authenticated, S.live, S.error}), S.live),
    Event.refresh_failed: (frozenset({S.authenticated, S.live, S.error}), S.error),
    Event.auth_failed: (frozenset({S.authenticated, S.live, S.error}), S.reauth_required),
    Event.disconnected: (frozenset({S.authenticated, S.live, S.error, S.reauth_required}), S.disconnected),
}

_VERB = {
    Event.authorized: "authorise",
    Event.refresh_succeeded: "mark as refreshed",
    Event.refresh_partly_succeeded: "mark as partly refreshed",
    Event.refresh_failed: "mark as failed",
    Event.auth_failed: "ask to reconnect",
    Event.disconnected: "disconnect",
}
_WHY_NOT = {
    S.setup: "it has not been authorised yet: finish the consent first",
    S.disconnected: "it is already disconnected; reconnect it to resume refreshes",
    S.reauth_required: "the provider no longer accepts its sign-in: reconnect it first",
}


class TransitionRefused(Exception):
    pass


def can(connection: Connection, event: Event) -> bool:
    allowed_from, _ = TRANSITIONS[event]
    return S(connection.status) in allowed_from


def apply(connection: Connection, event: Event, detail: str = "") -> None:
    """Move the connection on `event`, recording why (shown beside the status in the list)."""
    allowed_from, target = TRANSITIONS[event]
    current = S(connection.status)
    if current not in allowed_from:
        reason = _WHY_NOT.get(current, f"it is {current.value.replace('_', ' ')}")
        raise TransitionRefused(f"Cannot {_VERB[event]} this connection: {reason}.")
    connection.status = target.value
    connection.status_detail = detail
    if event is Event.authorized:
        connection.last_authorized_at = utcnow()
        connection.credential_status, connection.credential_detail = "active", ""
    elif event is Event.auth_failed:
        connection.credential_status, connection.credential_detail = "error", detail
    elif event is Event.refresh_succeeded:
        connection.last_successful_run_at = utcnow()
