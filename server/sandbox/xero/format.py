"""Xero's wire formats: .NET JSON dates, money as exact decimals, the response envelope."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import orjson


def net_date(ms: int) -> str:
    """`/Date(1573755038314+0000)/`, the form Xero uses for dates and timestamps in JSON."""
    return f"/Date({ms}+0000)/"


def cents_text(cents: int) -> str:
    """Exact decimal text of an amount held in cents: -1234 -> "-12.34".

    cents / 100 is the double nearest the true value, off by far less than half a cent for any
    amount below 10**13, so rounding it to two places gives back exactly the right digits.
    """
    return f"{cents / 100:.2f}"


def identity_timestamp(ms: int) -> str:
    """The identity API's timestamps: ISO 8601 with seven fractional digits and no zone."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0"


def parse_if_modified_since(value: str | None) -> int | None:
    """Xero takes `2009-11-12T00:00:00` (UTC); an HTTP date works as well. Returns epoch ms."""
    if not value:
        return None
    value = value.strip()
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def envelope_prefix(provider_name: str, now_ms: int, key: str) -> bytes:
    """Start of a collection response, up to the opening bracket of the `key` array."""
    head = orjson.dumps({"Id": str(uuid.uuid4()), "Status": "OK", "ProviderName": provider_name,
                         "DateTimeUTC": f"/Date({now_ms})/"})
    return head[:-1] + b',"' + key.encode() + b'":['


def collection(provider_name: str, now_ms: int, key: str, items: list[bytes]) -> bytes:
    """A whole response from pre-rendered items: the envelope plus `key: [items...]`."""
    return envelope_prefix(provider_name, now_ms, key) + b",".join(items) + b"]}"
