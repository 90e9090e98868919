"""Notices reach a workspace's admins: by email through a real SMTP server, and as a signed webhook to a real
HTTP receiver; a channel that fails leaves the others alone; secrets stay out of the log."""
import hashlib
import hmac
import json
import logging

import pytest

from server.config import load_settings
from server.notify import REAUTH_REQUIRED, Notice, Notifier
from tests.support.notices import smtp_server, webhook_receiver

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # loopback only

SMTP_PASSWORD = "smtp-pass-not-for-logs"
WEBHOOK_SECRET = "whsec-not-for-logs"


def a_notice(workspace) -> Notice:
    return Notice(REAUTH_REQUIRED, workspace.id, 7, "Acme UK", "Acme UK needs to be reconnected",
                  "Reconnect needed: the provider no longer accepts our sign-in.")


def notifier(db, **settings) -> Notifier:
    return Notifier(load_settings(settings), db.sessions)


def test_an_email_reaches_the_workspace_admins_through_a_real_smtp_server(db, workspace, caplog):
    caplog.set_level(logging.DEBUG)
    with smtp_server("ledgerpane", SMTP_PASSWORD) as mailbox:
        sent = notifier(db, smtp_host="127.0.0.1", smtp_port=mailbox.port, smtp_security="none",
                        smtp_username="ledgerpane", smtp_password=SMTP_PASSWORD,
                        notify_email_from="ledgerpane@acme.test",
                        notify_email_to=("finance-ops@acme.test",)).send(a_notice(workspace))
    assert sent == 1 and mailbox.logins == ["ledgerpane"]
    [(recipients, message)] = mailbox.received
    assert sorted(recipients) == ["controller@acme.test", "finance-ops@acme.test"], "admins and the extra address"
    assert message["Subject"] == "Ledgerpane: Acme UK needs to be reconnected"
    assert message["From"] == "ledgerpane@acme.test" and message["X-Ledgerpane-Notice"] == REAUTH_REQUIRED
    assert "the provider no longer accepts our sign-in" in message.get_payload()
    assert SMTP_PASSWORD not in caplog.text


def test_a_webhook_notice_is_signed_so_the_receiver_can_tell_it_is_ours(db, workspace, caplog):
    caplog.set_level(logging.DEBUG)
    with webhook_receiver() as hook:
        sent = notifier(db, notify_webhook_url=hook.url, notify_webhook_secret=WEBHOOK_SECRET).send(a_notice(workspace))
    assert sent == 1
    [(headers, body)] = hook.received
    timestamp, claimed = headers["X-Ledgerpane-Timestamp"], headers["X-Ledgerpane-Signature"]

    def signed_with(secret: str) -> str:
        return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()

    assert hmac.compare_digest(claimed, signed_with(WEBHOOK_SECRET))
    assert not hmac.compare_digest(claimed, signed_with("someone-else's-secret"))
    notice = json.loads(body)["notice"]
    assert (notice["kind"], notice["connection_id"], notice["workspace_id"]) == (REAUTH_REQUIRED, 7, workspace.id)
    assert WEBHOOK_SECRET.encode() not in body and WEBHOOK_SECRET not in caplog.text


def test_a_channel_that_fails_leaves_the_others_alone(db, workspace, caplog):
    with smtp_server() as mailbox, webhook_receiver(status=500) as hook:
        sent = notifier(db, smtp_host="127.0.0.1", smtp_port=mailbox.port, smtp_security="none",
                        notify_webhook_url=hook.url, notify_webhook_secret=WEBHOOK_SECRET).send(a_notice(workspace))
    assert sent == 1 and len(mailbox.received) == 1 and len(hook.received) == 1
    assert "not sent by webhook (HTTPError)" in caplog.text and WEBHOOK_SECRET not in caplog.text


def test_with_no_channel_configured_a_notice_is_only_logged(db, workspace):
    quiet = notifier(db)
    assert quiet.channels == [] and quiet.send(a_notice(workspace)) == 0
