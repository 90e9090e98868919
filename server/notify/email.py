"""Notices by email over SMTP (the standard library's smtplib): to the workspace's admins and any configured
extra addresses."""
from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from server.notify.notice import Notice

SECURITY = ("starttls", "ssl", "none")


@dataclass(frozen=True)
class EmailChannel:
    host: str
    port: int
    sender: str
    extra_recipients: tuple[str, ...] = ()
    username: str = ""
    password: str = field(default="", repr=False)  # never in a log line, even by accident
    security: str = "starttls"  # starttls | ssl | none (a relay on the same machine)
    timeout: float = 30.0
    name: str = "email"

    @classmethod
    def from_settings(cls, settings: Any) -> EmailChannel:
        if settings.smtp_security not in SECURITY:
            raise ValueError(f"LEDGERPANE_SMTP_SECURITY must be one of {', '.join(SECURITY)}")
        return cls(settings.smtp_host, settings.smtp_port, settings.notify_email_from,
                   tuple(settings.notify_email_to), settings.smtp_username, settings.smtp_password,
                   settings.smtp_security)

    def send(self, notice: Notice, admins: list[str]) -> None:
        recipients = sorted({*admins, *self.extra_recipients})
        if not recipients:
            raise ValueError("no admin of the workspace has an email address, and no LEDGERPANE_NOTIFY_EMAIL_TO")
        message = EmailMessage()
        message["From"], message["To"] = self.sender, ", ".join(recipients)
        message["Subject"] = f"Ledgerpane: {notice.subject}"
        message["X-Ledgerpane-Notice"] = notice.kind
        message.set_content(f"{notice.message}\n\nConnection: {notice.connection_name} (id {notice.connection_id})\n")
        if self.security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                                    context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with client:
            if self.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if self.username:
                client.login(self.username, self.password)
            client.send_message(message)
