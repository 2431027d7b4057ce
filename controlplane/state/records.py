"""What the control loop remembers between passes, as typed records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from controlplane.aws.capacity import CapacityLedger
from controlplane.fields import UtcTime
from controlplane.model import Floor, PoolHistory
from controlplane.state.durations import DurationStats

DrainPhase = Literal["deactivating", "deactivated", "terminating"]


@dataclass(frozen=True)
class Lease:
    """Leadership until `expires_at`; `token` grows with every change of holder (fencing)."""

    holder: str
    token: int
    expires_at: datetime

    def valid(self, now: datetime, margin_s: float = 0.0) -> bool:
        """Still ours with `margin_s` to spare (a pass must finish a step before expiry)."""
        return now + timedelta(seconds=margin_s) < self.expires_at


class DrainIntent(BaseModel):
    """A scale-down in progress: which agent, which instance, how far it has gone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agent_id: str = Field(min_length=1)
    instance_id: str | None
    asg: str | None
    pool: str
    zone: str
    reason: str
    phase: DrainPhase
    created_at: UtcTime
    updated_at: UtcTime
    #: Fencing token of the leader that wrote it.
    token: int = Field(ge=0)
    #: A consolidation cordon: the agent is deactivated with tasks running and waits for
    #: them to end (not given back because it is busy); a plan may give it back.
    cordon: bool = False
    #: Cordoned because AWS is taking the instance back (a Spot interruption, a rebalance
    #: recommendation, a scheduled change): never given back.
    interrupted: bool = False
    #: AWS takes the instance (a Spot warning): the framework's tasks on it are relaunched
    #: elsewhere every pass until it is gone (a launch that raced the warning included).
    reclaim: bool = False


class ScheduledFloor(BaseModel):
    """A pool's floor as the scheduler last set it. The scheduler owns it; the loop reads it.

    `until` is the end of the window that set it: past it the loop ignores the floor, so a
    schedule that fails to fire at the end of a window cannot hold capacity forever.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    instances: int = Field(ge=0)
    source: str = Field(min_length=1)
    until: UtcTime
    set_at: UtcTime

    def holds(self, now: datetime) -> bool:
        return now < self.until


@dataclass(frozen=True)
class InstanceMemory:
    """What the registration deadline remembers of the groups' instances between passes.

    `unregistered`: instance id -> first seen in its group without a Mesos agent.
    `registered`: present instances that have had an agent (now or before): one of them
    without an agent now was forgotten by Mesos, not still booting.
    `warned`: instance id -> when AWS warned it would reclaim it (Spot), for instances that
    had no agent then: their agent is cordoned and emptied the moment it registers.
    """

    unregistered: Mapping[str, datetime] = field(default_factory=dict)
    registered: frozenset[str] = frozenset()
    warned: Mapping[str, datetime] = field(default_factory=dict)


@dataclass(frozen=True)
class ControlState:
    """Everything stored for one cluster, as one consistent read."""

    history: dict[str, PoolHistory] = field(default_factory=dict)
    intents: dict[str, DrainIntent] = field(default_factory=dict)
    ledger: CapacityLedger = field(default_factory=CapacityLedger)
    idle_since: dict[str, datetime] = field(default_factory=dict)
    framework_id: str | None = None
    #: pool -> the scheduler's floor (possibly past its `until`).
    floors: dict[str, ScheduledFloor] = field(default_factory=dict)
    instances: InstanceMemory = field(default_factory=InstanceMemory)
    durations: DurationStats = field(default_factory=DurationStats)

    def floors_at(self, now: datetime) -> dict[str, Floor]:
        """The floors in force at `now`, as the planner takes them (source says until when)."""
        return {
            pool: Floor(
                instances=f.instances,
                source=f"{f.source}, until {f.until.strftime('%Y-%m-%dT%H:%M:%SZ')}",
            )
            for pool, f in sorted(self.floors.items())
            if f.holds(now)
        }


@dataclass(frozen=True)
class StateChanges:
    """One fenced commit: upserts, deletions and replacements; empty makes no call."""

    history: Mapping[str, PoolHistory] = field(default_factory=dict)
    put_intents: Sequence[DrainIntent] = ()
    delete_intents: Sequence[str] = ()
    ledger: CapacityLedger | None = None
    idle_since: Mapping[str, datetime] | None = None
    instances: InstanceMemory | None = None
    durations: DurationStats | None = None

    def empty(self) -> bool:
        return not (
            self.history
            or self.put_intents
            or self.delete_intents
            or self.ledger is not None
            or self.idle_since is not None
            or self.instances is not None
            or self.durations is not None
        )
