"""Where a pool may grow: per zone group, headroom, availability, cooldown, zone choice.

The planner opens hypothetical instances through this one object so that every new
instance respects group bounds, unavailable zones and the scale-up cooldown, and lands in
the pool's least-populated zone (zone balance, contract rule 5).
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import attrgetter

from controlplane.model import Group, Pool, Snapshot
from controlplane.numbers import num


def timestamp(t: datetime) -> str:
    """RFC 3339 in UTC, with the fraction of a second when there is one (reasons are exact)."""
    fraction = f".{t.microsecond:06d}".rstrip("0") if t.microsecond else ""
    return t.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


@dataclass
class GroupState:
    """One zone group during planning: its size now and what this plan adds."""

    group: Group
    registered: int
    available: bool
    new: int = 0
    removed: int = 0
    #: Launching instances given a candidate row (the rest can hold no task of this plan).
    rows: int = 0

    @property
    def launching(self) -> int:
        """Instances the group has launched that have not registered as agents."""
        return max(0, self.group.desired - self.registered)

    @property
    def unrowed(self) -> int:
        """Launching instances in an available zone left without a row: empty by design."""
        return self.launching - self.rows if self.available else 0

    @property
    def shrinking(self) -> bool:
        """More agents registered than desired: the group is already terminating some."""
        return self.registered > self.group.desired

    @property
    def size(self) -> int:
        """Instances in the group once this plan is carried out."""
        return self.group.desired + self.new - self.removed

    @property
    def headroom(self) -> int:
        return max(0, self.group.max - self.group.desired - self.new)


@dataclass
class PoolGrowth:
    """The growth state of one pool's zone groups."""

    pool: Pool
    groups: dict[str, GroupState]
    cooldown_until: datetime | None
    last_scale_up: datetime | None
    shortfall_tasks: dict[str, int] = field(default_factory=dict)

    def zones(self) -> list[str]:
        return sorted(self.groups)

    def openable(self) -> list[str]:
        """Zones where one more instance may be launched now."""
        if self.cooldown_until is not None:
            return []
        return [z for z in self.zones() if self.groups[z].available and self.groups[z].headroom]

    def choose_zone(
        self, allowed: list[str], preferred: dict[str, int] | None = None
    ) -> str | None:
        """The allowed zone whose group will be smallest.

        Between equally small zones, the one meeting more soft preferences (`preferred`:
        zone -> points), then the zone name. Preferences never unbalance the pool.
        """
        if not allowed:
            return None
        prefs = preferred or {}
        return min(allowed, key=lambda z: (self.groups[z].size, -prefs.get(z, 0), z))

    def zone_sequence(self, count: int) -> list[str]:
        """The zones `count` successive `open(choose_zone(openable()))` calls would pick,
        without opening anything (a heap, not a scan of the zones per instance)."""
        heap = [(self.groups[z].size, z, self.groups[z].headroom) for z in self.openable()]
        heapq.heapify(heap)
        out: list[str] = []
        while heap and len(out) < count:
            size, zone, room = heapq.heappop(heap)
            out.append(zone)
            if room > 1:
                heapq.heappush(heap, (size + 1, zone, room - 1))
        return out

    def open(self, zone: str) -> int:
        """Count one new instance in `zone`; returns its contract index."""
        state = self.groups[zone]
        index = state.launching + state.new
        state.new += 1
        return index

    def open_balanced(self, count: int) -> dict[str, int]:
        """Open up to `count` instances, each in the then-smallest openable zone (ties by name).

        The same as `count` calls of `open(choose_zone(openable()))`, computed by water level
        so that a large buffer costs O(zones log size), not a step per instance.
        """
        zones = self.openable()
        if count <= 0 or not zones:
            return {}
        size = {z: self.groups[z].size for z in zones}
        cap = {z: size[z] + self.groups[z].headroom for z in zones}

        def added(level: int) -> int:
            return sum(max(0, min(level, cap[z]) - size[z]) for z in zones)

        lo, hi = min(size.values()), max(cap.values())
        while lo < hi:  # the highest level all zones can be raised to with `count`
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if added(mid) <= count else (lo, mid - 1)
        out = {z: max(0, min(lo, cap[z]) - size[z]) for z in zones}
        rest = count - sum(out.values())
        for z in sorted(z for z in zones if size[z] <= lo < cap[z])[:rest]:
            out[z] += 1
        for z, k in out.items():
            self.groups[z].new += k
        return {z: k for z, k in out.items() if k}

    def blocked(self) -> str:
        """Why no zone of this pool can take a new instance (for reasons)."""
        if self.cooldown_until is not None and self.last_scale_up is not None:
            cool = self.pool.scale_up_cooldown_s
            return (
                f"pool {self.pool.name}: scale-up cooldown until {timestamp(self.cooldown_until)} "
                f"(last scale-up {timestamp(self.last_scale_up)}, cooldown {num(cool)}s)"
            )
        if not self.groups:
            return f"pool {self.pool.name}: has no groups"
        parts = []
        for zone in self.zones():
            g = self.groups[zone]
            if not g.available:
                until = g.group.unavailable_until
                assert until is not None
                parts.append(f"{zone} unavailable until {timestamp(until)}")
            elif not g.headroom:
                parts.append(f"{zone} at max {g.group.max}")
        return f"pool {self.pool.name}: no zone can grow ({', '.join(parts)})"


def growth_state(snapshot: Snapshot) -> list[PoolGrowth]:
    """Growth state for every pool, in snapshot pool order."""
    registered = Counter(map(attrgetter("asg"), snapshot.agents))
    out = []
    for pool in snapshot.pools:
        hist = snapshot.history.get(pool.name)
        last_up = hist.last_scale_up if hist else None
        cooldown_until = None
        if last_up is not None:
            end = last_up + timedelta(seconds=pool.scale_up_cooldown_s)
            if snapshot.now < end:
                cooldown_until = end
        groups = {
            g.zone: GroupState(
                group=g,
                registered=registered.get(g.asg, 0),
                available=g.unavailable_until is None or g.unavailable_until <= snapshot.now,
            )
            for g in pool.groups
        }
        out.append(PoolGrowth(pool, groups, cooldown_until, last_up))
    return out
