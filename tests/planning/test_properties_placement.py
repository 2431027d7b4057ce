"""Properties of placement: contract v1 rules 1-3 over generated snapshots."""

from __future__ import annotations

from collections import Counter, defaultdict

from hypothesis import given
from hypothesis import strategies as st

from controlplane.model import (
    AttributeConstraint,
    BalancedConstraint,
    ExclusiveConstraint,
    Snapshot,
    UniqueHostConstraint,
)
from controlplane.planning import plan
from tests.support.contract_replay import (
    FRESH_HOST,
    PROPERTY,
    TOL,
    VARIED,
    Replay,
    Target,
    agent_attributes,
    group_in,
    hard_balanced,
    job_of,
    keeps_scarce,
    resource_names,
    shape,
    target_of,
    world,
)

# ---- rule 1: no over-commit -----------------------------------------------------------------


@PROPERTY
@given(VARIED)
def test_rule1_no_overcommit(snapshot: Snapshot) -> None:
    w = world(snapshot)
    for target, tasks in w.on.items():
        demand: dict[str, float] = defaultdict(float)
        for t in tasks:
            for name, amount in t.resources.items():
                demand[name] += amount
        kind, name, zone, index = target
        if kind == "agent":
            assert name in w.agents, f"placement onto unknown agent {name}"
            agent = w.agents[name]
            assert agent.state == "active", f"placement onto {agent.state} agent {name}"
            for res in resource_names(demand, agent.total, agent.used):
                have = agent.total.get(res, 0.0)
                want = agent.used.get(res, 0.0) + demand.get(res, 0.0)
                assert want <= have + TOL * max(have, 1.0), (
                    f"agent {name} over-committed in {res}: used {agent.used.get(res, 0.0):g} "
                    f"+ placed {demand.get(res, 0.0):g} > total {have:g} "
                    f"({[t.id for t in tasks]})"
                )
        else:
            assert name in w.pools, f"placement onto unknown pool {name}"
            pool = w.pools[name]
            assert group_in(pool, zone) is not None, f"pool {name} has no group in {zone}"
            assert index >= 0
            for res in resource_names(demand, pool.capacity):
                cap = pool.capacity.get(res, 0.0)
                assert demand.get(res, 0.0) <= cap + TOL * max(cap, 1.0), (
                    f"instance {name}/{zone}#{index} over-committed in {res}: "
                    f"{demand.get(res, 0.0):g} > capacity {cap:g}"
                )


# ---- rule 2: hard constraints ---------------------------------------------------------------


@PROPERTY
@given(VARIED)
def test_rule2_hard_constraints(snapshot: Snapshot) -> None:
    w = world(snapshot)
    job_counts: dict[Target, Counter[str]] = {}
    placed: Counter[Target] = Counter()
    exclusive_targets: set[Target] = set()
    unique_targets: set[tuple[Target, str]] = set()
    for p in w.plan.placements:
        task = w.tasks[p.task]
        target = target_of(p)
        if target not in job_counts:
            job_counts[target] = w.running_jobs(target)
        pool = w.pool_of(target)
        if task.pool is not None:
            assert pool == task.pool, f"{task.id} pinned to pool {task.pool}, placed in {pool}"
        attrs = w.attributes(target)
        for c in task.constraints:
            if c.soft:
                continue
            if isinstance(c, AttributeConstraint):
                assert attrs.get(c.name) == str(c.value), (
                    f"{task.id} needs {c.name}={c.value}, {target} has {attrs.get(c.name)}"
                )
            elif isinstance(c, UniqueHostConstraint):
                assert job_counts[target][job_of(task)] == 0, (
                    f"{task.id} unique_host: {target} already has "
                    f"{job_counts[target][job_of(task)]} task(s) of job {job_of(task)}"
                )
                unique_targets.add((target, job_of(task)))
            elif isinstance(c, ExclusiveConstraint):
                assert w.running_tasks(target) == 0 and placed[target] == 0, (
                    f"{task.id} exclusive: {target} runs {w.running_tasks(target)} and got "
                    f"{placed[target]} placement(s) before"
                )
                exclusive_targets.add(target)
            elif isinstance(c, BalancedConstraint):
                assert c.attribute in attrs, (
                    f"{task.id} balanced on {c.attribute}: {target} has no such attribute"
                )
        job_counts[target][job_of(task)] += 1
        placed[target] += 1
    for target in exclusive_targets:
        assert placed[target] == 1, f"exclusive task shares {target} with another placement"
    # A unique_host task must still be its job's only task there once the plan is done:
    # a later task of the job, constrained or not, breaks it as surely as an earlier one.
    for target, job in unique_targets:
        assert job_counts[target][job] == 1, (
            f"unique_host task of job {job} on {target} shares it with "
            f"{job_counts[target][job] - 1} other task(s) of the job"
        )


@PROPERTY
@given(VARIED)
def test_rule2_hard_balanced(snapshot: Snapshot) -> None:
    """For a hard `balanced` class, each step goes to a value no fuller than any later one.

    Tasks of one job and shape are interchangeable, and the values a task can reach only
    shrink as the plan fills rows, so a value the class reaches later was reachable before.
    Only tasks balanced over one attribute: with two, the second can only break the first's
    ties, and no placement order keeps both even in general.
    """
    w = world(snapshot)
    placements = w.plan.placements
    for attribute in ("zone", "rack", "hostname"):
        # count[job][value] before each step: tasks running on registered agents (draining
        # and drained ones too: their tasks still run) plus the job's earlier placements.
        base: dict[str, Counter[str]] = defaultdict(Counter)
        for agent in snapshot.agents:
            value = agent_attributes(agent, w.pools[agent.pool]).get(attribute)
            if value is None:
                continue
            for job, n in agent.jobs.items():
                base[job][value] += n
        before: list[Counter[str]] = []
        values: list[str | None] = []
        for p in placements:
            task = w.tasks[p.task]
            job = job_of(task)
            before.append(Counter(base[job]))
            value = w.attributes(target_of(p)).get(attribute)
            values.append(value)
            if value is not None:
                base[job][value] += 1
        for i, p in enumerate(placements):
            task = w.tasks[p.task]
            if hard_balanced(task) != {attribute}:
                continue
            u = values[i]
            assert u is not None
            for j in range(i + 1, len(placements)):
                later = w.tasks[placements[j].task]
                v = values[j]
                if shape(later) != shape(task) or v is None or v == u:
                    continue
                assert before[i][u] <= before[i][v], (
                    f"balanced {attribute}: {task.id} went to {u} holding {before[i][u]} of job "
                    f"{job_of(task)} while {v}, which {later.id} reaches later, held "
                    f"{before[i][v]}"
                )


@PROPERTY
@given(VARIED)
def test_rule2_balanced_least_loaded(snapshot: Snapshot) -> None:
    """A hard `balanced` task goes to a value holding the fewest of its job's tasks among
    the values it could reach at that moment (usable rows it fits and whose other hard
    constraints hold, and zones where an eligible pool may open an instance)."""
    w = world(snapshot)
    replay = Replay(w)
    for p in w.plan.placements:
        task = w.tasks[p.task]
        balanced = hard_balanced(task)
        if len(balanced) == 1:  # with two, the second only breaks ties of the first
            (attribute,) = balanced
            dom = replay.domain(task, attribute)
            new = (
                p.new is not None
                and ("new", p.new.pool, p.new.zone, p.new.index) not in replay.rows
            )
            u = (
                FRESH_HOST
                if new and attribute == "hostname"
                else w.attributes(target_of(p)).get(attribute)
            )
            assert u is not None, f"{task.id} balanced on {attribute}: target lacks it"
            here = replay.count(task, attribute, u)
            assert here <= min(dom.values(), default=here), (
                f"balanced {attribute}: {task.id} went to {u} holding {here} of job "
                f"{job_of(task)}; reachable values held {dict(sorted(dom.items()))}"
            )
        replay.step(p)


# ---- rule 3: every task once, every action explained ----------------------------------------


@PROPERTY
@given(VARIED)
def test_rule3_each_task_once(snapshot: Snapshot) -> None:
    p = plan(snapshot)
    ids = [x.task for x in p.placements] + [x.task for x in p.unplaced]
    pending = [t.id for t in snapshot.pending]
    assert sorted(ids) == sorted(pending), "placements + unplaced must list each task once"
    for u in p.unplaced:
        assert u.reason.strip(), f"unplaced {u.task} without a reason"
    for pl in p.placements:
        assert pl.reason.strip(), f"placement of {pl.task} without a reason"
    for up in p.scale_up:
        assert up.reason.strip(), f"scale-up of {up.asg} without a reason"
    for down in p.scale_down:
        assert down.reason.strip(), f"scale-down of {down.agent} without a reason"


@PROPERTY
@given(VARIED, st.booleans())
def test_scarce_resources_are_kept_for_the_work_that_needs_them(
    snapshot: Snapshot, share: bool
) -> None:
    """A task asking for no GPU never lands on a GPU pool's launching or new instance, and
    on its registered agents only where the pool shares them."""
    pools = [p.model_copy(update={"shares_scarce": share}) for p in snapshot.pools]
    w = world(snapshot.model_copy(update={"pools": pools}))
    for p in w.plan.placements:
        task = w.tasks[p.task]
        pool = w.pools[w.pool_of(target_of(p))]
        if keeps_scarce(pool, task):
            assert p.agent is not None, f"{task.id} opened a {pool.name} instance for no gpu"
            assert share, f"{task.id} landed on {pool.name}, which keeps its gpus"
    for up in w.plan.scale_up:
        pool = w.pools[up.pool]
        opened_for = [
            w.tasks[p.task]
            for p in w.plan.placements
            if p.new is not None and p.new.pool == pool.name
        ]
        assert all(not keeps_scarce(pool, t) for t in opened_for)
