"""Time and money as the sandbox holds them: epoch milliseconds, ordinal days, integer cents."""
from __future__ import annotations

from datetime import date

import orjson

DAY_MS = 86_400_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def day_ms(day: int) -> int:
    """Milliseconds since the epoch at midnight UTC of a proleptic-Gregorian ordinal day."""
    return (day - _EPOCH_ORDINAL) * DAY_MS


def ms_day(ms: int) -> int:
    return ms // DAY_MS + _EPOCH_ORDINAL


_ZERO = orjson.Fragment(b"0.00")


def money(cents: int) -> orjson.Fragment:
    """A JSON number written from integer cents, so no float ever rounds it."""
    return orjson.Fragment(f"{cents / 100:.2f}") if cents else _ZERO
