"""The events the scheduled-scaling Lambda accepts, checked before anything is done.

EventBridge rules deliver `{"source": "aws.events", "detail-type": "Scheduled Event", ...}`;
EventBridge Scheduler delivers the target input it was given (our Terraform sends
`{"source": "controlplane.schedule", "profile": NAME, "edge": "start"|"end"|"check"}`);
an operator may invoke by hand with `{}`. Anything else is refused with the reason: a
handler that guesses what an event meant may set capacity on a misunderstanding.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


class EventError(ValueError):
    """An event this handler does not understand; nothing was done."""


@dataclass(frozen=True)
class Trigger:
    """Why the handler runs: which source, which rule or profile, the scheduled time."""

    source: str
    name: str | None
    scheduled: datetime | None


def parse_event(event: Any) -> Trigger:
    if not isinstance(event, dict):
        raise EventError(f"event: expected a JSON object, got {type(event).__name__}")
    if not event:
        return Trigger("manual", None, None)
    source = event.get("source")
    if source == "aws.events":
        kind = event.get("detail-type")
        if kind != "Scheduled Event":
            raise EventError(f"event: detail-type {kind!r} is not 'Scheduled Event'")
        resources = event.get("resources")
        if not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
            raise EventError("event: resources must be a list of rule ARNs")
        rule = resources[0].rsplit("/", 1)[-1] if resources else None
        return Trigger("aws.events", rule, _time(event.get("time")))
    if source == "controlplane.schedule":
        extra = sorted(set(event) - {"source", "profile", "edge", "time"})
        if extra:
            raise EventError(f"event: unknown field {extra[0]!r}")
        profile = event.get("profile")
        if profile is not None and not isinstance(profile, str):
            raise EventError("event: profile must be a string")
        edge = event.get("edge", "check")
        if edge not in ("start", "end", "check"):
            raise EventError(f"event: edge {edge!r} is not start, end or check")
        name = f"{profile}:{edge}" if profile else edge
        return Trigger(source, name, _time(event.get("time")))
    raise EventError(
        f"event: source {source!r} is not aws.events or controlplane.schedule (or {{}} by hand)"
    )


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise EventError("event: time must be an RFC 3339 string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise EventError(f"event: time {value!r} is not RFC 3339") from None
    if parsed.tzinfo is None:
        raise EventError(f"event: time {value!r} has no timezone")
    return parsed.astimezone(UTC)
