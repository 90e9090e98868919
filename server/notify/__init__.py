"""Telling a workspace's admins what needs them, outside Excel: by email (SMTP) and by a signed webhook.

Sent when a connection needs a new sign-in, when a schedule pauses itself, when a grant is about to lapse,
and (LEDGERPANE_NOTIFY_EVERY_FAILURE) on every failed scheduled run. A notice carries words and ids only:
never a token, a secret or a provider's raw answer. A channel that fails is logged and skipped; notices are
a courtesy on top of the integration log, which stays the record.
"""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from server.db.models import Member, Role
from server.notify.email import EmailChannel
from server.notify.notice import GRANT_EXPIRING, REAUTH_REQUIRED, RUN_FAILED, SCHEDULE_PAUSED, Channel, Notice
from server.notify.webhook import WebhookChannel

__all__ = ["GRANT_EXPIRING", "REAUTH_REQUIRED", "RUN_FAILED", "SCHEDULE_PAUSED", "Channel", "Notice", "Notifier"]

log = logging.getLogger(__name__)


class Notifier:
    """Every channel the settings configure; none configured: notices are only logged."""

    def __init__(self, settings: Any, sessions: Any, channels: list[Channel] | None = None) -> None:
        self._sessions = sessions
        self.channels = channels if channels is not None else channels_from(settings)

    def send(self, notice: Notice) -> int:
        """Returns how many channels took the notice."""
        log.info("notice for connection %s: %s", notice.connection_id, notice.subject)
        if not self.channels:
            return 0
        admins = self._admin_addresses(notice.workspace_id)
        delivered = 0
        for channel in self.channels:
            try:
                channel.send(notice, admins)
                delivered += 1
            except Exception as error:  # a courtesy: one channel down must not stop the others or the caller
                log.warning("notice for connection %s not sent by %s (%s)", notice.connection_id, channel.name,
                            type(error).__name__)
        return delivered

    def _admin_addresses(self, workspace_id: int) -> list[str]:
        with self._sessions() as session:
            users = session.scalars(select(Member.user).where(Member.workspace_id == workspace_id,
                                                              Member.role == Role.admin.value)).all()
        return sorted({user for user in users if "@" in user})


def channels_from(settings: Any) -> list[Channel]:
    channels: list[Channel] = []
    if settings.smtp_host:
        channels.append(EmailChannel.from_settings(settings))
    if settings.notify_webhook_url:
        channels.append(WebhookChannel.from_settings(settings))
    return channels
