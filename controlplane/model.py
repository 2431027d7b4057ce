"""Domain types: the snapshot and plan of contract v1 (`docs/contract.md`).

Input models forbid unknown fields (a typo in capacity config must not pass silently) and
check cross-references (an agent's pool and group exist, ids are unique) so the planner only
ever sees data it fully understands.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from controlplane.fields import (
    MAX_SECONDS,
    Attributes,
    AttrValue,
    Count,
    Name,
    NonNegFloat,
    Resources,
    Seconds,
    UtcTime,
    Version,
)
from controlplane.numbers import num

#: Well-known resource names, in the order the planner lays them out; others follow sorted.
KNOWN_RESOURCES: tuple[str, ...] = ("cpus", "mem", "disk", "network", "gpus", "ports")
#: Attribute names every agent and every pool instance carries implicitly.
BUILTIN_ATTRIBUTES: tuple[str, ...] = ("zone", "pool", "hostname", "instance_type")
#: The attribute saying whether an agent (or a pool's new instance) is `spot` or `on-demand`.
LIFECYCLE = "lifecycle"


#: Lifecycle of an agent as Mesos reports it (draining and drained agents take no tasks).
AgentState = Literal["active", "draining", "drained"]

#: Fitness functions a pool may choose (Fenzo's names in spirit).
Fitness = Literal["binpack", "binpack_cpu", "binpack_mem", "binpack_network", "spread"]


class Strict(BaseModel):
    """Base for every contract model: unknown fields are errors, instances are immutable.

    Strict types: `true` is not a number, `"5"` is not an integer, `"no"` is not a boolean.
    A snapshot drives real instances; guessing what a value meant is not our job.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Group(Strict):
    """One Auto Scaling group: the pool's instances in one zone."""

    asg: Name
    zone: Name
    min: Count
    max: Count
    desired: Count
    unavailable_until: UtcTime | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Group:
        if self.min > self.max:
            raise ValueError(f"group {self.asg}: min {self.min} exceeds max {self.max}")
        return self


class Floor(Strict):
    """A minimum instance count for a whole pool that someone else owns (a schedule profile).

    The planner raises the pool to it (balanced over zones) and never drains below it; it
    never forces a busy agent out, so lowering a floor only lets idle agents go.
    """

    instances: Count
    #: Who set it and why, quoted in reasons: e.g. "profile business-hours (Mon 08:00-20:00)".
    source: str = Field(min_length=1)


class Pool(Strict):
    """A family of identical agents spread over zones, with its scaling rules."""

    name: Name
    instance_type: Name
    capacity: Resources
    hourly_price: NonNegFloat | None = None
    min_idle: Count = 0
    max_idle: Count = 0
    idle_grace_s: Seconds = 600.0
    scale_up_cooldown_s: Seconds = 60.0
    scale_down_cooldown_s: Seconds = 300.0
    fitness: Fitness = "binpack"
    attributes: Attributes = Field(default_factory=dict)
    groups: list[Group]
    floor: Floor | None = None
    #: Agents the pool may start draining in one plan, at most: a count, and a share of the
    #: pool's instances (at least one either way). None: no cap.
    max_drains_per_pass: Count | None = None
    max_drain_share: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] | None = None
    #: Resources this pool keeps for the tasks that ask for them: where its instances have
    #: one, a task that asks for none of them neither opens an instance here nor (unless
    #: `shares_scarce`) lands on its agents.
    scarce: list[Name] = Field(default_factory=lambda: ["gpus"])
    shares_scarce: bool = False
    #: The operators' pool this one is a part of, when that pool holds groups of several
    #: instance types (one planner pool per type): a task naming the family may use any of
    #: its pools, the cheapest that fits first, and the attribute `pool` is the family.
    family: Name | None = None
    #: Consolidation: cordon (deactivate) under-used agents whose running work fits on the
    #: rest of the pool, so they empty as their tasks end and leave (docs/decisions.md
    #: section 22). `consolidate_below`: an agent using less than this share of every
    #: resource is a candidate; at most `max_cordon_share` of the pool is cordoned at once.
    consolidate: bool = False
    #: Seconds from a launch to a registered agent (the loop measures it);
    #: None: unknown, and no pending task waits for an agent about to empty.
    boot_s: Seconds | None = None
    consolidate_below: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 0.5
    max_cordon_share: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 0.25
    #: Relocation (the loop, not the plan): a cordoned agent still busy this long after its
    #: cordon has its restartable tasks killed and run again on the rest of the pool, at
    #: most `max_relocations_per_hour` tasks of the pool an hour. None: never.
    relocate_after_s: Seconds | None = None
    max_relocations_per_hour: Count = 0
    #: The idle grace as a multiple of the measured boot time, where that is shorter than
    #: `idle_grace_s` (1: keep an idle agent no longer than a new one takes to boot, the
    #: ski-rental break-even). None, or no boot time measured: `idle_grace_s`.
    idle_grace_boots: Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)] | None = None
    #: A pending task may wait this much longer than `boot_s` for room that frees on an
    #: existing agent instead of opening an instance (0: only room freeing before a boot).
    queue_for_room_s: Seconds = 0.0
    #: Tasks that say nothing of `lifecycle` may run on this pool's Spot agents and new
    #: instances that may be Spot; false: only tasks with a `lifecycle` constraint may.
    spot_by_default: bool = True

    @property
    def wait_horizon_s(self) -> float | None:
        """How far ahead a pending task may wait for room freeing (None: boot unknown)."""
        return None if self.boot_s is None else self.boot_s + self.queue_for_room_s

    @property
    def grace_s(self) -> float:
        """How long an agent must be idle before it may be drained (see `idle_grace_boots`)."""
        if self.idle_grace_boots is None or self.boot_s is None:
            return self.idle_grace_s
        return min(self.idle_grace_s, self.idle_grace_boots * self.boot_s)

    def named(self, name: str) -> bool:
        """A task naming `name` may use this pool: its own name, or its family's."""
        return name in (self.name, self.family)

    @property
    def pool_attribute(self) -> str:
        """What constraints on `pool` see on this pool's agents: the family, else the name."""
        return self.family or self.name

    @model_validator(mode="after")
    def _rules(self) -> Pool:
        if self.min_idle > self.max_idle:
            raise ValueError(
                f"pool {self.name}: min_idle {self.min_idle} exceeds max_idle {self.max_idle}"
            )
        if not any(v > 0 for v in self.capacity.values()):
            raise ValueError(f"pool {self.name}: capacity must have at least one positive resource")
        zones = [g.zone for g in self.groups]
        dup = sorted({z for z in zones if zones.count(z) > 1})
        if dup:
            raise ValueError(f"pool {self.name}: more than one group in zone {dup[0]}")
        return self


class Release(Strict):
    """Running work expected to end: what it gives back, and when."""

    at: UtcTime
    resources: Resources


class Agent(Strict):
    """A registered Mesos agent and what it runs."""

    id: Name
    hostname: str = ""
    instance_id: str | None = None
    pool: Name
    asg: str | None = None
    zone: Name
    total: Resources
    used: Resources = Field(default_factory=dict)
    tasks: Count | None = None
    jobs: dict[str, Count] = Field(default_factory=dict)
    state: AgentState = "active"
    idle_since: UtcTime | None = None
    attributes: Attributes = Field(default_factory=dict)
    #: The agent, or a task on it, is marked do-not-disrupt: no drain ever picks it.
    do_not_disrupt: bool = False
    #: Deactivated by consolidation to empty it (state `draining`); a plan may give it back.
    cordoned: bool = False
    #: Jobs among `jobs` whose tasks here are hard one-per-host (`unique_host`): room for
    #: them elsewhere is only on an agent without the job (consolidation, relocation).
    unique_host_jobs: list[Name] = Field(default_factory=list, max_length=10_000)
    #: A task here is hard `exclusive`: nothing else is placed here, and consolidation
    #: leaves the agent be (its task could only move to an empty agent, saving nothing).
    exclusive: bool = False
    #: When its running tasks are all expected to have ended (None: unknown).
    expected_empty_at: UtcTime | None = None
    #: Running tasks expected to end soon, soonest first: a task waits for their room
    #: instead of a new instance when it frees before one could boot.
    expected_releases: list[Release] = Field(default_factory=list, max_length=10_000)

    @model_validator(mode="after")
    def _consistent(self) -> Agent:
        for name, amount in self.used.items():
            if amount > self.total.get(name, 0.0) * (1 + 1e-9):
                raise ValueError(
                    f"agent {self.id}: used {name} {num(amount)} exceeds total "
                    f"{num(self.total.get(name, 0.0))}"
                )
        host = self.hostname or self.id
        if host.startswith("("):
            # "(new host)" and "(new) pool/zone#i" name instances not registered yet.
            raise ValueError(
                f"agent {self.id}: hostname {host!r} is reserved (a name starting with '(' "
                "stands for an instance not registered yet)"
            )
        released: dict[str, float] = {}
        for release in self.expected_releases:
            for name, amount in release.resources.items():
                released[name] = released.get(name, 0.0) + amount
        for name, amount in released.items():
            if amount > self.used.get(name, 0.0) * (1 + 1e-9) + 1e-9:
                raise ValueError(
                    f"agent {self.id}: expected_releases give back {name} {num(amount)}, "
                    f"more than the {num(self.used.get(name, 0.0))} it uses"
                )
        strange = sorted(set(self.unique_host_jobs) - set(self.jobs))
        if strange:
            raise ValueError(f"agent {self.id}: unique_host_jobs names {strange[0]!r}, not in jobs")
        in_jobs = sum(self.jobs.values())
        if self.tasks is not None and self.tasks < in_jobs:
            raise ValueError(f"agent {self.id}: tasks {self.tasks} is less than the sum of jobs")
        return self

    @property
    def running(self) -> int:
        """Running task count (`tasks`, or the sum of `jobs` when `tasks` is absent)."""
        return self.tasks if self.tasks is not None else sum(self.jobs.values())


class AttributeConstraint(Strict):
    kind: Literal["attribute"]
    name: Name
    value: AttrValue
    soft: bool = False


class UniqueHostConstraint(Strict):
    kind: Literal["unique_host"]
    soft: bool = False


class ExclusiveConstraint(Strict):
    kind: Literal["exclusive"]
    soft: bool = False


class BalancedConstraint(Strict):
    kind: Literal["balanced"]
    attribute: Name
    soft: bool = False


Constraint = Annotated[
    AttributeConstraint | UniqueHostConstraint | ExclusiveConstraint | BalancedConstraint,
    Field(discriminator="kind"),
]


class Task(Strict):
    """A pending task waiting for resources."""

    id: Name
    job: str | None = None
    resources: Resources
    pool: str | None = None
    constraints: list[Constraint] = Field(default_factory=list)
    submitted: UtcTime | None = None
    #: How long the task is expected to run, and where that came from ("declared" by the
    #: submitter, or "learned from N tasks of the job"); None: unknown.
    expected_duration_s: (
        Annotated[float, Field(gt=0, le=MAX_SECONDS, allow_inf_nan=False)] | None
    ) = None
    duration_source: Annotated[str, Field(max_length=200)] | None = None

    @property
    def job_name(self) -> str:
        """The job the task belongs to; a task without one is a job of its own."""
        return self.job if self.job else self.id


class PoolHistory(Strict):
    last_scale_up: UtcTime | None = None
    last_scale_down: UtcTime | None = None
    #: The last time a plan gave cordoned agents back: no new cordon for a cooldown after.
    last_uncordon: UtcTime | None = None
    #: When the loop relocated each of the pool's tasks in the last hour (its budget).
    relocations: list[UtcTime] = Field(default_factory=list, max_length=100_000)


class Snapshot(Strict):
    """Everything the planner may know: one consistent picture of the cluster."""

    version: Version
    now: UtcTime
    pools: list[Pool]
    agents: list[Agent] = Field(default_factory=list)
    pending: list[Task] = Field(default_factory=list)
    history: dict[str, PoolHistory] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references(self) -> Snapshot:
        _unique("pools", [p.name for p in self.pools])
        _unique("agents", [a.id for a in self.agents])
        _unique("pending", [t.id for t in self.pending])
        _unique("groups (asg)", [g.asg for p in self.pools for g in p.groups])
        pools = {p.name: p for p in self.pools}
        families = {p.family for p in self.pools if p.family is not None}
        if families & set(pools):
            clash = sorted(families & set(pools))[0]
            raise ValueError(f"pools: {clash!r} is both a pool's name and a family")
        for i, agent in enumerate(self.agents):
            why = foreign(agent, pools)
            if why is not None:
                raise ValueError(f"agents[{i}] ({agent.id}): {why}")
        for i, task in enumerate(self.pending):
            if task.pool is not None and task.pool not in pools and task.pool not in families:
                raise ValueError(f"pending[{i}] ({task.id}): unknown pool {task.pool!r}")
        for name in self.history:
            if name not in pools:
                raise ValueError(f"history: unknown pool {name!r}")
        return self


def foreign(agent: Agent, pools: Mapping[str, Pool]) -> str | None:
    """Why `agent` does not belong where it says (its pool, its pool's group, that group's
    zone), or None. A snapshot refuses such an agent; a pass leaves it out of its snapshot."""
    pool = pools.get(agent.pool)
    if pool is None:
        return f"unknown pool {agent.pool!r}"
    if agent.asg is None:
        return None
    group = next((g for g in pool.groups if g.asg == agent.asg), None)
    if group is None:
        return f"asg {agent.asg!r} is not a group of pool {agent.pool!r}"
    if group.zone != agent.zone:
        return f"zone {agent.zone!r} differs from its group {group.asg}'s zone {group.zone!r}"
    return None


def _unique(what: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for ident in ids:
        if ident in seen:
            raise ValueError(f"{what}: duplicate id {ident!r}")
        seen.add(ident)


# ---- Plan (output) ---------------------------------------------------------------------


class NewInstance(Strict):
    """A launching or to-be-launched instance: index numbers launching ones first."""

    pool: str
    zone: str
    index: int


class Placement(Strict):
    """A task onto a registered agent, or onto a launching or new instance (`new`)."""

    task: str
    agent: str | None = None
    new: NewInstance | None = None
    reason: str

    @model_validator(mode="after")
    def _one_target(self) -> Placement:
        if (self.agent is None) == (self.new is None):
            raise ValueError(f"placement of {self.task}: give exactly one of agent and new")
        return self

    @property
    def target(self) -> str:
        """`agent id`, or `pool/zone#index` for a launching or new instance."""
        if self.new is None:
            assert self.agent is not None
            return self.agent
        return f"{self.new.pool}/{self.new.zone}#{self.new.index}"


class Unplaced(Strict):
    task: str
    reason: str


class ScaleUp(Strict):
    pool: str
    asg: str
    zone: str
    count: int
    reason: str


class ScaleDown(Strict):
    pool: str
    agent: str
    instance_id: str | None
    asg: str
    zone: str
    action: Literal["drain"] = "drain"
    reason: str


class Cordon(Strict):
    """Deactivate a busy, under-used agent so it empties as its tasks end (then it drains)."""

    pool: str
    agent: str
    instance_id: str | None
    asg: str
    zone: str
    reason: str


class Uncordon(Strict):
    """Give a cordoned agent back: pending work needs its room before any new instance."""

    pool: str
    agent: str
    reason: str


class Hold(Strict):
    """A pool-level decision not to act, with why (e.g. excess idle kept by a cooldown)."""

    pool: str
    reason: str


class Summary(Strict):
    agents_needed: int
    lower_bound: int
    placed: int
    placed_on_agents: int
    placed_on_new: int
    unplaced: int
    new_instances: int
    scale_down: int


class Plan(Strict):
    version: Literal[1] = 1
    placements: list[Placement]
    unplaced: list[Unplaced]
    scale_up: list[ScaleUp]
    scale_down: list[ScaleDown]
    holds: list[Hold]
    summary: Summary
    cordon: list[Cordon] = Field(default_factory=list)
    uncordon: list[Uncordon] = Field(default_factory=list)
