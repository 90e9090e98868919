"""A schedule as wall-clock times in the workspace's timezone, and the moments they fall on.

Daylight saving: a local time that does not exist (the spring gap) runs when the clocks have gone forward,
as many minutes into the new hour as it was into the missing one; a local time that happens twice (the
autumn fold) runs at its first occurrence only. Both follow from reading a local time with `fold=0`
(PEP 495). So a daily schedule runs once every night, never skipped and never twice. APScheduler's
CronTrigger is documented to skip or repeat those runs (its cron docs), hence a trigger of our own.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger

from server.db.models import Connection, ScheduleKind

EVERY_HOURS = (1, 2, 3, 4, 6, 8, 12)  # the divisors of a day: the same local times every day
MINUTES_A_DAY = 24 * 60


@dataclass(frozen=True)
class Schedule:
    kind: ScheduleKind
    minute: int  # of the local day, 0..1439: the time of a daily run, the first of an every-N-hours day
    every_hours: int | None
    offset_seconds: int  # this connection's place in the wave, added to each local time
    timezone: str

    @classmethod
    def of(cls, connection: Connection, timezone: str) -> Schedule:
        return cls(ScheduleKind(connection.schedule_kind), connection.schedule_minute,
                   connection.schedule_every_hours, connection.schedule_offset_seconds, timezone)

    def local_times(self) -> list[time]:
        """The local times of day it runs at, earliest first."""
        if self.kind is ScheduleKind.every_n_hours:
            step = (self.every_hours or 24) * 60
            minutes = sorted({(self.minute + k * step) % MINUTES_A_DAY for k in range(MINUTES_A_DAY // step)})
        else:
            minutes = [self.minute]
        return [time(m // 60, m % 60) for m in minutes]

    def runs_on(self, day: date) -> bool:
        return self.kind is not ScheduleKind.weekdays or day.weekday() < 5

    def moments_of(self, day: date) -> list[datetime]:
        """The instants (UTC) of the runs planned for this local day."""
        offset = timedelta(seconds=self.offset_seconds)
        return [at + offset for at in _moments_of(self.kind, self.minute, self.every_hours, self.timezone, day)]

    def next_after(self, moment: datetime) -> datetime:
        """The first planned instant strictly after `moment`."""
        day = self._local_day(moment) - timedelta(days=1)  # yesterday's late run may still be ahead (its offset)
        ahead = _moments_from(self.kind, self.minute, self.every_hours, self.timezone, day)
        offset = timedelta(seconds=self.offset_seconds)
        found = bisect_right(ahead, moment - offset)
        if found == len(ahead):
            raise AssertionError("every schedule runs at least once a week")
        return ahead[found] + offset

    def last_at_or_before(self, moment: datetime) -> datetime:
        """The newest planned instant at or before `moment`."""
        day = self._local_day(moment) + timedelta(days=1)
        for _ in range(10):
            earlier = [at for at in self.moments_of(day) if at <= moment]
            if earlier:
                return max(earlier)
            day -= timedelta(days=1)
        raise AssertionError("every schedule runs at least once a week")

    def _local_day(self, moment: datetime) -> date:
        return moment.astimezone(ZoneInfo(self.timezone)).date()


@lru_cache(maxsize=4096)
def _moments_of(kind: ScheduleKind, minute: int, every_hours: int | None, timezone: str,
                day: date) -> tuple[datetime, ...]:
    """A local day's planned instants before the connection's offset. Connections share a few schedules but each
    has its own offset, so the timezone arithmetic is done once per schedule and day (the Connections list asks
    for a hundred next runs at a time)."""
    schedule = Schedule(kind, minute, every_hours, 0, timezone)
    if not schedule.runs_on(day):
        return ()
    zone = ZoneInfo(timezone)
    return tuple(datetime.combine(day, at, tzinfo=zone).astimezone(UTC) for at in schedule.local_times())


@lru_cache(maxsize=1024)
def _moments_from(kind: ScheduleKind, minute: int, every_hours: int | None, timezone: str,
                  day: date) -> tuple[datetime, ...]:
    """Ten local days' planned instants from `day` on, before the offset, in order (a weekdays schedule has one
    within a week)."""
    return tuple(sorted(at for n in range(10)
                        for at in _moments_of(kind, minute, every_hours, timezone, day + timedelta(days=n))))


class ScheduleTrigger(BaseTrigger):
    """APScheduler's view of a Schedule. Stored pickled in the job store, so it holds plain values only;
    two triggers are equal when their schedules are, which tells the scheduler a job needs no change."""

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime:
        if previous_fire_time is None:
            return self.schedule.next_after(now - timedelta(microseconds=1))
        return self.schedule.next_after(previous_fire_time)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ScheduleTrigger) and other.schedule == self.schedule

    def __hash__(self) -> int:
        return hash(self.schedule)

    def __str__(self) -> str:
        times = ", ".join(t.strftime("%H:%M") for t in self.schedule.local_times())
        return f"{self.schedule.kind.value} at {times} {self.schedule.timezone} +{self.schedule.offset_seconds}s"
