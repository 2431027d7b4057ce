"""Contract v1 re-derived from a snapshot and its plan alone, for the property tests.

Nothing here imports planner internals: a planner change that breaks a rule is caught
whatever its implementation looks like.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from controlplane.model import (
    Agent,
    AttributeConstraint,
    BalancedConstraint,
    ExclusiveConstraint,
    Group,
    Placement,
    Plan,
    Pool,
    Snapshot,
    Task,
    UniqueHostConstraint,
)
from controlplane.planning import plan
from tests.support.strategies import snapshots

#: Examples per property; raise it for a deeper hunt (`PROPERTY_EXAMPLES=5000 pytest ...`).
EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "150"))
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: Snapshots of every kind: anything goes, calm clusters, and clusters nothing bounds.
VARIED = st.one_of(snapshots(), snapshots(calm=True), snapshots(friendly=True))
#: Relative tolerance for resource sums (0.1 + 0.2 must fit in 0.3).
TOL = 1e-6

#: ("agent", agent id, "", -1) or ("new", pool, zone, index).
Target = tuple[str, str, str, int]


# ---- re-derived facts about a snapshot ------------------------------------------------------


def target_of(p: Placement) -> Target:
    if p.new is not None:
        return ("new", p.new.pool, p.new.zone, p.new.index)
    assert p.agent is not None
    return ("agent", p.agent, "", -1)


def running(agent: Agent) -> int:
    return agent.tasks if agent.tasks is not None else sum(agent.jobs.values())


def agent_attributes(agent: Agent, pool: Pool) -> dict[str, str]:
    attrs = {k: str(v) for k, v in pool.attributes.items()}
    attrs.update({k: str(v) for k, v in agent.attributes.items()})
    attrs["zone"] = agent.zone
    attrs["pool"] = pool.family or agent.pool  # a family's pools all answer to the family
    attrs["hostname"] = agent.hostname or agent.id
    attrs["instance_type"] = pool.instance_type
    return attrs


def instance_attributes(pool: Pool, zone: str, index: int) -> dict[str, str]:
    """A launching or new instance: pool attributes, built-ins, and a host of its own."""
    attrs = {k: str(v) for k, v in pool.attributes.items()}
    attrs["zone"] = zone
    attrs["pool"] = pool.family or pool.name
    attrs["instance_type"] = pool.instance_type
    attrs["hostname"] = f"(new) {pool.name}/{zone}#{index}"
    return attrs


def registered(snapshot: Snapshot) -> Counter[str]:
    return Counter(a.asg for a in snapshot.agents if a.asg is not None)


def launching(snapshot: Snapshot, group: Group) -> int:
    """Instances a group launched that have not registered: `desired - agents of the asg`."""
    return max(0, group.desired - registered(snapshot)[group.asg])


def available(snapshot: Snapshot, group: Group) -> bool:
    return group.unavailable_until is None or group.unavailable_until <= snapshot.now


def group_in(pool: Pool, zone: str) -> Group | None:
    return next((g for g in pool.groups if g.zone == zone), None)


def scale_up_cooling(snapshot: Snapshot, pool: Pool) -> bool:
    hist = snapshot.history.get(pool.name)
    if hist is None or hist.last_scale_up is None:
        return False
    return snapshot.now < hist.last_scale_up + timedelta(seconds=pool.scale_up_cooldown_s)


def scale_down_cooling(snapshot: Snapshot, pool: Pool) -> bool:
    hist = snapshot.history.get(pool.name)
    if hist is None:
        return False
    wait = timedelta(seconds=pool.scale_down_cooldown_s)
    return any(
        stamp is not None and snapshot.now < stamp + wait
        for stamp in (hist.last_scale_down, hist.last_scale_up)
    )


def job_of(task: Task) -> str:
    return task.job if task.job else task.id


def hard(task: Task) -> list[AttributeConstraint | BalancedConstraint]:
    return [
        c
        for c in task.constraints
        if isinstance(c, AttributeConstraint | BalancedConstraint) and not c.soft
    ]


def hard_balanced(task: Task) -> set[str]:
    return {
        c.attribute for c in task.constraints if isinstance(c, BalancedConstraint) and not c.soft
    }


def shape(task: Task) -> tuple[object, ...]:
    """Tasks of one job with equal demand, pool and constraints are interchangeable."""
    demand = tuple(sorted((k, v) for k, v in task.resources.items() if v > 0))
    cons = tuple(sorted(c.model_dump_json() for c in task.constraints))
    return (job_of(task), demand, task.pool, cons)


def resource_names(*vectors: dict[str, float]) -> set[str]:
    return {name for v in vectors for name in v}


def fits(demand: dict[str, float], free: dict[str, float], total: dict[str, float]) -> bool:
    return all(
        demand.get(n, 0.0) <= free.get(n, 0.0) + TOL * max(total.get(n, 0.0), 1.0)
        for n in resource_names(demand, free, total)
    )


@dataclass
class World:
    """The snapshot indexed for checks, plus what the plan put where."""

    snapshot: Snapshot
    plan: Plan
    pools: dict[str, Pool] = field(init=False)
    agents: dict[str, Agent] = field(init=False)
    tasks: dict[str, Task] = field(init=False)
    on: dict[Target, list[Task]] = field(init=False)

    def __post_init__(self) -> None:
        self.pools = {p.name: p for p in self.snapshot.pools}
        self.agents = {a.id: a for a in self.snapshot.agents}
        self.tasks = {t.id: t for t in self.snapshot.pending}
        self.on = defaultdict(list)
        for p in self.plan.placements:
            self.on[target_of(p)].append(self.tasks[p.task])

    def attributes(self, target: Target) -> dict[str, str]:
        kind, name, zone, index = target
        if kind == "agent":
            agent = self.agents[name]
            return agent_attributes(agent, self.pools[agent.pool])
        return instance_attributes(self.pools[name], zone, index)

    def pool_of(self, target: Target) -> str:
        return self.agents[target[1]].pool if target[0] == "agent" else target[1]

    def running_jobs(self, target: Target) -> Counter[str]:
        if target[0] == "agent":
            return Counter(self.agents[target[1]].jobs)
        return Counter()

    def running_tasks(self, target: Target) -> int:
        return running(self.agents[target[1]]) if target[0] == "agent" else 0

    def launching_left_empty(self, pool: Pool) -> list[tuple[str, int]]:
        """(zone, index) of launching instances in available zones that hold no placement."""
        out = []
        for g in pool.groups:
            if not available(self.snapshot, g):
                continue
            for i in range(launching(self.snapshot, g)):
                if not self.on.get(("new", pool.name, g.zone, i)):
                    out.append((g.zone, i))
        return out

    def new_used(self, pool: Pool, group: Group) -> list[int]:
        """Distinct indices >= L (new, not launching) that placements use in the group."""
        first = launching(self.snapshot, group)
        return sorted(
            {
                t[3]
                for t in self.on
                if t[0] == "new" and t[1] == pool.name and t[2] == group.zone and t[3] >= first
            }
        )

    def scaled_up(self, pool: str, zone: str) -> int:
        return sum(u.count for u in self.plan.scale_up if u.pool == pool and u.zone == zone)


def world(snapshot: Snapshot) -> World:
    return World(snapshot, plan(snapshot))


#: Relative slack the contract's planner allows when a task fits (decisions.md 1).
EPS = 1e-9
#: The hostname of an instance not opened yet: a host of its own, holding no task.
FRESH_HOST = "(not opened yet)"


@dataclass
class Row:
    """A place a task could go at some step of the plan, as the plan has left it so far."""

    target: Target
    pool: Pool
    attrs: dict[str, str]
    total: dict[str, float]
    free: dict[str, float]
    running: int
    jobs: Counter[str]
    placed: int = 0
    exclusive: bool = False
    #: Jobs with a hard unique_host task placed here: no other task of theirs may join.
    closed: set[str] = field(default_factory=set)


def fits_row(demand: dict[str, float], row: Row) -> bool:
    return all(
        amount <= row.free.get(name, 0.0) + EPS * max(row.total.get(name, 0.0), 1.0)
        for name, amount in demand.items()
    )


def keeps_scarce(pool: Pool, task: Task) -> bool:
    """The pool keeps a scarce resource (gpus) from this task, which asks for none of them."""
    guarded = [r for r in pool.scarce if pool.capacity.get(r, 0.0) > 0]
    return bool(guarded) and not any(task.resources.get(r, 0.0) > 0 for r in guarded)


def fits_capacity(demand: dict[str, float], pool: Pool) -> bool:
    return all(a <= pool.capacity.get(n, 0.0) * (1 + EPS) for n, a in demand.items())


class Replay:
    """Walks the placements in plan order, re-deriving what each task could have used.

    Rows are the active agents and the launching instances of available zones (free from the
    start) and the new instances placements open. `step(p)` first answers questions about
    the moment just before `p`, then applies it.
    """

    def __init__(self, w: World) -> None:
        self.w = w
        s = w.snapshot
        self.rows: dict[Target, Row] = {}
        #: job -> attribute -> value -> tasks (running on any registered agent, or placed)
        self.counts: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
        for a in s.agents:
            pool = w.pools[a.pool]
            attrs = agent_attributes(a, pool)
            for job, n in a.jobs.items():
                for name, value in attrs.items():
                    self.counts[job][name][value] += n
            if a.state != "active":
                continue
            free = {k: max(v - a.used.get(k, 0.0), 0.0) for k, v in a.total.items()}
            target: Target = ("agent", a.id, "", -1)
            self.rows[target] = Row(target, pool, attrs, a.total, free, running(a), Counter(a.jobs))
        for pool in s.pools:
            for g in pool.groups:
                if available(s, g):
                    for i in range(launching(s, g)):
                        self._add_instance(pool, g.zone, i)
        #: (pool, zone) -> new instances opened so far
        self.opened: Counter[tuple[str, str]] = Counter()

    def _add_instance(self, pool: Pool, zone: str, index: int) -> Row:
        target: Target = ("new", pool.name, zone, index)
        cap = dict(pool.capacity)
        row = Row(
            target, pool, instance_attributes(pool, zone, index), cap, dict(cap), 0, Counter()
        )
        self.rows[target] = row
        return row

    def eligible(self, task: Task) -> list[Pool]:
        pools = self.w.snapshot.pools
        return [
            p
            for p in pools
            if (task.pool is None or task.pool in (p.name, p.family))
            and (p.shares_scarce or not keeps_scarce(p, task))
        ]

    def may_take(self, task: Task, row: Row) -> bool:
        """Resources and every hard constraint but `balanced`."""
        if row.exclusive or job_of(task) in row.closed or not fits_row(task.resources, row):
            return False
        if task.pool is not None and task.pool not in (row.pool.name, row.pool.family):
            return False
        if keeps_scarce(row.pool, task) and (not row.pool.shares_scarce or row.target[0] == "new"):
            return False  # a sharing pool lends registered agents only
        if row.target[0] == "agent" and not row.pool.shares_scarce:
            unpromised = [
                r
                for r in row.pool.scarce
                if row.total.get(r, 0.0) > 0 and not row.pool.capacity.get(r)
            ]
            if unpromised and not any(task.resources.get(r, 0.0) > 0 for r in unpromised):
                return False  # an agent with GPUs its pool lacks keeps them too
        for c in task.constraints:
            if c.soft:
                continue
            if isinstance(c, AttributeConstraint) and row.attrs.get(c.name) != str(c.value):
                return False
            if isinstance(c, UniqueHostConstraint) and row.jobs[job_of(task)] > 0:
                return False
            if isinstance(c, ExclusiveConstraint) and (row.running or row.placed):
                return False
        return True

    def openable(self, task: Task) -> list[tuple[Pool, str, dict[str, str]]]:
        """(pool, zone, attributes) where a new instance could be opened for the task now."""
        s = self.w.snapshot
        out = []
        for pool in self.eligible(task):
            if scale_up_cooling(s, pool) or not fits_capacity(task.resources, pool):
                continue
            if keeps_scarce(pool, task):
                continue  # never an instance of a scarce pool for work that does not need it
            for g in pool.groups:
                room = g.max - g.desired - self.opened[(pool.name, g.zone)]
                if not available(s, g) or room <= 0:
                    continue
                attrs = instance_attributes(pool, g.zone, -1)
                attrs["hostname"] = FRESH_HOST
                if all(
                    attrs.get(c.name) == str(c.value)
                    for c in task.constraints
                    if isinstance(c, AttributeConstraint) and not c.soft
                ):
                    out.append((pool, g.zone, attrs))
        return out

    def count(self, task: Task, attribute: str, value: str) -> int:
        return self.counts[job_of(task)][attribute][value]

    def domain(self, task: Task, attribute: str) -> dict[str, int]:
        """Values of `attribute` the task could reach now, with the job's tasks on each."""
        values = [r.attrs.get(attribute) for r in self.rows.values() if self.may_take(task, r)]
        values += [attrs.get(attribute) for _, _, attrs in self.openable(task)]
        return {v: self.count(task, attribute, v) for v in values if v is not None}

    def candidates(self, task: Task) -> list[Row]:
        """Existing rows that may take the task, `balanced` included."""
        rows = [r for r in self.rows.values() if self.may_take(task, r)]
        for c in task.constraints:
            if isinstance(c, BalancedConstraint) and not c.soft:
                dom = self.domain(task, c.attribute)
                low = min(dom.values(), default=0)
                rows = [r for r in rows if dom.get(r.attrs.get(c.attribute, "")) == low]
        return rows

    def step(self, p: Placement) -> Row:
        """Apply placement `p`; returns its row (opening a new instance if needed)."""
        task = self.w.tasks[p.task]
        target = target_of(p)
        row = self.rows.get(target)
        if row is None:
            assert p.new is not None, f"placement onto unusable agent {p.agent}"
            row = self._add_instance(self.w.pools[p.new.pool], p.new.zone, p.new.index)
            self.opened[(p.new.pool, p.new.zone)] += 1
        for name, amount in task.resources.items():
            row.free[name] = row.free.get(name, 0.0) - amount  # slack is spent, not renewed
        row.placed += 1
        row.jobs[job_of(task)] += 1
        if any(isinstance(c, ExclusiveConstraint) and not c.soft for c in task.constraints):
            row.exclusive = True
        if any(isinstance(c, UniqueHostConstraint) and not c.soft for c in task.constraints):
            row.closed.add(job_of(task))
        for name, value in row.attrs.items():
            self.counts[job_of(task)][name][value] += 1
        return row
