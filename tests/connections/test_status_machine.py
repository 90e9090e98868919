"""Each allowed and each refused status transition, from the table in DESIGN.md."""
import itertools

import pytest

from server.connections.status import Event, TransitionRefused, apply, can
from server.db.models import Connection, ConnectionStatus

S = ConnectionStatus
ALLOWED = {
    (Event.authorized, S.setup): S.authenticated,
    (Event.authorized, S.authenticated): S.authenticated,
    (Event.authorized, S.live): S.authenticated,
    (Event.authorized, S.reauth_required): S.authenticated,
    (Event.authorized, S.error): S.authenticated,
    (Event.authorized, S.disconnected): S.authenticated,
    (Event.refresh_succeeded, S.authenticated): S.live,
    (Event.refresh_succeeded, S.live): S.live,
    (Event.refresh_succeeded, S.error): S.live,
    (Event.refresh_partly_succeeded, S.authenticated): S.live,  # some companies failed: named in the detail
    (Event.refresh_partly_succeeded, S.live): S.live,
    (Event.refresh_partly_succeeded, S.error): S.live,
    (Event.refresh_failed, S.authenticated): S.error,
    (Event.refresh_failed, S.live): S.error,
    (Event.refresh_failed, S.error): S.error,
    (Event.auth_failed, S.authenticated): S.reauth_required,
    (Event.auth_failed, S.live): S.reauth_required,
    (Event.auth_failed, S.error): S.reauth_required,
    (Event.disconnected, S.authenticated): S.disconnected,
    (Event.disconnected, S.live): S.disconnected,
    (Event.disconnected, S.error): S.disconnected,
    (Event.disconnected, S.reauth_required): S.disconnected,
}
EVERY = list(itertools.product(Event, S))


def connection_in(status: S) -> Connection:
    return Connection(workspace_id=1, provider="xero", name="Acme UK", status=status.value)


@pytest.mark.parametrize("event, status", [pair for pair in EVERY if pair in ALLOWED])
def test_allowed_transition(event, status):
    connection = connection_in(status)
    assert can(connection, event)
    apply(connection, event, detail="why")
    assert connection.status == ALLOWED[(event, status)].value


@pytest.mark.parametrize("event, status", [pair for pair in EVERY if pair not in ALLOWED])
def test_refused_transition_says_why_and_changes_nothing(event, status):
    connection = connection_in(status)
    assert not can(connection, event)
    with pytest.raises(TransitionRefused, match="Cannot"):
        apply(connection, event)
    assert connection.status == status.value


def test_side_effects_record_credentials_and_success():
    connection = connection_in(S.setup)
    apply(connection, Event.authorized)
    assert connection.credential_status == "active" and connection.last_authorized_at is not None
    apply(connection, Event.refresh_succeeded)
    assert connection.last_successful_run_at is not None
    apply(connection, Event.auth_failed, "invalid_grant: the refresh token was revoked")
    assert (connection.credential_status, connection.status_detail) == (
        "error", "invalid_grant: the refresh token was revoked")
