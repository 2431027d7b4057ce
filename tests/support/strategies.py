"""Hypothesis strategies that build valid contract-v1 `Snapshot` objects.

`snapshots()` draws small clusters (1-3 pools, 1-3 zone groups each, up to 30 agents and 40
pending tasks) that exercise every corner the contract names: launching instances,
unavailable zones, cooldowns, agents outside any group, odd agent sizes, draining agents,
tasks too big for any pool, and every constraint kind, hard and soft.

Flags narrow the draw for properties that only hold "where bounds allow":

- `calm`: every agent belongs to a group, every zone is available, many agents are idle
  (group bounds, idle times and history stay random).
- `roomy`: groups have `min` 0, a large `max`, and a `desired` that covers the group's
  registered agents.
- `quiet`: nothing happened lately: history holds no recent scale action (no cooldown
  applies) and idle agents have been idle for ages (past any grace period).
- `friendly`: all three: nothing bounds scaling.
- `busy`: every agent runs tasks and has little room left, so pending work needs new
  instances.
- `zone_constraints=False`: no hard constraint on the zone (`attribute` and `balanced` on
  zone are soft), so only zone balance and soft preferences decide where new instances go.
- `exact_totals`: every agent's `total` equals its pool's capacity.

Choices are drawn as an index into a tuple (`pick`), so shrinking moves towards the first,
simplest option; strategies are built once, which keeps generation cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from hypothesis import strategies as st

from controlplane.model import (
    Agent,
    AgentState,
    AttributeConstraint,
    BalancedConstraint,
    Constraint,
    ExclusiveConstraint,
    Group,
    Pool,
    PoolHistory,
    Snapshot,
    Task,
    UniqueHostConstraint,
)
from tests.support.draws import (
    BUSY_JOB_SETS,
    CAPACITY_CHOICES,
    DEMAND_CHOICES,
    FITNESS,
    GENS,
    HUGE,
    INSTANCE_TYPES,
    JOB_SETS,
    JOBS,
    LARGE_SHARES,
    LONG_AGO_S,
    MAX_AGENTS,
    MAX_PENDING,
    NOW,
    POOL_NAMES,
    RACKS,
    RESOURCES,
    SCALAR,
    STATES,
    TIERS,
    TOTAL_FACTORS,
    USED_FRACTIONS,
    ZONES,
    asg_name,
    at,
    chance,
    digits,
    index,
    pick,
    subset,
)


@dataclass(frozen=True)
class _Mode:
    calm: bool
    roomy: bool
    quiet: bool
    busy: bool
    zone_constraints: bool
    exact_totals: bool


@dataclass
class _PoolDraft:
    name: str
    instance_type: str
    capacity: dict[str, float]
    zones: list[str]
    attributes: dict[str, str | int | float]
    registered: dict[str, int] = field(default_factory=dict)


def _capacity(draw: st.DrawFn) -> dict[str, float]:
    names = subset(draw, ("mem", "disk", "network", "gpus", "ports", SCALAR), 3)
    if not chance(draw, 10):  # cpus nearly always
        names.insert(0, "cpus")
    if not names:
        names = ["mem"]
    return {n: pick(draw, CAPACITY_CHOICES[n]) for n in names}


def _pool_draft(draw: st.DrawFn, name: str) -> _PoolDraft:
    zones = subset(draw, ZONES, 2)
    zones.append(pick(draw, tuple(z for z in ZONES if z not in zones)))
    attributes: dict[str, str | int | float] = {}
    if chance(draw, 2):
        attributes["tier"] = pick(draw, TIERS)
    if chance(draw, 4):
        attributes["rack"] = pick(draw, (*RACKS, "r9"))
    if chance(draw, 4):
        attributes["gen"] = pick(draw, GENS)
    return _PoolDraft(
        name=name,
        instance_type=pick(draw, INSTANCE_TYPES),
        capacity=_capacity(draw),
        zones=sorted(zones),
        attributes=attributes,
    )


def _total(draw: st.DrawFn, capacity: dict[str, float], exact: bool) -> dict[str, float]:
    """An agent's total: usually its pool's capacity, sometimes bigger, smaller or odd."""
    if exact or not chance(draw, 5):
        return dict(capacity)
    total = {n: v * pick(draw, TOTAL_FACTORS) for n, v in capacity.items()}
    if len(total) > 1 and chance(draw, 2):
        del total[pick(draw, tuple(sorted(total)))]
    if chance(draw, 4):
        total["gpus"] = 1.0
    return total


def _agent(
    draw: st.DrawFn,
    index: int,
    draft: _PoolDraft,
    zone: str,
    asg: str | None,
    mode: _Mode,
) -> Agent:
    total = _total(draw, draft.capacity, mode.exact_totals)
    extras: tuple[int, ...]
    shares: tuple[float, ...]
    if mode.busy:
        job_sets, extras, shares = BUSY_JOB_SETS, (0,), (1.0, 0.9, 0.75)
    else:
        # Calm pools have many idle agents.
        job_sets = ({}, *JOB_SETS) if mode.calm else JOB_SETS
        extras, shares = (0, 0, 1, 2), USED_FRACTIONS
    idles: tuple[int | None, ...] = (3600, None, 0, 30, 59, 60, 299, 300, 599, 600, 601)
    j, extra, no_tasks, share, idle, stray_use = digits(
        draw, len(job_sets), len(extras), 5, len(shares), len(idles), 8
    )
    jobs = dict(job_sets[j])
    in_jobs = sum(jobs.values())
    tasks = None if no_tasks == 4 else in_jobs + extras[extra]
    running = tasks if tasks is not None else in_jobs
    # An agent that reports no task may still use resources (executors, leftovers).
    used = {}
    if running > 0 or stray_use == 7:
        used = {n: v * shares[share] for n, v in total.items()}
    idle_since: datetime | None = None
    if running == 0:
        if mode.quiet:
            idle_since = at(-LONG_AGO_S)
        elif (ago := idles[idle]) is not None:
            idle_since = at(-ago)
    # Numbers are attribute values too (`gen`): 6.0 and "6" both read as "6".
    racks: tuple[str | None, ...] = (*RACKS, None)
    tiers: tuple[str | None, ...] = (None, None, None, None, *TIERS)
    gens: tuple[str | int | float | None, ...] = (None, None, None, *GENS)
    rack, tier, gen = digits(draw, len(racks), len(tiers), len(gens))
    drawn = {"rack": racks[rack], "tier": tiers[tier], "gen": gens[gen]}
    attributes = {k: v for k, v in drawn.items() if v is not None}
    hostnames = (f"ip-{index}", "", f"ip-{index}", "ip-shared")
    instance_ids = (f"i-{index:04x}", None)
    states: tuple[AgentState, ...] = ("active", *STATES) if mode.calm else STATES
    host, iid, state = digits(draw, len(hostnames), len(instance_ids), len(states))
    return Agent(
        id=f"A-{index}",
        hostname=hostnames[host],
        instance_id=instance_ids[iid],
        pool=draft.name,
        asg=asg,
        zone=zone,
        total=total,
        used=used,
        tasks=tasks,
        jobs=jobs,
        state=states[state],
        idle_since=idle_since,
        attributes=attributes,
    )


def _group(draw: st.DrawFn, draft: _PoolDraft, zone: str, mode: _Mode) -> Group:
    registered = draft.registered.get(zone, 0)
    if mode.calm:
        until = pick(draw, (None, at(-600), NOW))
    else:
        until = pick(draw, (None, None, None, at(-300), NOW, at(1), at(900)))
    if mode.roomy:
        low, high, desired = 0, 1000, registered + pick(draw, (0, 1, 2))
    else:
        high = pick(draw, (20, 0, 1, 2, 3, 4, 6, 50))
        low = pick(draw, tuple(range(min(high, 2) + 1)))
        near = (registered, registered, registered + 1, max(registered - 1, 0), low, high)
        desired = min(pick(draw, near), high)
        if chance(draw, 6):
            desired = pick(draw, tuple(range(high + 1)))
    return Group(
        asg=asg_name(draft.name, zone),
        zone=zone,
        min=low,
        max=high,
        desired=desired,
        unavailable_until=until,
    )


def _constraint(
    draw: st.DrawFn, drafts: list[_PoolDraft], agents: list[Agent], zone_constraints: bool
) -> Constraint:
    kind = pick(draw, ("attribute", "balanced", "unique_host", "exclusive", "balanced"))
    soft = chance(draw, 2)
    if kind == "unique_host":
        return UniqueHostConstraint(kind="unique_host", soft=soft)
    if kind == "exclusive":
        return ExclusiveConstraint(kind="exclusive", soft=soft)
    if kind == "balanced":
        attribute = pick(draw, ("zone", "rack", "hostname"))
        soft = soft or (attribute == "zone" and not zone_constraints)
        return BalancedConstraint(kind="balanced", attribute=attribute, soft=soft)
    hostnames = tuple(sorted({a.hostname or a.id for a in agents})) or ("ip-0",)
    values: dict[str, tuple[str | int | float, ...]] = {
        "rack": (*RACKS, "r9"),
        "pool": (*(d.name for d in drafts), "nowhere"),
        "instance_type": tuple(sorted({d.instance_type for d in drafts})),
        "hostname": (*hostnames[:6], "ip-999"),
        "tier": TIERS,
        "gen": GENS,
        "zone": ZONES,
    }
    # Without hard zone constraints, soft zone preferences are what zone balance must resist.
    name = "zone" if not zone_constraints and chance(draw, 2) else pick(draw, tuple(values))
    soft = soft or (name == "zone" and not zone_constraints)
    return AttributeConstraint(
        kind="attribute", name=name, value=pick(draw, values[name]), soft=soft
    )


@dataclass
class _Template:
    job: str | None
    resources: dict[str, float]
    pool: str | None
    constraints: list[Constraint]
    count: int
    #: `submitted` of its first task, in seconds from NOW (None: no `submitted`); others vary.
    age: int | None


def _template(
    draw: st.DrawFn,
    drafts: list[_PoolDraft],
    agents: list[Agent],
    zone_constraints: bool,
    busy: bool,
) -> _Template:
    present = tuple(sorted({n for d in drafts for n in d.capacity}))
    names = subset(draw, present, 2)
    if chance(draw, 8):  # now and then a resource some pools lack
        names.append(pick(draw, RESOURCES))
    if chance(draw, 3 if busy else 5):  # large: a good share of an instance each
        largest = {n: max(d.capacity.get(n, 0.0) for d in drafts) for n in names}
        resources = {n: largest[n] * pick(draw, LARGE_SHARES) for n in sorted(set(names))}
    else:
        resources = {n: pick(draw, DEMAND_CHOICES[n]) for n in sorted(set(names))}
    if resources and chance(draw, 10):  # bigger than any pool: must end up unplaced
        resources[pick(draw, tuple(resources))] *= HUGE
    pool = None if not chance(draw, 3) else pick(draw, tuple(d.name for d in drafts))
    constraints = [
        _constraint(draw, drafts, agents, zone_constraints)
        for _ in range(pick(draw, (0, 0, 1, 1, 1, 2, 3)))
    ]
    # unique_host and balanced count a job's tasks: mostly give such tasks a shared job.
    counted = any(isinstance(c, UniqueHostConstraint | BalancedConstraint) for c in constraints)
    return _Template(
        job=pick(draw, JOBS if counted and not chance(draw, 8) else (*JOBS, None)),
        resources=resources,
        pool=pool,
        constraints=constraints,
        count=pick(draw, (1, 2, 3, 4, 6, 8)),
        age=pick(draw, (-40, None, -5, -300)),
    )


def _history(draw: st.DrawFn, pool: Pool, quiet: bool) -> PoolHistory:
    if quiet:
        stamp = pick(draw, (None, at(-LONG_AGO_S)))
        return PoolHistory(last_scale_up=stamp, last_scale_down=stamp)
    up_s, down_s = int(pool.scale_up_cooldown_s), int(pool.scale_down_cooldown_s)
    # Stamps just inside and just outside each cooldown, both before and after the other.
    edges = (None, at(-3600), at(-5), at(-up_s), at(1 - up_s), at(-down_s), at(1 - down_s))
    scenario = pick(draw, ("random", "up", "down", "between"))
    if scenario == "up":  # a scale-up inside the scale-up cooldown
        return PoolHistory(last_scale_up=at(-pick(draw, (5, 59))), last_scale_down=None)
    if scenario == "down":  # a scale-down only
        return PoolHistory(last_scale_up=None, last_scale_down=pick(draw, edges))
    if scenario == "between":  # a scale-up past its own cooldown, inside the scale-down one
        ago = max(up_s, min(down_s - 1, 200))
        return PoolHistory(last_scale_up=at(-ago), last_scale_down=pick(draw, (None, at(-3600))))
    return PoolHistory(last_scale_up=pick(draw, edges), last_scale_down=pick(draw, edges))


@st.composite
def snapshots(
    draw: st.DrawFn,
    *,
    friendly: bool = False,
    calm: bool = False,
    roomy: bool = False,
    quiet: bool = False,
    busy: bool = False,
    zone_constraints: bool = True,
    exact_totals: bool = False,
) -> Snapshot:
    """A valid snapshot at `NOW` (see the module docstring for the flags)."""
    mode = _Mode(
        calm=calm or friendly,
        roomy=roomy or friendly,
        quiet=quiet or friendly,
        busy=busy,
        zone_constraints=zone_constraints,
        exact_totals=exact_totals,
    )
    pool_names = subset(draw, POOL_NAMES, 2)
    pool_names.append(pick(draw, tuple(p for p in POOL_NAMES if p not in pool_names)))
    drafts = [_pool_draft(draw, name) for name in pool_names]

    agents: list[Agent] = []
    for draft in drafts:
        for zone in draft.zones:
            for _ in range(pick(draw, (0, 1, 2, 3, 4))):
                if len(agents) >= MAX_AGENTS:
                    break
                asg = asg_name(draft.name, zone)
                agents.append(_agent(draw, len(agents), draft, zone, asg, mode))
                draft.registered[zone] = draft.registered.get(zone, 0) + 1
        if not mode.calm and chance(draw, 4) and len(agents) < MAX_AGENTS:  # in no group
            zone = pick(draw, ZONES)
            agents.append(_agent(draw, len(agents), draft, zone, None, mode))

    pools: list[Pool] = []
    for draft in drafts:
        min_idle = pick(draw, (0, 1, 2))
        pools.append(
            Pool(
                name=draft.name,
                instance_type=draft.instance_type,
                capacity=draft.capacity,
                hourly_price=pick(draw, (None, 0.34, 0.768, 0.768, 3.06)),
                min_idle=min_idle,
                max_idle=min_idle + pick(draw, (0, 0, 1, 2)),
                idle_grace_s=pick(draw, (600.0, 0.0, 60.0)),
                scale_up_cooldown_s=pick(draw, (60.0, 0.0, 300.0)),
                scale_down_cooldown_s=pick(draw, (300.0, 0.0, 60.0)),
                fitness=pick(draw, FITNESS),
                attributes=draft.attributes,
                groups=[_group(draw, draft, zone, mode) for zone in draft.zones],
            )
        )

    pending: list[Task] = []
    for _ in range(draw(index(7))):
        tpl = _template(draw, drafts, agents, mode.zone_constraints, mode.busy)
        for _ in range(tpl.count):
            if len(pending) >= MAX_PENDING:
                break
            seconds = None if tpl.age is None else tpl.age - 37 * ((len(pending) * 3) % 4)
            pending.append(
                Task(
                    id=f"t{len(pending)}",
                    job=tpl.job,
                    resources=tpl.resources,
                    pool=tpl.pool,
                    constraints=tpl.constraints,
                    submitted=None if seconds is None else at(seconds),
                )
            )

    history: dict[str, PoolHistory] = {}
    for name in pool_names:
        if not chance(draw, 3):
            history[name] = _history(draw, next(p for p in pools if p.name == name), mode.quiet)

    return Snapshot(
        version=1, now=NOW, pools=pools, agents=agents, pending=pending, history=history
    )
