"""Keeping grants alive, and telling admins before a grant lets them down.

Some providers let a refresh token lapse when it goes unused (60 days, say; each connector declares its own
`refresh_token_idle_days`). The active scheduler renews such a grant once it would lapse within
`grant_keepalive_days`. It also checks a scheduled connection's grant `grant_check_hours` before its next run, so
a grant revoked at the provider is found, and the admins told, the evening before rather than by the night's
failed run. A grant that cannot be renewed for another reason (the provider is down) while its lapse is near gets
a warning naming the date. Every renewal, refusal and warning leaves an integration-log event; the log is also
the memory that keeps an admin from being told the same thing twice.

When a grant was last used: its consent, its last successful refresh (which renewed the token, or used one
renewed at most an access token's lifetime before) or its last renewal here, whichever is latest.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.connectors.framework.errors import AuthRevoked, ProviderError
from server.db.models import Connection, ConnectionStatus, LogEvent, Workspace, utcnow
from server.notify import GRANT_EXPIRING, REAUTH_REQUIRED, Notice
from server.refresh.integration_log import LogEntry, write_event
from server.scheduler.timing import Schedule

log = logging.getLogger(__name__)

CREDENTIALS = "credentials"  # the integration log's data type for what happened to a connection's sign-in
KEPT = (ConnectionStatus.authenticated.value, ConnectionStatus.live.value, ConnectionStatus.error.value)
REAUTH = "Reconnect needed: the provider no longer accepts our sign-in, so refreshes stop until someone reconnects."
LAPSES = "The sign-in lapses on"
TOLD_AS = {REAUTH_REQUIRED: REAUTH, GRANT_EXPIRING: LAPSES}  # how each notice's log event begins


@dataclass(frozen=True)
class Grant:
    connection_id: int
    workspace_id: int
    name: str
    status: str
    idle_days: int | None  # as the connector declares
    last_used: datetime
    next_run: datetime | None  # the schedule's next planned run; None: not scheduled

    @property
    def lapses_at(self) -> datetime | None:
        return self.last_used + timedelta(days=self.idle_days) if self.idle_days else None


def check_grants(runtime: Any, notifier: Any, now: datetime | None = None) -> dict[int, str]:
    """Renew what needs renewing and tell admins what needs them. Returns connection id -> what was done, for
    the connections that needed anything. `runtime`: a server.runtime.Runtime; `notifier`: a server.notify
    Notifier."""
    now = now or utcnow()
    done: dict[int, str] = {}
    for grant in _grants(runtime, now):
        if grant.status == ConnectionStatus.reauth_required.value:
            if _tell_once(runtime, notifier, grant, REAUTH_REQUIRED, REAUTH):
                done[grant.connection_id] = "told: reconnect needed"
            continue
        why = _why_renew(runtime.settings, grant, now)
        if why:
            done[grant.connection_id] = _renew(runtime, notifier, grant, why, now)
    return done


def _grants(runtime: Any, now: datetime) -> list[Grant]:
    with runtime.sessions() as session:
        rows = session.execute(select(Connection, Workspace.timezone).join(Workspace).where(
            Connection.deleted_at.is_(None), Connection.token_ciphertext.is_not(None),
            Connection.status.in_([*KEPT, ConnectionStatus.reauth_required.value]))).all()
        renewed = dict(session.execute(
            select(LogEvent.connection_id, func.max(LogEvent.created_at))
            .where(LogEvent.data_type == CREDENTIALS, LogEvent.status == "succeeded")
            .group_by(LogEvent.connection_id)).all())
        grants = []
        for connection, timezone in rows:
            used = [t for t in (connection.last_authorized_at, connection.last_successful_run_at,
                                renewed.get(connection.id)) if t is not None]
            next_run = None if connection.schedule_paused else Schedule.of(connection, timezone).next_after(now)
            grants.append(Grant(connection.id, connection.workspace_id, connection.name, connection.status,
                                runtime.connector_for(connection).refresh_token_idle_days,
                                max(used, default=connection.created_at), next_run))
        return grants


def _why_renew(settings: Any, grant: Grant, now: datetime) -> str:
    lapses_at = grant.lapses_at
    if lapses_at is not None and lapses_at - now <= timedelta(days=settings.grant_keepalive_days):
        return f"it would lapse unused on {lapses_at:%Y-%m-%d}"
    window = timedelta(hours=settings.grant_check_hours)
    if grant.next_run is not None and grant.next_run - now <= window and now - grant.last_used > window:
        return f"the scheduled refresh at {grant.next_run:%Y-%m-%d %H:%M} UTC is near"
    return ""


def _renew(runtime: Any, notifier: Any, grant: Grant, why: str, now: datetime) -> str:
    try:
        runtime.vault.renew(grant.connection_id)
    except AuthRevoked:  # the vault moved the connection to reauth_required
        _tell_once(runtime, notifier, grant, REAUTH_REQUIRED, REAUTH)
        return "refused: reconnect needed"
    except ProviderError as error:
        lapses_at = grant.lapses_at
        log.warning("connection %s: renewing its sign-in failed (%s)", grant.connection_id, type(error).__name__)
        if lapses_at is not None and lapses_at - now <= timedelta(days=runtime.settings.grant_keepalive_days):
            _tell_once(runtime, notifier, grant, GRANT_EXPIRING,
                       f"{LAPSES} {lapses_at:%Y-%m-%d} unless it is renewed before; renewing it failed "
                       "(the provider did not answer). We keep trying; reconnecting renews it too.")
        return "renewal failed"
    write_event(runtime.sessions, LogEntry(grant.workspace_id, grant.connection_id, None, None, CREDENTIALS,
                                           "succeeded", detail=f"Sign-in renewed: {why}."))
    return "renewed"


def _tell_once(runtime: Any, notifier: Any, grant: Grant, kind: str, detail: str) -> bool:
    """Log and send a notice, unless this grant's admins were told this already since it was last used."""
    with runtime.sessions() as session:
        if _told_since(session, grant.connection_id, grant.last_used, TOLD_AS[kind]):
            return False
    write_event(runtime.sessions, LogEntry(grant.workspace_id, grant.connection_id, None, None, CREDENTIALS,
                                           "needs_attention", detail=detail))
    subject = {REAUTH_REQUIRED: f"{grant.name} needs to be reconnected",
               GRANT_EXPIRING: f"The sign-in of {grant.name} is about to lapse"}[kind]
    notifier.send(Notice(kind, grant.workspace_id, grant.connection_id, grant.name, subject, detail))
    return True


def _told_since(session: Session, connection_id: int, since: datetime, prefix: str) -> bool:
    return session.scalar(select(func.count()).select_from(LogEvent).where(
        LogEvent.connection_id == connection_id, LogEvent.data_type == CREDENTIALS,
        LogEvent.status == "needs_attention", LogEvent.created_at >= since,
        LogEvent.detail.startswith(prefix))) > 0
