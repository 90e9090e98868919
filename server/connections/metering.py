"""Calls made to a connection's provider, counted per calendar month (UTC): some providers meter reads by the
month (one free tier stops at 500,000 and then shows the app as offline to its customers), so the connection
shows how many it has used."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from server.db.engine import transaction
from server.db.models import Connection, utcnow


def month_of(moment: datetime) -> str:
    return moment.strftime("%Y-%m")


def count_calls(sessions: sessionmaker[Session], connection_id: int, calls: int, now: datetime | None = None) -> None:
    """Add `calls` to this month's count; the first call of a month starts it again from zero."""
    if calls <= 0:
        return
    month = month_of(now or utcnow())
    with transaction(sessions) as session:
        same_month = session.execute(
            update(Connection).where(Connection.id == connection_id, Connection.provider_calls_month == month)
            .values(provider_calls=Connection.provider_calls + calls))
        if same_month.rowcount == 0:
            session.execute(update(Connection).where(Connection.id == connection_id)
                            .values(provider_calls_month=month, provider_calls=calls))


def calls_this_month(connection: Connection, now: datetime | None = None) -> int:
    return connection.provider_calls if connection.provider_calls_month == month_of(now or utcnow()) else 0
