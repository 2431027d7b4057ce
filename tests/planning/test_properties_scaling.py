"""Properties of scaling: contract v1 rules 4-7 and the summary over generated snapshots."""

from __future__ import annotations

from collections import Counter
from random import Random
from typing import TypeVar

from hypothesis import given
from hypothesis import strategies as st

from controlplane.formats.plan_text import plan_json
from controlplane.model import (
    AttributeConstraint,
    BalancedConstraint,
    Pool,
    Snapshot,
)
from controlplane.planning import plan
from tests.support.contract_replay import (
    PROPERTY,
    VARIED,
    Replay,
    Target,
    World,
    available,
    fits,
    group_in,
    hard,
    instance_attributes,
    keeps_scarce,
    launching,
    running,
    scale_down_cooling,
    scale_up_cooling,
    target_of,
    world,
)
from tests.support.strategies import snapshots

# ---- rule 4: scale-down ---------------------------------------------------------------------


@PROPERTY
@given(st.one_of(snapshots(), snapshots(calm=True), snapshots(calm=True, roomy=True)))
def test_rule4_scale_down(snapshot: Snapshot) -> None:
    w = world(snapshot)
    placed_agents = {t[1] for t in w.on if t[0] == "agent"}
    names = [d.agent for d in w.plan.scale_down]
    assert len(names) == len(set(names)), "an agent is scaled down twice"
    per_group: Counter[str] = Counter()
    for d in w.plan.scale_down:
        assert d.agent in w.agents, f"scale-down of unknown agent {d.agent}"
        agent = w.agents[d.agent]
        pool = w.pools[agent.pool]
        assert d.pool == agent.pool and d.zone == agent.zone
        assert agent.asg is not None, f"{agent.id} is in no group"
        assert d.asg == agent.asg and d.instance_id == agent.instance_id
        assert running(agent) == 0, f"{agent.id} runs {running(agent)} tasks"
        assert agent.state == "active", f"{agent.id} is {agent.state}"
        assert agent.id not in placed_agents, f"{agent.id} gets a placement in this plan"
        assert agent.idle_since is not None, f"{agent.id} has no idle_since"
        idle_s = (snapshot.now - agent.idle_since).total_seconds()
        assert idle_s >= pool.idle_grace_s, f"{agent.id} idle {idle_s}s < {pool.idle_grace_s}"
        assert not scale_down_cooling(snapshot, pool), f"pool {pool.name} is in cooldown"
        per_group[agent.asg] += 1
    for pool in snapshot.pools:
        for g in pool.groups:
            if per_group[g.asg]:
                assert g.desired - per_group[g.asg] >= g.min, (
                    f"{g.asg}: desired {g.desired} - {per_group[g.asg]} drains < min {g.min}"
                )


# ---- rule 5: scale-up -----------------------------------------------------------------------


@PROPERTY
@given(VARIED)
def test_rule5_scale_up_bounds(snapshot: Snapshot) -> None:
    w = world(snapshot)
    seen: set[str] = set()
    for up in w.plan.scale_up:
        assert up.asg not in seen, f"two scale-ups of {up.asg}"
        seen.add(up.asg)
        pool = w.pools[up.pool]
        group = group_in(pool, up.zone)
        assert group is not None and group.asg == up.asg
        assert up.count > 0
        assert group.desired + up.count <= group.max, (
            f"{up.asg}: desired {group.desired} + {up.count} > max {group.max}"
        )
        assert available(snapshot, group), f"{up.asg} unavailable until {group.unavailable_until}"
        assert not scale_up_cooling(snapshot, pool), f"pool {pool.name} is in scale-up cooldown"


@PROPERTY
@given(VARIED)
def test_rule5_launching_before_new(snapshot: Snapshot) -> None:
    w = world(snapshot)
    for pool in snapshot.pools:
        for g in pool.groups:
            first = launching(snapshot, g)
            used = [t[3] for t in w.on if t[0] == "new" and t[1] == pool.name and t[2] == g.zone]
            if any(i < first for i in used):
                assert available(snapshot, g), (
                    f"placement onto a launching instance of {g.asg}, unavailable until "
                    f"{g.unavailable_until}"
                )
            new = w.new_used(pool, g)
            assert new == list(range(first, first + len(new))), (
                f"{g.asg}: new instance indices {new} are not consecutive from {first}"
            )
            assert len(new) <= w.scaled_up(pool.name, g.zone), (
                f"{g.asg}: {len(new)} new instances hold tasks, scale-up adds "
                f"{w.scaled_up(pool.name, g.zone)}"
            )
    # A task opened a new instance although an empty launching instance could hold it.
    # (Only the placement that opens it: later ones may prefer it, being already open.)
    seen: set[Target] = set()
    for p in w.plan.placements:
        target = target_of(p)
        opens = target not in seen
        seen.add(target)
        if p.new is None or not opens:
            continue
        pool = w.pools[p.new.pool]
        group = group_in(pool, p.new.zone)
        assert group is not None
        if p.new.index < launching(snapshot, group):
            continue
        task = w.tasks[p.task]
        if any(isinstance(c, BalancedConstraint) and not c.soft for c in task.constraints):
            continue
        for other in snapshot.pools:
            if task.pool is not None and other.name != task.pool:
                continue
            if not fits(task.resources, other.capacity, other.capacity):
                continue
            if keeps_scarce(other, task):
                continue  # a GPU pool's launching instance is not for work without GPUs
            for zone, index in w.launching_left_empty(other):
                attrs = instance_attributes(other, zone, index)
                if all(
                    attrs.get(c.name) == str(c.value)
                    for c in hard(task)
                    if isinstance(c, AttributeConstraint)
                ):
                    raise AssertionError(
                        f"{task.id} opened new {p.new.pool}/{p.new.zone}#{p.new.index} while "
                        f"launching {other.name}/{zone}#{index} stayed empty"
                    )


@PROPERTY
@given(VARIED)
def test_rule5_new_only_on_shortfall(snapshot: Snapshot) -> None:
    """An instance is added for a task only when no agent, launching instance or instance
    opened earlier in the plan may take it (resources and hard constraints)."""
    w = world(snapshot)
    replay = Replay(w)
    for p in w.plan.placements:
        if p.new is not None and target_of(p) not in replay.rows:
            task = w.tasks[p.task]
            others = [r.target for r in replay.candidates(task)]
            assert not others, f"{task.id} opened {target_of(p)} while {others} could take it"
        replay.step(p)


@PROPERTY
@given(
    st.one_of(
        snapshots(friendly=True, zone_constraints=False),
        snapshots(friendly=True, busy=True, zone_constraints=False),
    )
)
def test_rule5_zone_balance(snapshot: Snapshot) -> None:
    """Zones of a pool stay within one instance of each other (or no further apart than
    before) when nothing else decides: soft preferences never unbalance a pool."""
    constrains_zone = any(
        not c.soft
        and (
            (isinstance(c, BalancedConstraint) and c.attribute == "zone")
            or (isinstance(c, AttributeConstraint) and c.name == "zone")
        )
        for t in snapshot.pending
        for c in t.constraints
    )
    if constrains_zone:
        return
    w = world(snapshot)
    room = len(snapshot.pending) + max(p.max_idle + p.min_idle for p in snapshot.pools) + 1
    for pool in snapshot.pools:
        if scale_up_cooling(snapshot, pool) or len(pool.groups) < 2:
            continue
        if not all(available(snapshot, g) and g.max - g.desired >= room for g in pool.groups):
            continue
        before = [g.desired for g in pool.groups]
        after = [g.desired + w.scaled_up(pool.name, g.zone) for g in pool.groups]
        spread = max(1, max(before) - min(before))
        assert max(after) - min(after) <= spread, (
            f"pool {pool.name}: zones {[g.zone for g in pool.groups]} go from {before} to {after}"
        )


# ---- rule 6: idle buffer --------------------------------------------------------------------


def idle_after(w: World, pool: Pool) -> tuple[int, int]:
    """(idle registered agents, idle launching + new instances) of the pool after the plan."""
    drained = {d.agent for d in w.plan.scale_down}
    agents = sum(
        1
        for a in w.snapshot.agents
        if a.pool == pool.name
        and a.state == "active"
        and running(a) == 0
        and not any(v > 0 for v in a.used.values())
        and not w.on.get(("agent", a.id, "", -1))
        and a.id not in drained
    )
    launching_empty = len(w.launching_left_empty(pool))
    new_empty = sum(w.scaled_up(pool.name, g.zone) - len(w.new_used(pool, g)) for g in pool.groups)
    return agents, launching_empty + new_empty


@PROPERTY
@given(snapshots(friendly=True))
def test_rule6_idle_buffer(snapshot: Snapshot) -> None:
    w = world(snapshot)
    for pool in snapshot.pools:
        agents, instances = idle_after(w, pool)
        idle = agents + instances
        assert idle >= pool.min_idle, (
            f"pool {pool.name}: {idle} idle after the plan < min_idle {pool.min_idle}"
        )
        # Launching instances cannot be drained; every idle agent here could be. A pool that
        # grows in this plan keeps its idle agents (decisions.md 11: no scale-down while
        # growing), a policy rather than a bound, so only pools that do not grow are held
        # to max_idle.
        grows = any(u.pool == pool.name for u in w.plan.scale_up)
        if idle > pool.max_idle and not grows:
            assert agents == 0, (
                f"pool {pool.name}: {idle} idle after the plan ({agents} agents, {instances} "
                f"empty launching/new) > max_idle {pool.max_idle}"
            )


@PROPERTY
@given(VARIED)
def test_rule6_never_overshoots(snapshot: Snapshot) -> None:
    """Whatever the bounds: draining never takes a pool below min_idle, and instances added
    to the buffer never take it above max_idle."""
    w = world(snapshot)
    for pool in snapshot.pools:
        agents, instances = idle_after(w, pool)
        idle = agents + instances
        if any(d.pool == pool.name for d in w.plan.scale_down):
            assert idle >= pool.min_idle, (
                f"pool {pool.name}: drained down to {idle} idle < min_idle {pool.min_idle}"
            )
        empty_new = sum(
            w.scaled_up(pool.name, g.zone) - len(w.new_used(pool, g)) for g in pool.groups
        )
        if empty_new:
            assert idle <= pool.max_idle, (
                f"pool {pool.name}: {empty_new} empty new instances bring idle to {idle} > "
                f"max_idle {pool.max_idle}"
            )


# ---- rule 7: determinism --------------------------------------------------------------------

T = TypeVar("T")


@PROPERTY
@given(VARIED)
def test_rule7_deterministic(snapshot: Snapshot) -> None:
    first = plan_json(plan(snapshot))
    assert plan_json(plan(snapshot)) == first
    again = Snapshot.model_validate_json(snapshot.model_dump_json())
    assert plan_json(plan(again)) == first


@PROPERTY
@given(VARIED, st.randoms(use_true_random=False))
def test_rule7_order_of_lists_does_not_matter(snapshot: Snapshot, rng: Random) -> None:
    """Pools, groups, agents and pending tasks listed in another order: the same plan."""

    def shuffled(items: list[T]) -> list[T]:
        out = list(items)
        rng.shuffle(out)
        return out

    pools = [p.model_copy(update={"groups": shuffled(p.groups)}) for p in snapshot.pools]
    other = snapshot.model_copy(
        update={
            "pools": shuffled(pools),
            "agents": shuffled(snapshot.agents),
            "pending": shuffled(snapshot.pending),
        }
    )
    assert plan_json(plan(other)) == plan_json(plan(snapshot))


# ---- summary --------------------------------------------------------------------------------


@PROPERTY
@given(VARIED)
def test_summary_counts(snapshot: Snapshot) -> None:
    p = plan(snapshot)
    s = p.summary
    assert s.placed == len(p.placements)
    assert s.unplaced == len(p.unplaced)
    assert s.scale_down == len(p.scale_down)
    assert s.new_instances == sum(u.count for u in p.scale_up)
    assert s.placed_on_agents + s.placed_on_new == s.placed


@PROPERTY
@given(st.one_of(snapshots(exact_totals=True), snapshots(calm=True, exact_totals=True)))
def test_summary_lower_bound(snapshot: Snapshot) -> None:
    pools = {p.name: p for p in snapshot.pools}
    assert all(a.total == pools[a.pool].capacity for a in snapshot.agents)
    s = plan(snapshot).summary
    assert s.lower_bound <= s.agents_needed, (
        f"lower bound {s.lower_bound} > agents needed {s.agents_needed}"
    )


@PROPERTY
@given(
    st.one_of(snapshots(calm=True), snapshots(calm=True, roomy=True)),
    st.integers(0, 3),
    st.sampled_from([None, 0.1, 0.5]),
    st.data(),
)
def test_drain_caps_and_do_not_disrupt_hold(
    snapshot: Snapshot, cap: int, share: float | None, data: st.DataObject
) -> None:
    """However many agents are idle, a pool starts at most its cap of drains per plan
    (a share counts at least one), and never drains an agent marked do-not-disrupt."""
    pools = [
        p.model_copy(update={"max_drains_per_pass": cap, "max_drain_share": share})
        for p in snapshot.pools
    ]
    marked = {a.id for a in snapshot.agents if data.draw(st.booleans())}
    agents = [a.model_copy(update={"do_not_disrupt": a.id in marked}) for a in snapshot.agents]
    capped = snapshot.model_copy(update={"pools": pools, "agents": agents})
    result = plan(capped)
    size = {p.name: sum(g.desired for g in p.groups) for p in pools}
    per_pool = Counter(d.pool for d in result.scale_down)
    for pool, drains in per_pool.items():
        limit = cap if share is None else min(cap, max(1, int(share * size[pool])))
        assert drains <= limit, f"{pool}: {drains} drains > cap {limit}"
    assert not marked & {d.agent for d in result.scale_down}
