"""Notices posted as JSON to a webhook, signed with HMAC-SHA256 so the receiver can tell they are ours.

The signature covers the timestamp and the body (`X-Ledgerpane-Signature: sha256=<hex of
HMAC(secret, "<timestamp>.<body>")>`, `X-Ledgerpane-Timestamp: <unix seconds>`), so a receiver that checks
how old the timestamp is also refuses a replayed notice.
"""
from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import requests

from server.notify.notice import Notice

SIGNATURE_HEADER = "X-Ledgerpane-Signature"
TIMESTAMP_HEADER = "X-Ledgerpane-Timestamp"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


@dataclass(frozen=True)
class WebhookChannel:
    url: str
    secret: str = field(repr=False)  # never in a log line, even by accident
    timeout: float = 10.0
    name: str = "webhook"

    @classmethod
    def from_settings(cls, settings: Any) -> WebhookChannel:
        if not settings.notify_webhook_secret:
            raise ValueError("LEDGERPANE_NOTIFY_WEBHOOK_SECRET is needed to sign webhook notices")
        return cls(settings.notify_webhook_url, settings.notify_webhook_secret)

    def send(self, notice: Notice, admins: list[str]) -> None:
        body = orjson.dumps({"notice": notice.as_json()})
        timestamp = str(int(time.time()))
        response = requests.post(self.url, data=body, timeout=self.timeout, headers={
            "Content-Type": "application/json", TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(self.secret, timestamp, body)})
        response.raise_for_status()
