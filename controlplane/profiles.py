"""Time-based pool profiles: "weekdays 08:00-20:00 Europe/Berlin keep at least 10 in batch".

A profile is either a weekly window in a timezone (`days`, `start`, `end`; an end at or before
the start crosses midnight) or a cron expression in a timezone with a duration. Which
profiles are active is a pure function of the instant, so every invocation of the scheduler
recomputes the whole answer: a missed or repeated EventBridge event heals itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
#: A cron profile's latest start is searched this many fire times back at most.
_MAX_FIRES = 10_000


@dataclass(frozen=True)
class Active:
    """One profile in force: since when and until when (UTC)."""

    profile: Profile
    since: datetime
    until: datetime


class Profile(BaseModel):
    """A floor for one pool while a recurring window is open."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    pool: str = Field(min_length=1)
    min_instances: int = Field(ge=0)
    timezone: str = "UTC"
    days: tuple[Day, ...] = DAYS
    start: str | None = None
    end: str | None = None
    cron: str | None = None
    duration_s: float | None = Field(default=None, gt=0, le=7 * 86400)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            known = "an IANA name like Europe/Berlin"
            raise ValueError(f"unknown timezone {value!r} ({known})") from None
        return value

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str | None) -> str | None:
        if value is not None and not _CLOCK.match(value):
            raise ValueError(f"{value!r} is not a time of day HH:MM (00:00-23:59)")
        return value

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        window = self.start is not None or self.end is not None
        cron = self.cron is not None or self.duration_s is not None
        if window == cron:
            raise ValueError(
                f"profile {self.name}: give either start and end (a weekly window) or cron "
                "and duration_s, not both and not neither"
            )
        if window and (self.start is None or self.end is None):
            raise ValueError(f"profile {self.name}: a window needs both start and end")
        if cron and (self.cron is None or self.duration_s is None):
            raise ValueError(f"profile {self.name}: a cron profile needs both cron and duration_s")
        if not self.days:
            raise ValueError(f"profile {self.name}: days is empty")
        if self.cron is not None and set(self.days) != set(DAYS):
            raise ValueError(f"profile {self.name}: days is for windows; a cron names its days")
        if self.cron is not None:
            self.trigger()  # raises ValueError naming the bad field
        return self

    def trigger(self) -> CronTrigger:
        assert self.cron is not None
        try:
            return CronTrigger.from_crontab(self.cron, timezone=ZoneInfo(self.timezone))
        except ValueError as error:
            raise ValueError(f"profile {self.name}: cron {self.cron!r}: {error}") from None

    def describe(self) -> str:
        """For reasons and logs: "profile business-hours (mon-fri 08:00-20:00 Europe/Berlin)"."""
        if self.cron is not None:
            when = f"cron '{self.cron}' for {self.duration_s:g}s"
        else:
            when = f"{','.join(self.days)} {self.start}-{self.end}"
        return f"profile {self.name} ({when} {self.timezone})"

    def active(self, now: datetime) -> Active | None:
        """The occurrence of this profile that covers `now` (aware), or None."""
        if self.cron is not None:
            return self._active_cron(now)
        return self._active_window(now)

    def _active_window(self, now: datetime) -> Active | None:
        zone = ZoneInfo(self.timezone)
        assert self.start is not None and self.end is not None
        start, end = time.fromisoformat(self.start), time.fromisoformat(self.end)
        local = now.astimezone(zone)
        # The window that began today, or yesterday (one that crosses midnight).
        for back in (0, 1):
            day = local.date() - timedelta(days=back)
            if DAYS[day.weekday()] not in self.days:
                continue
            opened = datetime.combine(day, start, tzinfo=zone)
            closes_on = day if end > start else day + timedelta(days=1)
            closed = datetime.combine(closes_on, end, tzinfo=zone)
            if opened <= now < closed:
                return Active(self, opened.astimezone(now.tzinfo), closed.astimezone(now.tzinfo))
        return None

    def _active_cron(self, now: datetime) -> Active | None:
        assert self.duration_s is not None
        trigger = self.trigger()
        span = timedelta(seconds=self.duration_s)
        fire = trigger.get_next_fire_time(None, now - span + timedelta(microseconds=1))
        latest = None
        for _ in range(_MAX_FIRES):
            if fire is None or fire > now:
                break
            latest = fire
            fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
        if latest is None:
            return None
        return Active(self, latest.astimezone(now.tzinfo), (latest + span).astimezone(now.tzinfo))


@dataclass(frozen=True)
class PoolFloor:
    """What the scheduler decides for one pool at one instant."""

    pool: str
    instances: int
    #: The profiles setting it (the largest minimum wins), and when the decision may change.
    source: str
    until: datetime


def floors_at(profiles: tuple[Profile, ...] | list[Profile], now: datetime) -> dict[str, PoolFloor]:
    """pool -> its floor at `now`: the largest min_instances of the active profiles.

    `until` is the earliest end among the pool's active profiles: the floor is recomputed
    then at the latest (the scheduler fires at every window end).
    """
    if now.tzinfo is None:
        raise ValueError("floors_at needs an aware datetime")
    by_pool: dict[str, list[Active]] = {}
    for profile in profiles:
        active = profile.active(now)
        if active is not None:
            by_pool.setdefault(profile.pool, []).append(active)
    out = {}
    for pool, actives in sorted(by_pool.items()):
        top = max(a.profile.min_instances for a in actives)
        winners = sorted(a.profile.describe() for a in actives if a.profile.min_instances == top)
        out[pool] = PoolFloor(
            pool=pool,
            instances=top,
            source="; ".join(winners),
            until=min(a.until for a in actives),
        )
    return out
