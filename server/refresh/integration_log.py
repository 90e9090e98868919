"""Integration-log events: what each run did for each entity and data type, and which endpoints it used."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy.orm import Session, sessionmaker

from server.connectors import RequestRecord
from server.db.engine import transaction
from server.db.models import LogEvent


@dataclass
class LogEntry:
    workspace_id: int
    connection_id: int
    entity_id: int | None
    run_id: int | None
    data_type: str
    status: str  # succeeded, failed, needs_attention
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_deleted: int = 0
    pages: int = 0
    duration_ms: int = 0
    endpoints: list[dict[str, Any]] | None = None
    detail: str = ""


def write_event(sessions: sessionmaker[Session], entry: LogEntry) -> None:
    """Events are written in their own transaction, so a failed batch never takes its event with it."""
    with transaction(sessions) as session:
        session.add(LogEvent(**{**asdict(entry), "endpoints": entry.endpoints or []}))


def summarise_endpoints(calls: Iterable[RequestRecord]) -> list[dict[str, Any]]:
    """One line per endpoint (method and URL without its query), however many pages it served: calls,
    statuses, total time, the most attempts one call needed, rows, and one full example URL. The
    URLs were redacted by the HTTP client already; nothing here adds a header or a token."""
    summary: dict[tuple[str, str], dict[str, Any]] = {}
    for call in calls:
        parts = urlsplit(call.endpoint)
        base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        item = summary.setdefault((call.method, base), {
            "method": call.method, "url": base, "example": call.endpoint, "calls": 0, "statuses": {},
            "duration_ms": 0.0, "max_attempt": 0, "rows": 0, "errors": []})
        item["calls"] += 1
        status = str(call.status) if call.status is not None else "no answer"
        item["statuses"][status] = item["statuses"].get(status, 0) + 1
        item["duration_ms"] = round(item["duration_ms"] + call.duration_ms, 1)
        item["max_attempt"] = max(item["max_attempt"], call.attempt)
        item["rows"] += call.rows or 0
        if call.error and call.error not in item["errors"] and len(item["errors"]) < 5:
            item["errors"].append(call.error)
    return list(summary.values())
