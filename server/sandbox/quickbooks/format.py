"""QuickBooks Online's wire formats: realm ids, numeric entity ids, timestamps, money and the Fault body."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

# Intuit stamps MetaData times in its own (Pacific) time with the offset written out.
PACIFIC = timezone(timedelta(hours=-8))

# Fault type and code per status (providers.md 2.6: ValidationFault, SystemFault, AuthenticationFault,
# AuthorizationFault; 3200 authentication failed, 3001 throttled, 610 object not found).
FAULTS = {
    400: ("ValidationFault", "2020"), 401: ("AuthenticationFault", "3200"), 403: ("AuthorizationFault", "120"),
    404: ("ValidationFault", "610"), 429: ("ThrottleExceeded", "3001"),
}


def realm_of(tenant_id: str) -> str:
    """A company's realm id: sixteen digits, as Intuit's are, derived from the sandbox's tenant id."""
    return str(9_130_000_000_000_000 + uuid.UUID(tenant_id).int % 10**12)


def timestamp(ms: int) -> str:
    """`2015-06-26T10:58:26-08:00`."""
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(PACIFIC).isoformat(timespec="seconds")


def parse_timestamp(text: str) -> int | None:
    """An ISO 8601 date or date-time (changedSince, LastUpdatedTime filters) -> epoch ms; None if not one."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=PACIFIC)
    return int(moment.timestamp() * 1000)


def amount(cents: int) -> float:
    """Money as QuickBooks writes it: a JSON number (two decimals at most)."""
    return round(cents / 100, 2)


def meta(created_ms: int, updated_ms: int | None = None) -> dict:
    return {"CreateTime": timestamp(created_ms), "LastUpdatedTime": timestamp(updated_ms or created_ms)}


def fault(status: int, title: str, detail: str, now_ms: int) -> dict:
    """`{"Fault": {"Error": [{"Message", "Detail", "code", "element"}], "type"}, "time"}` (providers.md 2.6)."""
    kind, code = FAULTS.get(status, ("SystemFault", "10000"))
    message = f"message={title.replace(' ', '')}; errorCode={int(code):06d}; statusCode={status}"
    return {"Fault": {"Error": [{"Message": message, "Detail": detail, "code": code, "element": ""}],
                      "type": kind}, "time": timestamp(now_ms)}
