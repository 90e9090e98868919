"""A notice: what the admins of a workspace are told, in words and ids only (never a token or a secret)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

REAUTH_REQUIRED = "reauth_required"
SCHEDULE_PAUSED = "schedule_paused"
GRANT_EXPIRING = "grant_expiring"
RUN_FAILED = "run_failed"


@dataclass(frozen=True)
class Notice:
    kind: str  # one of the names above
    workspace_id: int
    connection_id: int
    connection_name: str
    subject: str
    message: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class Channel(Protocol):
    name: str

    def send(self, notice: Notice, admins: list[str]) -> None:
        """Deliver or raise; `admins`: the workspace admins' email addresses."""
