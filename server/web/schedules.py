"""When a connection refreshes by itself: its schedule, read and set (admins), and resumed after a pause.

The scheduler reads schedules from the database (server/scheduler/service.py), so a change here reaches it
at its next poll, whichever process it runs in.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from server.access.keys import current_caller, require_admin
from server.db.engine import request_session
from server.db.models import Connection, ConnectionStatus, ScheduleKind, Workspace, utcnow
from server.errors import ApiError
from server.runtime import runtime
from server.scheduler.policy import pause, resume
from server.scheduler.timing import EVERY_HOURS, Schedule
from server.web.common import BEARER, ERRORS, Id, StrictModel, find_connection

bp = APIBlueprint("schedules", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="Schedules")],
                  abp_security=BEARER, abp_responses=ERRORS)

LOCAL_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
NOT_REFRESHING = {
    ConnectionStatus.setup: "Starts once the sign-in at the provider is finished.",
    ConnectionStatus.disconnected: "Skipped while the connection is disconnected.",
    ConnectionStatus.reauth_required: "Skipped until the connection is reconnected.",
}


class ScheduleOut(BaseModel):
    kind: ScheduleKind = Field(description="daily, weekdays (Monday to Friday) or every_n_hours.")
    time: str = Field(description="Local time (HH:MM, the workspace's timezone) of the daily run, or the first "
                                  "of the day's runs every N hours.")
    every_hours: int | None = Field(description="For every_n_hours: 1, 2, 3, 4, 6, 8 or 12.")
    timezone: str = Field(description="The workspace's timezone, in which `time` is read.")
    offset_seconds: int = Field(description="This connection's place in the overnight wave: each run starts this "
                                            "long after its local time, so many connections do not start at once.")
    paused: bool
    paused_reason: str = Field(description="Why it is paused: by an admin, or by itself after repeated failures.")
    consecutive_failures: int = Field(description="Scheduled runs that failed in a row.")
    failures_to_pause: int = Field(description="At this many failures in a row the schedule pauses itself.")
    next_run_at: datetime | None = Field(description="The next planned run; null while paused or while the "
                                                     "connection cannot refresh (then `note` says why).")
    note: str


class ScheduleIn(StrictModel):
    kind: ScheduleKind
    time: str = Field("02:00", pattern=LOCAL_TIME, description="Local time, HH:MM (24-hour).")
    every_hours: Literal[EVERY_HOURS] | None = Field(  # type: ignore[valid-type]
        None, description="For every_n_hours only: 1, 2, 3, 4, 6, 8 or 12.")
    paused: bool | None = Field(None, description="Pause or resume it; left out: unchanged.")


class SchedulePath(BaseModel):
    connection_id: Id


def schedule_out(connection: Connection, timezone: str) -> ScheduleOut:
    return ScheduleOut(**schedule_fields(connection, timezone, utcnow()))


def schedule_fields(connection: Connection, timezone: str, now: datetime) -> dict[str, Any]:
    """ScheduleOut's fields as plain values (the Connections list validates a page of them in one call)."""
    note = NOT_REFRESHING.get(ConnectionStatus(connection.status), "")
    if not note and not any(e.selected and e.available for e in connection.entities):
        note = "Skipped until a company or ledger is selected."
    if connection.schedule_paused:
        note = "Paused: resume to refresh on schedule again."
    schedule = Schedule.of(connection, timezone)
    return dict(
        kind=schedule.kind, time=f"{schedule.minute // 60:02d}:{schedule.minute % 60:02d}",
        every_hours=schedule.every_hours, timezone=timezone, offset_seconds=schedule.offset_seconds,
        paused=connection.schedule_paused, paused_reason=connection.schedule_paused_reason,
        consecutive_failures=connection.schedule_failures,
        failures_to_pause=runtime().settings.schedule_failures_to_pause,
        next_run_at=None if note else schedule.next_after(now), note=note)


def workspace_timezone() -> str:
    return request_session().get(Workspace, current_caller().workspace_id).timezone


def _answer(connection: Connection) -> dict:
    return schedule_out(connection, workspace_timezone()).model_dump(mode="json")


@bp.get("/connections/<int:connection_id>/schedule", responses={200: ScheduleOut})
def get_schedule(path: SchedulePath):
    """When this source refreshes by itself, and when it next does."""
    return _answer(find_connection(path.connection_id))


@bp.put("/connections/<int:connection_id>/schedule", responses={200: ScheduleOut})
def set_schedule(path: SchedulePath, body: ScheduleIn):
    """Set when this source refreshes by itself (admins). Times are the workspace's local time."""
    require_admin()
    connection = find_connection(path.connection_id, changing=True)
    if body.kind is ScheduleKind.every_n_hours and body.every_hours is None:
        raise ApiError(422, "missing_field", "Say how many hours apart the runs are.", "every_hours")
    if body.kind is not ScheduleKind.every_n_hours and body.every_hours is not None:
        raise ApiError(422, "not_applicable", f"A {body.kind.value} schedule has no hours between runs.",
                       "every_hours")
    hours, minutes = (int(part) for part in body.time.split(":"))
    connection.schedule_kind, connection.schedule_minute = body.kind.value, hours * 60 + minutes
    connection.schedule_every_hours = body.every_hours
    if body.paused is True and not connection.schedule_paused:
        pause(connection, f"Paused by {current_caller().user}.")
    elif body.paused is False:
        resume(connection)
    request_session().commit()
    return _answer(connection)


@bp.post("/connections/<int:connection_id>/schedule/resume", responses={200: ScheduleOut})
def resume_schedule(path: SchedulePath):
    """Resume a paused schedule (admins): it runs again at its next planned time."""
    require_admin()
    connection = find_connection(path.connection_id, changing=True)
    resume(connection)
    request_session().commit()
    return _answer(connection)
