"""Capacity failure: notice a zone that does not deliver, back it off, take back desired.

Between passes the adapter must remember when it raised a group and which zones are backed
off. That memory is `CapacityLedger`, a small serialisable record the reconcile pass keeps
in the state table.
Functions here are pure: they take `now`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from controlplane.aws.pool_rules import AdapterSettings
from controlplane.aws.replies import ObservedGroup
from controlplane.fields import UtcTime


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PendingRaise(_Record):
    """A group whose desired capacity we raised and that has not delivered yet."""

    raised_at: UtcTime
    from_desired: int = Field(ge=0)
    to_desired: int = Field(ge=0)


class ZoneBackoff(_Record):
    """A group (its zone, for its instance type) that failed to deliver recently."""

    until: UtcTime
    failures: int = Field(ge=1)
    reason: str


class CapacityLedger(_Record):
    """Everything capacity tracking remembers between passes, keyed by group name."""

    raises: dict[str, PendingRaise] = Field(default_factory=dict)
    backoffs: dict[str, ZoneBackoff] = Field(default_factory=dict)

    def unavailable_until(self, asg: str, now: datetime) -> datetime | None:
        """The end of the group's back-off, or None when it may scale up now."""
        backoff = self.backoffs.get(asg)
        return backoff.until if backoff is not None and backoff.until > now else None


@dataclass(frozen=True)
class Takeback:
    """Undelivered desired capacity to give back: set the group's desired to `desired`."""

    asg: str
    desired: int
    undelivered: int
    reason: str


def record_raise(
    ledger: CapacityLedger, asg: str, from_desired: int, to_desired: int, now: datetime
) -> CapacityLedger:
    """Remember a raise; an earlier undelivered raise keeps its start (the deadline runs on)."""
    earlier = ledger.raises.get(asg)
    entry = PendingRaise(
        raised_at=earlier.raised_at if earlier else now,
        from_desired=earlier.from_desired if earlier else from_desired,
        to_desired=to_desired,
    )
    return ledger.model_copy(update={"raises": {**ledger.raises, asg: entry}})


def assess_delivery(
    ledger: CapacityLedger,
    groups: Mapping[str, ObservedGroup],
    failures: Mapping[str, str],
    settings: AdapterSettings,
    now: datetime,
) -> tuple[CapacityLedger, list[Takeback]]:
    """Settle every pending raise: delivered, still in time, or failed (back off, take back).

    `failures` maps a group to the message of a failed scaling activity since its raise
    (InsufficientInstanceCapacity and the like): that fails the raise before the deadline.
    Delivered counts every instance present and not leaving, so a takeback never makes the
    group terminate an instance that exists.
    """
    raises = dict(ledger.raises)
    for asg, observed in sorted(groups.items()):
        if asg not in raises and observed.present < observed.desired:
            # Raised but not recorded (a pass that failed after its write, another tool):
            # the deadline runs from now.
            raises[asg] = PendingRaise(
                raised_at=now, from_desired=observed.present, to_desired=observed.desired
            )
    # Back-offs of groups that no longer exist are forgotten once they expire.
    backoffs = {asg: b for asg, b in ledger.backoffs.items() if asg in groups or b.until > now}
    takebacks: list[Takeback] = []
    deadline = timedelta(seconds=settings.launch_deadline_s)
    for asg, pending in sorted(raises.items()):
        group = groups.get(asg)
        if group is None:
            del raises[asg]  # the group is gone; nothing to wait for
            continue
        delivered = group.present
        if delivered >= group.desired:
            del raises[asg]
            old = backoffs.get(asg)
            if old is not None and old.until <= now:
                del backoffs[asg]  # delivered after its back-off: the zone is healthy again
            continue
        failure = failures.get(asg)
        if failure is None and now - pending.raised_at < deadline:
            continue
        undelivered = group.desired - delivered
        reason = failure or (
            f"{undelivered} of {group.desired} instances not delivered "
            f"{(now - pending.raised_at).total_seconds():.0f}s after the raise"
        )
        count = backoffs[asg].failures + 1 if asg in backoffs else 1
        pause = min(settings.backoff_s * 2 ** (count - 1), settings.max_backoff_s)
        backoffs[asg] = ZoneBackoff(
            until=now + timedelta(seconds=pause), failures=count, reason=reason
        )
        del raises[asg]
        target = max(group.min, delivered)
        if target < group.desired:
            takebacks.append(
                Takeback(
                    asg=asg,
                    desired=target,
                    undelivered=group.desired - target,
                    reason=f"zone {group.zone} backed off {pause:.0f}s: {reason}",
                )
            )
    return CapacityLedger(raises=raises, backoffs=backoffs), takebacks


def back_off(
    ledger: CapacityLedger, asg: str, reason: str, settings: AdapterSettings, now: datetime
) -> CapacityLedger:
    """`ledger` with the group's zone backed off (doubling per failure, up to the max)."""
    old = ledger.backoffs.get(asg)
    count = old.failures + 1 if old is not None else 1
    pause = min(settings.backoff_s * 2 ** (count - 1), settings.max_backoff_s)
    entry = ZoneBackoff(until=now + timedelta(seconds=pause), failures=count, reason=reason)
    return ledger.model_copy(update={"backoffs": {**ledger.backoffs, asg: entry}})


#: Words in a scaling activity that mean the zone has no capacity for the instance type.
CAPACITY_WORDS = ("InsufficientInstanceCapacity", "InsufficientCapacity", "insufficient capacity")


def activity_failure(activities: list[Mapping[str, object]], since: datetime) -> str | None:
    """The message of the first failed launch activity started at or after `since`."""
    for activity in activities:
        started = activity.get("StartTime")
        if isinstance(started, datetime) and started < since:
            continue
        status = str(activity.get("StatusCode", ""))
        message = str(activity.get("StatusMessage", "") or activity.get("Description", ""))
        launching = "Launching" in str(activity.get("Description", ""))
        if status in {"Failed", "Cancelled"} or (
            launching and any(w in message for w in CAPACITY_WORDS)
        ):
            return f"scaling activity {status}: {message}".strip()
    return None
