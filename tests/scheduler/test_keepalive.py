"""Keeping grants alive: a grant that would lapse unused is renewed in time; a revoked one is found before the night
that needs it and its admins told once; one that cannot be renewed near its lapse warns with the date."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from server.config import load_settings
from server.db.models import Connection, LogEvent, utcnow
from server.notify import GRANT_EXPIRING, REAUTH_REQUIRED, Notifier
from server.scheduler.keepalive import check_grants
from server.scheduler.service import SchedulerService
from server.scheduler.timing import Schedule
from tests.support.journey import provider_app
from tests.support.notices import smtp_server, webhook_receiver
from tests.support.scheduling import QUICK
from tests.support.waiting import wait_until

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # loopback only

SECRET = "whsec-keepalive"


@pytest.fixture
def hook():
    with webhook_receiver() as hook:
        yield hook


@pytest.fixture
def notifier(db, hook):
    return Notifier(load_settings({"notify_webhook_url": hook.url, "notify_webhook_secret": SECRET}), db.sessions)


def connection(db, connection_id: int, **fields) -> Connection:
    with db.sessions.begin() as session:
        row = session.get(Connection, connection_id)
        for name, value in fields.items():
            setattr(row, name, value)
        return row


def credential_events(db, connection_id: int) -> list[tuple[str, str]]:
    with db.sessions() as session:
        return [(e.status, e.detail) for e in session.scalars(select(LogEvent).where(
            LogEvent.connection_id == connection_id, LogEvent.data_type == "credentials").order_by(LogEvent.id))]


def connected(journey) -> int:
    connection_id = journey.connect()
    journey.select(connection_id, 1)
    return connection_id


def test_a_grant_that_would_lapse_unused_is_renewed_in_time(journey, db, runtime, notifier, hook):
    connection_id = connected(journey)
    connection(db, connection_id, schedule_paused=True)  # no scheduled night: only the lapse matters
    assert check_grants(runtime, notifier) == {}, "consented just now: nothing to do"
    version = connection(db, connection_id).token_version

    consented = utcnow() - timedelta(days=55)  # Xero lets it lapse after 60 days unused; we renew 7 days ahead
    connection(db, connection_id, last_authorized_at=consented)
    assert check_grants(runtime, notifier) == {connection_id: "renewed"}
    assert connection(db, connection_id).token_version == version + 1, "a new token set from the provider"
    [(status, detail)] = credential_events(db, connection_id)
    lapse = consented + timedelta(days=60)
    assert status == "succeeded" and f"it would lapse unused on {lapse:%Y-%m-%d}" in detail
    assert check_grants(runtime, notifier) == {}, "renewed: its 60 days start again"
    assert hook.received == []


def test_a_revoked_grant_is_found_the_evening_before_and_the_admins_told_once(journey, provider, db, runtime,
                                                                              notifier, hook):
    connection_id = connected(journey)
    row = connection(db, connection_id, last_authorized_at=utcnow() - timedelta(days=2))
    night = Schedule.of(row, "Europe/London").next_after(utcnow())
    provider.admin("POST", "/admin/grants/revoke", {}, expect=200)  # the user disconnected us at the provider

    evening = night - timedelta(hours=6)  # within the 12 hours before the run: check the grant now
    assert check_grants(runtime, notifier, now=night - timedelta(hours=13)) == {}, "too early to check"
    assert check_grants(runtime, notifier, now=evening) == {connection_id: "refused: reconnect needed"}
    assert connection(db, connection_id).status == "reauth_required"
    [notice] = hook.notices()
    assert (notice["kind"], notice["connection_id"]) == (REAUTH_REQUIRED, connection_id)
    assert check_grants(runtime, notifier, now=evening) == {}, "told once"
    assert [status for status, _ in credential_events(db, connection_id)] == ["needs_attention"]


def test_a_connection_found_needing_reauth_elsewhere_is_told_once(journey, db, runtime, notifier, hook):
    connection_id = connected(journey)
    connection(db, connection_id, status="reauth_required")  # as a refused refresh leaves it
    assert check_grants(runtime, notifier) == {connection_id: "told: reconnect needed"}
    assert check_grants(runtime, notifier) == {}
    assert [n["kind"] for n in hook.notices()] == [REAUTH_REQUIRED]


def test_a_grant_that_cannot_be_renewed_near_its_lapse_warns_with_the_date(journey, provider, db, runtime, notifier,
                                                                           hook):
    connection_id = connected(journey)
    consented = utcnow() - timedelta(days=58)
    connection(db, connection_id, schedule_paused=True, last_authorized_at=consented)
    provider.admin("POST", "/admin/identity/faults", {"kind": "503", "count": 50}, expect=201)
    assert check_grants(runtime, notifier) == {connection_id: "renewal failed"}
    assert check_grants(runtime, notifier) == {connection_id: "renewal failed"}  # tried again, not told again
    [notice] = hook.notices()
    assert notice["kind"] == GRANT_EXPIRING
    assert f"lapses on {consented + timedelta(days=60):%Y-%m-%d}" in notice["message"]
    assert connection(db, connection_id).status != "reauth_required", "the provider being down is no refusal"


def test_the_active_scheduler_checks_grants_and_emails_the_admins(journey, provider, db, tmp_path):
    connection_id = connected(journey)
    connection(db, connection_id, last_authorized_at=utcnow() - timedelta(days=2))
    journey.client.put(f"/api/v1/connections/{connection_id}/schedule", json={"kind": "every_n_hours",
                       "time": "00:00", "every_hours": 1}, headers=journey.headers)  # a run within the hour
    provider.admin("POST", "/admin/grants/revoke", {}, expect=200)
    with smtp_server() as mailbox, provider_app(db, tmp_path, provider, **QUICK, smtp_host="127.0.0.1",
                                                smtp_port=mailbox.port, smtp_security="none") as app:
        service = SchedulerService(app.extensions["ledgerpane"]).start()
        try:
            [(recipients, message)] = wait_until(lambda: mailbox.received, 30, "no email reached the admins")
        finally:
            service.stop()
    assert recipients == ["controller@acme.test"]
    assert message["Subject"].endswith("needs to be reconnected")
    assert connection(db, connection_id).status == "reauth_required"
