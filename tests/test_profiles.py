"""Schedule profiles: which floor is in force at an instant, across zones, midnight and DST."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from controlplane.profiles import DAYS, Profile, floors_at
from controlplane.state.records import ControlState, ScheduledFloor
from tests.support.contract_replay import PROPERTY


def profile(**fields: Any) -> Profile:
    base: dict[str, Any] = {"name": "p", "pool": "batch", "min_instances": 4}
    return Profile.model_validate({**base, **fields})


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_a_weekday_window_in_a_timezone() -> None:
    weekdays = ["mon", "tue", "wed", "thu", "fri"]
    p = profile(timezone="Europe/Berlin", days=weekdays, start="08:00", end="20:00")
    assert p.active(at("2026-11-24T06:59:59+00:00")) is None
    active = p.active(at("2026-11-24T07:00:00+00:00"))
    assert active is not None and active.until == at("2026-11-24T19:00:00+00:00")
    assert p.active(at("2026-11-24T19:00:00+00:00")) is None
    assert p.active(at("2026-11-28T12:00:00+00:00")) is None  # a Saturday


def test_a_window_across_midnight_belongs_to_the_day_it_opened() -> None:
    p = profile(timezone="UTC", days=["fri"], start="22:00", end="06:00")
    friday_night = p.active(at("2026-11-28T02:00:00+00:00"))  # Saturday 02:00
    assert friday_night is not None and friday_night.since == at("2026-11-27T22:00:00+00:00")
    assert p.active(at("2026-11-29T02:00:00+00:00")) is None  # Sunday: Saturday has none


def test_a_window_keeps_local_time_across_a_dst_change() -> None:
    p = profile(timezone="America/New_York", start="08:00", end="09:00")
    assert p.active(at("2026-03-06T13:30:00+00:00")) is not None  # EST: 08:30
    assert p.active(at("2026-03-09T12:30:00+00:00")) is not None  # EDT: 08:30
    assert p.active(at("2026-03-09T13:30:00+00:00")) is None


def test_a_cron_profile_lasts_its_duration_from_the_latest_fire() -> None:
    p = profile(cron="30 1 * * 1-5", duration_s=7200, timezone="Asia/Tokyo")
    active = p.active(at("2026-11-24T02:00:00+09:00"))
    assert active is not None and active.until == at("2026-11-24T03:30:00+09:00")
    assert p.active(at("2026-11-24T03:30:00+09:00")) is None
    assert p.active(at("2026-11-29T02:00:00+09:00")) is None  # Sunday


def test_the_largest_minimum_wins_and_the_earliest_end_bounds_it() -> None:
    profiles = [
        profile(name="day", min_instances=10, start="08:00", end="20:00"),
        profile(name="lunch", min_instances=10, start="12:00", end="13:00"),
        profile(name="base", min_instances=2, start="00:00", end="00:00"),
        profile(name="gpu", pool="gpu", min_instances=1, start="12:00", end="14:00"),
    ]
    floors = floors_at(profiles, at("2026-11-24T12:30:00+00:00"))
    assert floors["batch"].instances == 10
    assert floors["batch"].source.startswith("profile day (") and "profile lunch (" in (
        floors["batch"].source
    )
    assert floors["batch"].until == at("2026-11-24T13:00:00+00:00")
    assert floors["gpu"].instances == 1
    assert floors_at(profiles, at("2026-11-24T21:00:00+00:00"))["batch"].instances == 2


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"start": "8:00", "end": "20:00"}, "not a time of day"),
        ({"start": "08:00", "end": "24:00"}, "not a time of day"),
        ({"start": "08:00"}, "needs both start and end"),
        ({}, "either start and end"),
        ({"start": "08:00", "end": "09:00", "cron": "0 8 * * *", "duration_s": 60}, "not both"),
        ({"cron": "0 8 * * *"}, "needs both cron and duration_s"),
        ({"cron": "61 8 * * *", "duration_s": 60}, "cron '61 8 \\* \\* \\*'"),
        ({"cron": "0 8 * * *", "duration_s": 60, "days": ["mon"]}, "a cron names its days"),
        ({"start": "08:00", "end": "09:00", "timezone": "Mars/Olympus"}, "unknown timezone"),
        ({"start": "08:00", "end": "09:00", "days": ["monday"]}, "days"),
        ({"start": "08:00", "end": "09:00", "min_instances": -1}, "min_instances"),
    ],
)
def test_bad_profiles_are_refused_naming_the_problem(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        profile(**fields)


def test_the_loop_ignores_a_floor_past_its_until() -> None:
    until = at("2026-11-24T19:00:00+00:00")
    stored = ScheduledFloor(instances=5, source="profile x", until=until, set_at=until)
    state = ControlState(floors={"batch": stored})
    assert state.floors_at(until - timedelta(seconds=1))["batch"].instances == 5
    assert state.floors_at(until) == {}


clocks = st.times().map(lambda t: t.replace(second=0, microsecond=0))


@PROPERTY
@given(
    instant=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
    ),
    zone=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney"]),
    start=clocks,
    end=clocks,
    days=st.sets(st.sampled_from(DAYS), min_size=1),
)
def test_a_window_is_active_exactly_when_local_time_is_inside_it_on_a_listed_day(
    instant: datetime, zone: str, start: time, end: time, days: set[str]
) -> None:
    p = profile(
        timezone=zone,
        start=start.strftime("%H:%M"),
        end=end.strftime("%H:%M"),
        days=sorted(days, key=DAYS.index),
    )
    local = instant.astimezone(ZoneInfo(zone))
    clock = local.time().replace(tzinfo=None)
    today = DAYS[local.weekday()] in days
    yesterday = DAYS[(local.weekday() - 1) % 7] in days
    if start < end:
        expected = today and start <= clock < end
    else:  # crosses midnight (start == end: a whole day from start)
        expected = (today and clock >= start) or (yesterday and clock < end)
    active = p.active(instant)
    # Around a DST change local wall time skips or repeats an hour; only check elsewhere.
    offsets = {
        (instant + timedelta(hours=h)).astimezone(ZoneInfo(zone)).utcoffset() for h in (-26, 26)
    }
    if len(offsets) == 1:
        assert (active is not None) == expected, (local, p.describe())
    if active is not None:
        assert active.since <= instant < active.until
