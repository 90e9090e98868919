"""Schedule arithmetic in the workspace's timezone: every night once, across both daylight-saving changes."""
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from server.db.models import ScheduleKind
from server.scheduler.timing import Schedule, ScheduleTrigger

LONDON, NEW_YORK = "Europe/London", "America/New_York"


def runs_between(schedule: Schedule, start: datetime, end: datetime) -> list[datetime]:
    """The trigger's fire times, as APScheduler asks for them (each from the previous one)."""
    trigger, fired = ScheduleTrigger(schedule), []
    moment = trigger.get_next_fire_time(None, start)
    while moment < end:
        fired.append(moment)
        moment = trigger.get_next_fire_time(moment, moment)
    return fired


def local(moments: list[datetime], timezone: str) -> list[datetime]:
    return [m.astimezone(ZoneInfo(timezone)) for m in moments]


def daily(minute: int, timezone: str, offset: int = 0) -> Schedule:
    return Schedule(ScheduleKind.daily, minute, None, offset, timezone)


@pytest.mark.parametrize(("timezone", "minute", "change"), [
    (LONDON, 60 + 30, date(2026, 3, 29)),  # 01:30 does not exist that night (01:00 -> 02:00)
    (NEW_YORK, 2 * 60, date(2026, 3, 8)),  # the default 02:00 does not exist that night (02:00 -> 03:00)
])
def test_spring_forward_skips_no_night(timezone, minute, change):
    start = datetime.combine(change - timedelta(days=3), datetime.min.time(), tzinfo=ZoneInfo(timezone))
    fired = local(runs_between(daily(minute, timezone), start, start + timedelta(days=7)), timezone)
    assert Counter(m.date() for m in fired) == {change + timedelta(days=d): 1 for d in range(-3, 4)}
    that_night = next(m for m in fired if m.date() == change)
    # As far into the new hour as the time was into the missing one.
    assert (that_night.hour, that_night.minute) == (minute // 60 + 1, minute % 60)


@pytest.mark.parametrize(("timezone", "minute", "change"), [
    (LONDON, 60 + 30, date(2026, 10, 25)),  # 01:30 happens twice that night (02:00 -> 01:00)
    (NEW_YORK, 60 + 15, date(2026, 11, 1)),
])
def test_fall_back_runs_once_at_the_first_occurrence(timezone, minute, change):
    start = datetime.combine(change - timedelta(days=3), datetime.min.time(), tzinfo=ZoneInfo(timezone))
    fired = local(runs_between(daily(minute, timezone), start, start + timedelta(days=7)), timezone)
    assert Counter(m.date() for m in fired) == {change + timedelta(days=d): 1 for d in range(-3, 4)}
    that_night = next(m for m in fired if m.date() == change)
    assert (that_night.hour, that_night.minute, that_night.fold) == (minute // 60, minute % 60, 0)
    assert that_night.utcoffset() > next(m for m in fired if m.date() > change).utcoffset()  # still summer time


@pytest.mark.parametrize("change", [date(2026, 3, 29), date(2026, 10, 25)])
def test_every_n_hours_never_fires_twice_at_one_moment_across_a_change(change):
    schedule = Schedule(ScheduleKind.every_n_hours, 30, 1, 0, LONDON)  # hourly at :30
    start = datetime.combine(change - timedelta(days=1), datetime.min.time(), tzinfo=ZoneInfo(LONDON))
    fired = runs_between(schedule, start, start + timedelta(days=3))
    assert len(set(fired)) == len(fired)
    assert all(later - earlier >= timedelta(hours=1) for earlier, later in zip(fired, fired[1:], strict=False))
    per_day = Counter(m.date() for m in local(fired, LONDON))
    # A 23-hour day has 23 runs, a 25-hour day 24 (its repeated hour runs once), others 24.
    assert per_day[change] == (23 if change.month == 3 else 24)
    assert per_day[change - timedelta(days=1)] == per_day[change + timedelta(days=1)] == 24


def test_every_six_hours_from_the_chosen_time():
    schedule = Schedule(ScheduleKind.every_n_hours, 2 * 60 + 15, 6, 0, LONDON)
    fired = local(runs_between(schedule, datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 6, tzinfo=UTC)), LONDON)
    assert [m.strftime("%H:%M") for m in fired] == ["02:15", "08:15", "14:15", "20:15"]


def test_weekdays_skips_the_weekend():
    schedule = Schedule(ScheduleKind.weekdays, 6 * 60, None, 0, LONDON)
    fired = local(runs_between(schedule, datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 19, tzinfo=UTC)),
                  LONDON)
    assert [m.strftime("%a") for m in fired] == ["Mon", "Tue", "Wed", "Thu", "Fri"] * 2


def test_the_offset_spreads_a_wave_and_stays_with_its_night():
    a, b = daily(2 * 60, LONDON, offset=0), daily(2 * 60, LONDON, offset=1234)
    after = datetime(2026, 1, 5, 12, tzinfo=UTC)
    assert b.next_after(after) - a.next_after(after) == timedelta(seconds=1234)
    # A late time whose offset carries it past midnight is still that evening's run, found from just before it.
    late = daily(23 * 60 + 50, LONDON, offset=20 * 60)
    assert late.next_after(datetime(2026, 1, 6, 0, 5, tzinfo=UTC)) == datetime(2026, 1, 6, 0, 10, tzinfo=UTC)
    assert late.last_at_or_before(datetime(2026, 1, 6, 3, tzinfo=UTC)) == datetime(2026, 1, 6, 0, 10, tzinfo=UTC)


def test_the_first_fire_time_may_be_now_and_later_ones_come_strictly_after():
    schedule = daily(2 * 60, "UTC")
    at_two = datetime(2026, 1, 5, 2, tzinfo=UTC)
    trigger = ScheduleTrigger(schedule)
    assert trigger.get_next_fire_time(None, at_two) == at_two
    assert trigger.get_next_fire_time(at_two, at_two) == at_two + timedelta(days=1)


def test_equal_schedules_make_equal_triggers():
    assert ScheduleTrigger(daily(120, LONDON, 5)) == ScheduleTrigger(daily(120, LONDON, 5))
    assert ScheduleTrigger(daily(120, LONDON, 5)) != ScheduleTrigger(daily(121, LONDON, 5))
